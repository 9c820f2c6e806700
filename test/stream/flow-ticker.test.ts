// src/stream/flow-ticker.ts: flow events from the flows map's growth; the
// map is read every tick while someone subscribes, every 5 s while only the
// history wants events, never while nothing does.
import t from 'tap';
import type { FlowRecord } from '../../src/api/v1.js';
import { FlowTicker, HISTORY_ONLY_EVERY_MS } from '../../src/stream/flow-ticker.js';
import { parseStreamQuery } from '../../src/stream/filter.js';
import { EventHub } from '../../src/stream/hub.js';

function flow(count: number): FlowRecord {
  return {
    namespace: 'shop',
    pod: 'web-1',
    workload: 'web',
    workloadKind: 'Deployment',
    podLabels: {},
    direction: 'egress',
    protocol: 'TCP',
    port: 5432,
    peer: { kind: 'external', address: '10.0.0.9' },
    count,
    firstSeen: '2026-12-01T00:00:00.000Z',
    lastSeen: '2026-12-01T00:00:00.000Z',
  };
}

const historyOf = (hub: EventHub) => hub.history(parseStreamQuery(new URLSearchParams({ last: '100', follow: 'false' })));

t.test('history only: the map is read every 5 s, and growth still becomes events', async (t) => {
  const hub = new EventHub({ node: 'n', historySize: 100, queueSize: 10 });
  let count = 1;
  const ticker = new FlowTicker(hub, { read: () => [flow(count)] });
  let now = 1_000_000;
  ticker.tick(now); // primes: the known flow is no event
  for (let s = 1; s < HISTORY_ONLY_EVERY_MS / 1000; s++) {
    count++;
    t.equal(ticker.tick((now += 1000)), 0, `tick ${s}: not read`);
  }
  t.equal(ticker.reads, 1);
  t.equal(ticker.tick((now += 1000)), 1, 'after 5 s: read, one event');
  t.equal(ticker.reads, 2);
  const events = historyOf(hub);
  t.equal(events.length, 1);
  t.match(events[0], { type: 'flow', port: 5432, count: 5, delta: 4 }, 'the growth of the 5 s');
});

t.test('with a subscriber: read every tick', async (t) => {
  const hub = new EventHub({ node: 'n', historySize: 100, queueSize: 10 });
  let count = 1;
  const ticker = new FlowTicker(hub, { read: () => [flow(count)] });
  hub.subscribe(parseStreamQuery(new URLSearchParams({ type: 'flow' })), { write: () => {}, full: false });
  let now = 1_000_000;
  ticker.tick(now);
  for (let s = 1; s <= 3; s++) {
    count++;
    t.equal(ticker.tick((now += 1000)), 1, `tick ${s}: one event`);
  }
  t.equal(ticker.reads, 4);
});

t.test('nothing wants events: no read', async (t) => {
  const hub = new EventHub({ node: 'n', historySize: 0, queueSize: 10 });
  const ticker = new FlowTicker(hub, {
    read: () => {
      t.fail('read');
      return [];
    },
  });
  t.equal(ticker.tick(1_000_000), 0);
  t.equal(ticker.tick(1_010_000), 0);
  t.equal(ticker.reads, 0);
});
