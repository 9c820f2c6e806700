import t from 'tap';
import { Counter, Histogram, Registry } from 'prom-client';
import { CounterFamily } from '../../src/metrics/cells.js';
import { EventStream } from '../../src/bpf/event-stream.js';
import { createLogger } from '../../src/log.js';
import type { PodIdentity, Resolver } from '../../src/metadata/resolver.js';
import { PodReaper } from '../../src/metrics/pod-reaper.js';
import { TcpCollector } from '../../src/probes/tcp/collector.js';
import { TCP_EVENT_TYPE } from '../../src/probes/tcp/event.js';
import { frame, tcpRecord } from '../support/batches.js';
import { parseMetrics } from '../support/metrics.js';

const pod = (name: string): PodIdentity => Object.freeze({ namespace: 'shop', pod: name, workload: 'web', container: 'c', podUid: name });
const a = pod('web-a');
const b = pod('web-b');
const resolver: Resolver = { resolve: (_t, cg) => (cg === 1 ? a : b) };

t.test('a deleted pod loses its series; other pods keep theirs and keep counting', async (t) => {
  const registry = new Registry();
  const tcp = new TcpCollector(registry, resolver, 'n');
  const stream = new EventStream(new Map([[TCP_EVENT_TYPE, (v: DataView, at: number, len: number) => void tcp.handle(v, at, len)]]));
  const feed = (): void =>
    stream.dispatch(frame([tcpRecord({ cgroupId: 1n, result: 1, elapsedNs: 1000n }), tcpRecord({ cgroupId: 2n, result: 2, elapsedNs: 1000n })]));
  feed();
  const reaper = new PodReaper(registry, 10, [tcp.forgetPod.bind(tcp)], createLogger('error'));
  const removed = await reaper.reap('shop', 'web-a');
  t.equal(removed, 2, 'the latency histogram and the established counter of web-a');
  const m = parseMetrics(await registry.metrics());
  t.equal(m.filter((s) => s.labels.pod === 'web-a').length, 0, 'no series of web-a');
  t.ok(m.some((s) => s.labels.pod === 'web-b'), 'web-b untouched');
  feed();
  const again = parseMetrics(await registry.metrics());
  const refused = again.find((s) => s.name === 'kubepulse_tcp_connections_total' && s.labels.pod === 'web-b' && s.labels.result === 'refused');
  t.equal(refused?.value, 2, 'web-b keeps counting on the same series');
  reaper.stop();
});

t.test('podGone waits for the grace period', async (t) => {
  const registry = new Registry();
  const tcp = new TcpCollector(registry, resolver, 'n');
  tcp.handle(...view(tcpRecord({ cgroupId: 1n, result: 1, elapsedNs: 1n })));
  const reaper = new PodReaper(registry, 200, [tcp.forgetPod.bind(tcp)], createLogger('error'));
  reaper.podGone('shop', 'web-a');
  const has = async (): Promise<boolean> => parseMetrics(await registry.metrics()).some((s) => s.labels.pod === 'web-a');
  t.ok(await has(), 'still there during the grace period');
  await new Promise((r) => setTimeout(r, 400));
  t.notOk(await has(), 'gone after it');
});

function view(b: Buffer): [DataView, number, number] {
  return [new DataView(b.buffer, b.byteOffset, b.length), 0, b.length];
}

t.test('reaping reads no metric through get(): no collect callback runs, no value is built', async (t) => {
  const registry = new Registry();
  let collects = 0;
  const labelNames = ['namespace', 'pod', 'peer'] as const;
  const flows = new Counter({ name: 'x_flows_total', help: 'h', labelNames, registers: [registry], collect: () => void collects++ });
  const latency = new Histogram({ name: 'x_latency_seconds', help: 'h', labelNames, buckets: [0.1, 1], registers: [registry] });
  const family = new CounterFamily({ name: 'x_events_total', help: 'h', labelNames, registry });
  for (const p of ['web-a', 'web-b']) {
    flows.inc({ namespace: 'shop', pod: p, peer: '1' });
    flows.inc({ namespace: 'shop', pod: p, peer: '2' });
    latency.observe({ namespace: 'shop', pod: p, peer: '1' }, 0.5);
    family.cell({ namespace: 'shop', pod: p, peer: '1' }).value++;
  }
  const reaper = new PodReaper(registry, 10, [], createLogger('error'));
  t.equal(await reaper.reap('shop', 'web-a'), 4, 'two flow series, one histogram, one family cell');
  t.equal(collects, 0, 'the collect callback did not run');
  const m = parseMetrics(await registry.metrics());
  t.equal(m.filter((s) => s.labels.pod === 'web-a').length, 0, 'no series of web-a');
  t.equal(m.filter((s) => s.labels.pod === 'web-b' && s.name === 'x_flows_total').length, 2, 'web-b keeps its flows');
  t.ok(m.some((s) => s.labels.pod === 'web-b' && s.name === 'x_events_total'), 'and its family cell');
  reaper.stop();
});
