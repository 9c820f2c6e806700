// src/metrics/event-loop.ts: the event loop delay series, once each, that
// show a stall of the loop and read near 0 on an idle one; and a registry
// that no longer wakes an idle process 100 times a second (a real node
// process, its main thread's voluntary context switches counted).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Registry } from 'prom-client';
import { EVENT_LOOP_SERIES, registerEventLoopDelay } from '../../src/metrics/event-loop.js';
import { createRegistry } from '../../src/metrics/registry.js';
import { ROOT } from '../support/daemon.js';
import { parseMetrics, sumOf } from '../support/metrics.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('every series once, as prom-client names them', async (t) => {
  const names = parseMetrics(await createRegistry().metrics()).map((s) => s.name);
  for (const name of EVENT_LOOP_SERIES) t.equal(names.filter((n) => n === name).length, 1, name);
});

t.test('a stall of the loop shows; an idle loop reads near 0', async (t) => {
  // 250 ms samples: counting the interval would put every value at 0.25 s or more.
  const registry = new Registry();
  registerEventLoopDelay(registry, 250);
  await sleep(1100);
  let m = parseMetrics(await registry.metrics());
  t.ok(sumOf(m, 'nodejs_eventloop_lag_p50_seconds') < 0.2, `idle: p50 ${sumOf(m, 'nodejs_eventloop_lag_p50_seconds')} s (the interval is not counted)`);
  // The loop stalls right after a scrape (the window's start): still seen.
  const until = Date.now() + 600;
  while (Date.now() < until);
  await sleep(300);
  m = parseMetrics(await registry.metrics());
  const max = sumOf(m, 'nodejs_eventloop_lag_max_seconds');
  t.ok(max >= 0.3, `a 600 ms stall: max ${max} s`);
  await sleep(300);
  m = parseMetrics(await registry.metrics());
  const next = sumOf(m, 'nodejs_eventloop_lag_max_seconds');
  t.ok(next < max, `each scrape starts a new window: the stall is not counted again (max ${next} s)`);
});

t.test('an idle process with the registry wakes about once a second, not 100 times', async (t) => {
  const registry = pathToFileURL(join(ROOT, 'dist', 'src', 'metrics', 'registry.js')).href;
  const script = `
    import { readFileSync } from 'node:fs';
    const { createRegistry } = await import(${JSON.stringify(registry)});
    const r = createRegistry();
    const wakeups = () => Number(/^voluntary_ctxt_switches:\\s+(\\d+)/m.exec(readFileSync('/proc/thread-self/status', 'utf8'))[1]);
    const keep = setTimeout(() => {}, 10000);
    await new Promise((res) => setTimeout(res, 300));
    const before = wakeups();
    await new Promise((res) => setTimeout(res, 3000));
    const after = wakeups();
    clearTimeout(keep);
    console.log(after - before);
  `;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  t.equal(run.status, 0, run.stderr);
  const wakeups = Number(run.stdout.trim());
  // prom-client's 10 ms histogram: ~300 in 3 s. Once a second, plus the test's own two timers.
  t.ok(wakeups <= 15, `${wakeups} wake-ups of the main thread in 3 s`);
});
