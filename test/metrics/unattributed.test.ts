// kubepulse_unattributed_events_total through a real collector: every event
// whose identity carries a reason is counted under its probe and reason,
// labelled like the host; host and pod events are not counted.
import t from 'tap';
import { Registry } from 'prom-client';
import { EventStream } from '../../src/bpf/event-stream.js';
import { HOST_IDENTITY, PROCESS_GONE, UNKNOWN_CGROUP, type PodIdentity, type Resolver } from '../../src/metadata/resolver.js';
import { registerHeldEvents, UnattributedEvents } from '../../src/metrics/unattributed.js';
import { TcpCollector } from '../../src/probes/tcp/collector.js';
import { TCP_EVENT_TYPE } from '../../src/probes/tcp/event.js';
import { frame, tcpRecord } from '../support/batches.js';
import { parseMetrics, sumOf } from '../support/metrics.js';

const web: PodIdentity = Object.freeze({ namespace: 'shop', pod: 'web-1', workload: 'web', container: 'app', podUid: 'u1' });
const unknownPod: PodIdentity = Object.freeze({ ...HOST_IDENTITY, podUid: 'u2', unattributed: 'pod_unknown' as const });
const byCgroup = new Map<number, PodIdentity>([
  [1, HOST_IDENTITY],
  [2, web],
  [3, unknownPod],
  [4, UNKNOWN_CGROUP],
  [5, PROCESS_GONE],
]);
const resolver: Resolver = { resolve: (_tgid, cgroupId) => byCgroup.get(cgroupId)! };

t.test('counted by probe and reason, labelled like the host', async (t) => {
  const registry = new Registry();
  const unattributed = new UnattributedEvents(registry);
  const tcp = new TcpCollector(registry, resolver, 'node-1', unattributed.forProbe('tcp'));
  const stream = new EventStream(new Map([[TCP_EVENT_TYPE, (v: DataView, at: number, len: number) => void tcp.handle(v, at, len)]]));
  registerHeldEvents(registry, stream.stats);
  stream.dispatch(
    frame([1, 2, 3, 3, 4, 5].map((cg) => tcpRecord({ cgroupId: BigInt(cg), result: 1, elapsedNs: 1000n }))),
  );
  const m = parseMetrics(await registry.metrics());
  t.equal(sumOf(m, 'kubepulse_unattributed_events_total', { probe: 'tcp', reason: 'pod_unknown' }), 2);
  t.equal(sumOf(m, 'kubepulse_unattributed_events_total', { probe: 'tcp', reason: 'cgroup_unknown' }), 1);
  t.equal(sumOf(m, 'kubepulse_unattributed_events_total', { probe: 'tcp', reason: 'process_gone' }), 1);
  t.equal(sumOf(m, 'kubepulse_unattributed_events_total'), 4, 'host and pod events are not counted');
  t.equal(sumOf(m, 'kubepulse_tcp_connections_total', { pod: '', result: 'established' }), 5, 'the unattributed ones carry host labels');
  t.equal(sumOf(m, 'kubepulse_tcp_connections_total', { pod: 'web-1', result: 'established' }), 1);
  t.equal(sumOf(m, 'kubepulse_events_held_total'), 0);
});
