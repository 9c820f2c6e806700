// A counter whose value is a running total kept elsewhere (a field, a
// kernel map): read at scrape time, only the growth since the last scrape
// is added, so the counter never goes down.

import { Counter, type Registry } from 'prom-client';

export function counterFromTotal(o: { name: string; help: string; registry: Registry; total: () => number }): Counter {
  let reported = 0;
  return new Counter({
    name: o.name,
    help: o.help,
    registers: [o.registry],
    collect() {
      const total = o.total();
      if (total > reported) this.inc(total - reported);
      reported = Math.max(reported, total);
    },
  });
}
