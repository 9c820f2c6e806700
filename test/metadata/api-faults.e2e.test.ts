// The API server misbehaving under a running daemon (real daemon, real
// kernel, real cgroups; the API server is the stand-in of
// test/support/kube-api-server.ts). One daemon lives through all of it and
// is never restarted; a pod's container keeps connecting throughout:
//   1. killed mid-watch: /readyz 503 naming the reason, the pod's connects
//      still carry its labels (last known pods kept);
//   2. back with its history lost, and a 410 Gone in the open watch: ready
//      again, a pod created during the outage is known;
//   3. answering 500 to lists: not ready, with the status; pods kept; ready
//      once it answers again;
//   4. watches hanging open without data: the daemon cannot tell a quiet
//      watch from a stuck one, so it stays ready on the last list (pods kept);
//      once the stuck connection is cut it re-lists and learns what it
//      missed. (A hang nothing cuts ends at the periodic re-list, 10 min by
//      default: test/metadata/kube-watch.test.ts, "a watch that hangs".)
// Other engineers' tests share the kernel: everything is matched by this
// test's own namespace.
import t from 'tap';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBashContainer, type BashContainer } from '../support/bash-container.js';
import { startDaemon } from '../support/daemon.js';
import { TestKubeApiServer } from '../support/kube-api-server.js';
import { writeKubeconfig } from '../support/kubeconfig.js';
import { sumOf } from '../support/metrics.js';
import { needsPodCgroups, podCgroups, type PodCgroups } from '../support/pod-cgroups.js';
import { needsBpf } from '../support/privileges.js';
import { until } from '../support/until.js';
import { makePod, randomContainerId } from './fixtures/pods.js';

const skipBpf = needsBpf().skip;
const skip = skipBpf !== false ? skipBpf : needsPodCgroups().skip;
const POLL = { timeoutMs: 45_000, everyMs: 200 };

