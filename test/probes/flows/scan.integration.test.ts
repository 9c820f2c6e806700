// A port scan from a pod, through the real daemon and this machine's kernel:
// a process in a kubelet-shaped pod cgroup (a pod the test API server
// serves) connects to 10,000 peers (addresses of 127.0.0.0/8, all loopback
// on Linux), then to every TCP port of one peer and sends a UDP datagram to
// every port of it. What a scan must not do to the agent:
//   - series: the pod's kubepulse_flows_total series stay within
//     --flows-per-pod, and everything else on /metrics grows by a handful
//     (no label carries a peer address or a port of TCP results);
//   - memory: the kernel map holds at most its 16,384 entries, the flows
//     beyond are counted (kubepulse_flows_overflow_total{reason=
//     "node_map_full"} and {reason="pod_limit"}), and the daemon's RSS grows
//     by little;
//   - and the scan is visible: its connects, established and refused, are
//     counted for the pod.
// Other engineers' daemons and tests share this kernel: everything checked
// is this test's own pod (its namespace), its own daemon's map and counters.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makePod } from '../../metadata/fixtures/pods.js';
import { ROOT, startDaemon } from '../../support/daemon.js';
import { TestKubeApiServer } from '../../support/kube-api-server.js';
import { writeKubeconfig } from '../../support/kubeconfig.js';
import { sumOf, type Sample } from '../../support/metrics.js';
import { needsPodCgroups, podCgroups } from '../../support/pod-cgroups.js';
import { needsBpf } from '../../support/privileges.js';
import { until } from '../../support/until.js';

const skipBpf = needsBpf().skip;
const skip = skipBpf !== false ? skipBpf : needsPodCgroups().skip;

const FLOWS_PER_POD = 256;
const NODE_MAP_ENTRIES = 16384;
const PEERS = 10_000;

const rssMiB = (pid: number): number => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;

