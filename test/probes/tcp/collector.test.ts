import t from 'tap';
import { Registry } from 'prom-client';
import { EventStream } from '../../../src/bpf/event-stream.js';
import { HOST_IDENTITY, type PodIdentity, type Resolver } from '../../../src/metadata/resolver.js';
import { TcpCollector } from '../../../src/probes/tcp/collector.js';
import { TCP_EVENT_TYPE } from '../../../src/probes/tcp/event.js';
import { frame, tcpRecord } from '../../support/batches.js';
import { parseMetrics, sumOf } from '../../support/metrics.js';

const web: PodIdentity = Object.freeze({ namespace: 'shop', pod: 'web-1', workload: 'web', container: 'app', podUid: 'u1' });
// cgroup 7 is the web pod; everything else is the host.
const resolver: Resolver = { resolve: (_tgid, cgroupId) => (cgroupId === 7 ? web : HOST_IDENTITY) };

async function run(records: Buffer[]) {
  const registry = new Registry();
  const tcp = new TcpCollector(registry, resolver, 'node-1');
  const stream = new EventStream(new Map([[TCP_EVENT_TYPE, (v: DataView, at: number, len: number) => void tcp.handle(v, at, len)]]));
  stream.dispatch(frame(records));
  return parseMetrics(await registry.metrics());
}

t.test('latency, results and durations land on the pod of the cgroup', async (t) => {
  const m = await run([
    tcpRecord({ cgroupId: 7n, result: 1, elapsedNs: 300_000n }), // established in 300 µs
    tcpRecord({ cgroupId: 7n, result: 1, elapsedNs: 20_000_000n }), // established in 20 ms
    tcpRecord({ cgroupId: 7n, result: 2, elapsedNs: 50_000n }), // refused
    tcpRecord({ cgroupId: 7n, result: 3, elapsedNs: 1_000_000_000n }), // timed out
    tcpRecord({ cgroupId: 7n, result: 5, elapsedNs: 2_000_000_000n }), // closed after 2 s
    tcpRecord({ cgroupId: 7n, result: 6, elapsedNs: 4_000_000_000n }), // reset after 4 s
    tcpRecord({ cgroupId: 1n, result: 1, elapsedNs: 100_000n }), // a host process
  ]);
  const pod = { namespace: 'shop', workload: 'web', pod: 'web-1', node: 'node-1' };
  t.equal(sumOf(m, 'kubepulse_tcp_latency_seconds_count', pod), 2);
  t.ok(Math.abs(sumOf(m, 'kubepulse_tcp_latency_seconds_sum', pod) - 0.0203) < 1e-12, 'latency sum 20.3 ms');
  t.equal(sumOf(m, 'kubepulse_tcp_latency_seconds_bucket', { ...pod, le: '0.0005' }), 1);
  t.equal(sumOf(m, 'kubepulse_tcp_latency_seconds_bucket', { ...pod, le: '0.025' }), 2);
  t.equal(sumOf(m, 'kubepulse_tcp_connections_total', { ...pod, result: 'established' }), 2);
  t.equal(sumOf(m, 'kubepulse_tcp_connections_total', { ...pod, result: 'refused' }), 1);
  t.equal(sumOf(m, 'kubepulse_tcp_connections_total', { ...pod, result: 'timeout' }), 1);
  t.equal(sumOf(m, 'kubepulse_tcp_connections_total', { ...pod, result: 'reset' }), 1);
  t.equal(m.filter((s) => s.labels.result === 'closed').length, 0, 'no series for normal closes');
  t.equal(sumOf(m, 'kubepulse_tcp_connection_duration_seconds_count', pod), 2);
  t.equal(sumOf(m, 'kubepulse_tcp_connection_duration_seconds_sum', pod), 6);
  const host = { namespace: '', pod: '', workload: '', node: 'node-1' };
  t.equal(sumOf(m, 'kubepulse_tcp_latency_seconds_count', host), 1);
});

t.test('labels carry no per-connection values', async (t) => {
  const m = await run([tcpRecord({ cgroupId: 7n, result: 1, elapsedNs: 1n, dport: 443 })]);
  for (const s of m.filter((s) => s.name.startsWith('kubepulse_tcp_'))) {
    t.same(Object.keys(s.labels).filter((k) => !['namespace', 'workload', 'pod', 'node', 'result', 'le'].includes(k)), [], s.name);
  }
});

t.test('short or unknown records are rejected', async (t) => {
  const registry = new Registry();
  const tcp = new TcpCollector(registry, resolver, 'n');
  const bad = tcpRecord({ result: 42, elapsedNs: 1n });
  t.equal(tcp.handle(new DataView(bad.buffer, bad.byteOffset, bad.length), 0, bad.length), false);
  const good = tcpRecord({ result: 1, elapsedNs: 1n });
  t.equal(tcp.handle(new DataView(good.buffer, good.byteOffset, good.length), 0, 32), false);
  t.equal(tcp.handle(new DataView(good.buffer, good.byteOffset, good.length), 0, good.length), true);
});