t.test('API server killed, restarted without history, answering 500, hanging: pods kept, readiness honest, recovered without a restart', { skip, timeout: 300_000 }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'kubepulse-api-faults-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const listener = createServer((s) => s.on('error', () => {}).end());
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  t.teardown(() => new Promise((r) => listener.close(r)));
  const port = (listener.address() as { port: number }).port;

  const api = new TestKubeApiServer();
  await api.start();
  t.teardown(() => api.stop());
  const node = `faults-node-${randomBytes(3).toString('hex')}`;
  const namespace = `faults-${randomBytes(3).toString('hex')}`;
  const cgroups: PodCgroups = podCgroups(t, 'kubepulse-api-faults');
  /** A pod in the API (unless `known` is false) with a running container. */
  const pod = (name: string): { container: BashContainer; add: () => void } => {
    const uid = randomUUID();
    const id = randomContainerId();
    return { container: startBashContainer(cgroups, uid, id), add: () => api.addPod(makePod({ name, namespace, uid, nodeName: node, owner: { kind: 'StatefulSet', name: name.replace(/-\d+$/, '') }, containers: { app: id } })) };
  };

  const steady = pod('steady-0');
  steady.add();
  const daemon = await startDaemon(['--kubeconfig', writeKubeconfig(work, api.url, api.token), '--node-name', node, '--probes', 'tcp']);
  t.teardown(() => daemon.stop());
  await daemon.waitReady(120_000); // node's start-up alone took over a minute here at load average 30

  const connectsOf = async (name: string) => sumOf(await daemon.scrape(), 'kubepulse_tcp_connections_total', { namespace, pod: name, result: 'established' });
  /** The container connects 5 times; resolves once the daemon counts them under the pod's labels. */
  const labelled = async (what: string, name: string, container: BashContainer) => {
    const before = await connectsOf(name);
    t.equal(await container.run(`tcp 5 ${port}`), 'tcp 5', `${what}: the container connects`);
    await until(`${what}: ${name}'s connects counted under its labels`, async () => (await connectsOf(name)) >= before + 5, POLL);
    t.pass(`${what}: ${name}'s connects carry its labels`);
  };
  let readyz = { status: 0, body: '' };
  const readiness = async (status: number, what: string, body?: RegExp) => {
    await until(`${what}: /readyz ${status}`, async () => ((readyz = await daemon.get('/readyz')), readyz.status === status && (body === undefined || body.test(readyz.body))), {
      ...POLL,
      describe: () => `last /readyz: ${readyz.status} ${readyz.body.trim()}`,
    });
    t.pass(`${what}: /readyz ${status} ${readyz.body.trim().split('\n')[0]}`);
  };
  await labelled('at start', 'steady-0', steady.container);

  // 1. Killed mid-watch.
  await until('the watch is open', () => api.openWatchCount >= 1, POLL);
  await api.stop();
  await readiness(503, 'API server gone', /pod metadata not synced \(.*(ECONNREFUSED|ECONNRESET|socket|closed).*\)/);
  await labelled('API server gone', 'steady-0', steady.container);
  t.equal(sumOf(await daemon.scrape(), 'kubepulse_kube_watch_synced'), 0, 'kubepulse_kube_watch_synced 0');

  // 2. Back, with its watch cache restarted (history lost), and a pod created meanwhile.
  const late = pod('late-0');
  late.add();
  await api.restart({ loseHistory: true });
  await readiness(200, 'API server back without its history');
  await labelled('after the outage', 'late-0', late.container);
  await until('the watch is open again', () => api.openWatchCount >= 1, POLL);
  const lists = api.listCount;
  const gone = pod('after-gone-0');
  api.injectGone(); // 410 in the open watch: the daemon lists again
  gone.add();
  await until('a re-list after 410 Gone', () => api.listCount > lists, POLL);
  await readiness(200, 'after 410 Gone');
  await labelled('after 410 Gone', 'after-gone-0', gone.container);
  await labelled('after 410 Gone', 'steady-0', steady.container);

  // 3. Answering 500.
  api.listFailure = 500;
  api.injectGone(); // forces a list, which fails
  await readiness(503, 'lists answered 500', /pod metadata not synced \(.*500.*\)/);
  await labelled('lists answered 500', 'steady-0', steady.container);
  t.ok(sumOf(await daemon.scrape(), 'kubepulse_kube_watch_errors_total') >= 1, 'the failures counted in kubepulse_kube_watch_errors_total');
  api.listFailure = undefined;
  await readiness(200, 'lists answered again');

  // 4. Watches hanging open without data.
  api.hangWatches = true;
  api.endWatches(); // the daemon watches again, and that watch stays silent
  const unseen = pod('unseen-0');
  unseen.add();
  await new Promise((r) => setTimeout(r, 2000));
  t.equal((await daemon.get('/readyz')).status, 200, 'hanging watch: still ready on the last list');
  await labelled('hanging watch', 'steady-0', steady.container);
  t.equal(await connectsOf('unseen-0'), 0, 'a pod added during the hang is not known yet (nothing told the daemon)');
  api.hangWatches = false;
  await api.restart(); // cuts the stuck connection
  await readiness(200, 'stuck connection cut');
  await labelled('after the hang', 'unseen-0', unseen.container);

  t.equal(daemon.child.exitCode, null, 'the same daemon process throughout');
  t.same(daemon.logs.filter((l) => l.level === 'error'), [], 'no error log line');
  const warns = daemon.logs.filter((l) => l.level === 'warn').map((l) => String(l.msg));
  // Five watches (pods; the cluster-wide services and nodes; NetworkPolicies
  // and Namespaces for drift), four times cut off.
  t.ok(warns.length <= 5 * 4, `at most one warning per watch per outage, not one per retry (${warns.length})`);
  t.same(warns.filter((m) => !/lost the API server|cannot reach the API server/.test(m)), [], 'each says what happened and what is kept');
});