t.test('a port scan from a pod: series and memory bounded, overflow counted, the scan visible', { skip, timeout: 120_000 }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'kubepulse-scan-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const scanner = join(work, 'port-scan');
  execFileSync('cc', ['-O2', '-o', scanner, join(ROOT, 'test', 'support', 'port-scan.c')]);

  // The peers' listener: every address of 127.0.0.0/8 reaches it.
  const listener = createServer((s) => s.on('error', () => {}).destroy());
  listener.listen(0, '0.0.0.0');
  await once(listener, 'listening');
  t.teardown(() => new Promise((r) => listener.close(r)));
  const peerPort = (listener.address() as { port: number }).port;

  const api = new TestKubeApiServer();
  await api.start();
  t.teardown(() => api.stop());
  const node = `scan-node-${randomBytes(3).toString('hex')}`;
  const namespace = `scan-${randomBytes(3).toString('hex')}`;
  const uid = randomUUID();
  const containerId = randomBytes(32).toString('hex');
  api.addPod(makePod({ name: 'scanner-5d8f7-abcde', namespace, uid, nodeName: node, owner: { kind: 'ReplicaSet', name: 'scanner-5d8f7' }, containers: { app: containerId } }));
  const cgroups = podCgroups(t, 'kubepulse-scan');
  const container = cgroups.container(uid, containerId).dir;

  const daemon = await startDaemon(['--kubeconfig', writeKubeconfig(work, api.url, api.token), '--node-name', node, '--probes', 'tcp,flows', '--flows-per-pod', String(FLOWS_PER_POD)]);
  t.teardown(() => daemon.stop());
  await daemon.waitReady(60_000);

  let metrics: Sample[] = [];
  const scrape = async () => (metrics = await daemon.scrape());
  const mine = { namespace };
  const connects = (result: string) => sumOf(metrics, 'kubepulse_tcp_connections_total', { ...mine, result });
  const flowSeries = () => metrics.filter((s) => s.name === 'kubepulse_flows_total' && s.labels.namespace === namespace).length;
  const overflow = (reason: string) => sumOf(metrics, 'kubepulse_flows_overflow_total', { reason });
  const dropped = () => sumOf(metrics, 'kubepulse_events_dropped_total', { type: 'tcp' });

  await scrape();
  const before = { series: metrics.length, rss: rssMiB(daemon.pid), podLimit: overflow('pod_limit'), nodeFull: overflow('node_map_full'), dropped: dropped() };
  const scan = async (args: string[]) => {
    const child = cgroups.spawnIn(container, [scanner, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
    const [code] = (await once(child, 'exit')) as [number | null];
    t.equal(code, 0, `port-scan ${args.join(' ')}: ${out.trim()}`);
    return JSON.parse(out) as { established: number; refused: number; other: number; datagrams: number };
  };

  // 1. 10,000 peers, one connection each.
  const peers = await scan(['peers', String(PEERS), String(peerPort)]);
  t.equal(peers.established, PEERS, 'the scanner reached every peer');
  // Events the kernel could not hand over (a shared, loaded machine) are counted, not lost.
  // 10,000 connects' events on a loaded machine: up to 90 s to be read and counted.
  await until('the peer scan counted', async () => (await scrape(), connects('established') + dropped() - before.dropped >= PEERS), {
    timeoutMs: 90_000,
    everyMs: 250,
    describe: () => `${connects('established')} established counted for the pod, ${dropped() - before.dropped} dropped`,
  });
  t.comment(`peers: ${connects('established')} established counted for the pod, ${dropped() - before.dropped} tcp events dropped in the kernel`);
  t.ok(connects('established') >= PEERS * 0.9, `the scan is visible: ${connects('established')} of ${PEERS} connects counted for the pod`);
  t.ok(flowSeries() > 0 && flowSeries() <= FLOWS_PER_POD, `${flowSeries()} flow series for the pod (≤ --flows-per-pod ${FLOWS_PER_POD})`);
  const flowsApi = JSON.parse((await daemon.get('/api/v1/flows')).body) as { flows: Array<{ namespace: string }> };
  const apiFlows = flowsApi.flows.filter((f) => f.namespace === namespace).length;
  t.equal(apiFlows, FLOWS_PER_POD, `/api/v1/flows keeps ${FLOWS_PER_POD} of the pod's ${PEERS} flows`);
  t.ok(overflow('pod_limit') - before.podLimit >= PEERS - FLOWS_PER_POD, `the rest counted: pod_limit overflow +${overflow('pod_limit') - before.podLimit}`);

  // 2. Every port of one peer, TCP then UDP: more flows than the kernel map holds.
  const ports = await scan(['ports', '127.0.0.2', '1', '65535']);
  t.equal(ports.established + ports.refused, 65535, `every port tried (${ports.refused} refused, ${ports.established} open)`);
  await until('the port scan counted', async () => (await scrape(), connects('refused') + dropped() - before.dropped >= ports.refused), { timeoutMs: 30_000, everyMs: 250 });
  t.ok(connects('refused') >= ports.refused * 0.9, `the scan is visible: ${connects('refused')} refused connects counted for the pod`);
  t.ok(overflow('node_map_full') > before.nodeFull, `the kernel map filled up and said so: node_map_full +${overflow('node_map_full') - before.nodeFull}`);
  const tracked = sumOf(metrics, 'kubepulse_flows_tracked');
  t.ok(tracked <= NODE_MAP_ENTRIES, `the kernel map holds ${tracked} flows (≤ ${NODE_MAP_ENTRIES})`);
  t.ok(flowSeries() <= FLOWS_PER_POD, `still ${flowSeries()} flow series for the pod`);

  // Bounds on the whole daemon.
  const grown = metrics.length - before.series;
  t.ok(grown <= FLOWS_PER_POD + 64, `/metrics grew by ${grown} series (the pod's flows, its TCP series and overflow counters), not by peers or ports`);
  const rss = rssMiB(daemon.pid);
  t.comment(`daemon RSS ${before.rss.toFixed(1)} → ${rss.toFixed(1)} MiB`);
  // V8's heap grows with the event rate alone (29 and 66 MiB in two runs here
  // at load average 25–30); without the caps the per-flow state and series
  // of 75,000 flows would come on top of that.
  t.ok(rss - before.rss < 128, `RSS grew by ${(rss - before.rss).toFixed(1)} MiB (< 128 MiB) for ${PEERS + 2 * 65535} connects and datagrams`);
  t.equal((await daemon.get('/readyz')).status, 200, 'still ready');
});
