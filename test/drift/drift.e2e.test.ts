// Issue 15's drift, end to end, all real except the API server: the daemon
// (dist/cmd/kubepulse.js) on this kernel, kubelet-shaped pod cgroups with
// real processes in them, real TCP on loopback aliases, the test API server
// serving pods, Namespaces and NetworkPolicies over list+watch, and a real
// seccomp filter in log mode loaded with libseccomp.
//
//   web/client (Deployment)  127.0.21.1  isolated for egress by web/client-egress
//   web/api    (Deployment)  127.0.21.2  listens on 8080; the policy allows it
//   data/db    (StatefulSet) 127.0.21.3  listens on 5432 (container port "pg"); the policy does not allow it
//   web/tool   (Job)                      runs the probe under a Localhost profile in log mode
//
// Proven: client → db is exactly one drift series with the right labels and
// is listed in /api/v1/drift with the policy; client → api is none; once the
// policy is changed to allow db (namespaceSelector + podSelector + the named
// port), new traffic adds no drift. The tool container's getppid, outside
// its Localhost profile (which log mode lets through), is seccomp drift, and
// so is write against an exported profile that lacks it.
import t from 'tap';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1NetworkPolicy, V1Pod } from '@kubernetes/client-node';
import type { DriftSnapshot } from '../../src/api/audit.js';
import { buildSeccompProfile, renderSeccompJson } from '../../src/policy/seccomp.js';
import { syscallTable } from '../../src/policy/syscall-table.js';
import { makePod, randomContainerId } from '../metadata/fixtures/pods.js';
import { startDaemon, type RunningDaemon } from '../support/daemon.js';
import { TestKubeApiServer } from '../support/kube-api-server.js';
import { writeKubeconfig } from '../support/kubeconfig.js';
import { needsPodCgroups, podCgroups } from '../support/pod-cgroups.js';
import { needsBpf } from '../support/privileges.js';
import { buildProbe, buildSeccompExec, buildDir } from '../support/seccomp.js';
import { until } from '../support/until.js';

const NODE = 'drift-node';
const IP = { client: '127.0.21.1', api: '127.0.21.2', db: '127.0.21.3' };
const API_PORT = 8080;
const DB_PORT = 5432;

const SERVER_JS = `
import { createServer } from 'node:net';
const [host, port] = [process.argv[2], Number(process.argv[3])];
createServer((s) => { s.on('error', () => {}); s.end('hi\\n'); }).listen(port, host, () => console.log('listening'));
`;

const CLIENT_JS = `
import { connect } from 'node:net';
const { local, targets } = JSON.parse(process.argv[2]);
const once = ({ host, port }) => new Promise((resolve) => {
  const s = connect({ host, port, localAddress: local });
  const timer = setTimeout(() => { s.destroy(); resolve('timeout'); }, 8000);
  s.on('connect', () => { clearTimeout(timer); s.end(); resolve('ok'); });
  s.on('error', (e) => { clearTimeout(timer); resolve(e.code ?? String(e)); });
});
let round = 0;
process.stdin.on('data', async () => {
  const results = {};
  for (const target of targets) results[target.host + ':' + target.port] = await once(target);
  console.log(JSON.stringify({ round: ++round, results }));
});
process.stdin.on('end', () => process.exit(0));
`;

function withIp(pod: V1Pod, ip: string): V1Pod {
  pod.status = { ...pod.status, podIP: ip, podIPs: [{ ip }] };
  return pod;
}

const egressPolicy = (allowDb: boolean): V1NetworkPolicy => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { namespace: 'web', name: 'client-egress' },
  spec: {
    podSelector: { matchLabels: { app: 'client' } },
    policyTypes: ['Egress'],
    egress: [
      { to: [{ podSelector: { matchLabels: { app: 'api' } } }], ports: [{ protocol: 'TCP', port: API_PORT }] },
      ...(allowDb
        ? [{ to: [{ namespaceSelector: { matchLabels: { team: 'data' } }, podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['db'] }] } }], ports: [{ port: 'pg' as unknown as number }] }]
        : []),
    ],
  },
});

const skipBpf = needsBpf().skip;
const skip = skipBpf !== false ? skipBpf : needsPodCgroups().skip;

t.test('NetworkPolicy and seccomp drift on the real kernel', { skip, timeout: 280_000 }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'kubepulse-drift-e2e-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const cgroups = podCgroups(t);
  const uid = { client: randomUUID(), api: randomUUID(), db: randomUUID(), tool: randomUUID() };
  const cid = { client: randomContainerId(), api: randomContainerId(), db: randomContainerId(), tool: randomContainerId() };
  const dir = (k: keyof typeof uid) => cgroups.container(uid[k], cid[k]).dir;
  const dirs = { client: dir('client'), api: dir('api'), db: dir('db'), tool: dir('tool') };
  const lines = (child: ChildProcess): string[] => {
    const out: string[] = [];
    let pending = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      pending += d;
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        out.push(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    });
    return out;
  };
  const script = (name: string, text: string): string => {
    const p = join(work, name);
    writeFileSync(p, text);
    return p;
  };

  // --- the kubelet's seccomp root, with tool's Localhost profile.
  const seccompRoot = join(work, 'seccomp');
  mkdirSync(join(seccompRoot, 'profiles'), { recursive: true });
  const exported = join(work, 'exported');

  const api = new TestKubeApiServer();
  await api.start();
  t.teardown(() => api.stop());
  api.addNamespace({ metadata: { name: 'web', labels: { team: 'web' } } });
  api.addNamespace({ metadata: { name: 'data', labels: { team: 'data' } } });
  const pod = (name: string, namespace: string, key: keyof typeof uid, labels: Record<string, string>, owner: { kind: string; name: string }) =>
    makePod({ name, namespace, uid: uid[key], nodeName: NODE, labels, owner, containers: { [key]: cid[key] } });
  api.addPod(withIp(pod('client-5d8f7c9b6-q2w3e', 'web', 'client', { app: 'client', 'pod-template-hash': '5d8f7c9b6' }, { kind: 'ReplicaSet', name: 'client-5d8f7c9b6' }), IP.client));
  api.addPod(withIp(pod('api-6c7d8e9f5-r4t5y', 'web', 'api', { app: 'api', 'pod-template-hash': '6c7d8e9f5' }, { kind: 'ReplicaSet', name: 'api-6c7d8e9f5' }), IP.api));
  const db = withIp(pod('db-0', 'data', 'db', { app: 'db' }, { kind: 'StatefulSet', name: 'db' }), IP.db);
  db.spec!.containers[0]!.ports = [{ name: 'pg', containerPort: DB_PORT, protocol: 'TCP' }];
  api.addPod(db);
  const tool = pod('tool-x7k2p', 'web', 'tool', { app: 'tool' }, { kind: 'Job', name: 'tool' });
  tool.spec!.securityContext = { seccompProfile: { type: 'Localhost', localhostProfile: 'profiles/tool.json' } };
  api.addPod(tool);
  api.addNetworkPolicy(egressPolicy(false));
  const kubeconfig = writeKubeconfig(work, api.url, api.token);

  const daemon: RunningDaemon = await startDaemon([
    '--kubeconfig', kubeconfig, '--node-name', NODE, '--probes', 'flows,syscalls', '--log-level', 'info',
    '--path.seccomp', seccompRoot, '--drift.seccomp-profiles', exported,
  ]);
  t.teardown(() => daemon.stop());
  await daemon.waitReady(90_000); // a loaded machine: the kubeconfig client loads slowly
  await until(
    'cluster peers and policies in sync',
    async () => {
      const text = (await daemon.get('/metrics')).body;
      const peers = ['pods', 'services', 'nodes'].every((r) => text.includes(`kubepulse_cluster_peers_synced{resource="${r}"} 1`));
      return peers && text.includes('kubepulse_policy_drift_policies_synced 1') ? true : undefined;
    },
    { timeoutMs: 15_000, everyMs: 200, retryErrors: true },
  );

  // --- traffic: api and db listen; client talks to both, one round per line on its stdin.
  for (const [k, port] of [['api', API_PORT], ['db', DB_PORT]] as const) {
    const server = cgroups.spawnIn(dirs[k], [process.execPath, script('server.mjs', SERVER_JS), IP[k], String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const out = lines(server);
    await until(`${k} listening`, () => (out.includes('listening') ? true : undefined), { timeoutMs: 10_000, everyMs: 50, retryErrors: true });
  }
  const client = cgroups.spawnIn(
    dirs.client,
    [process.execPath, script('client.mjs', CLIENT_JS), JSON.stringify({ local: IP.client, targets: [{ host: IP.api, port: API_PORT }, { host: IP.db, port: DB_PORT }] })],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  t.teardown(() => void client.stdin?.end());
  const clientOut = lines(client);
  const round = async (): Promise<void> => {
    const n = clientOut.length;
    client.stdin!.write('go\n');
    const line = await until('a round of traffic', () => clientOut[n], { timeoutMs: 20_000, everyMs: 20, retryErrors: true });
    t.same(JSON.parse(line).results, { [`${IP.api}:${API_PORT}`]: 'ok', [`${IP.db}:${DB_PORT}`]: 'ok' }, 'both connections completed (no CNI enforces anything here)');
  };

  type Sample = { name: string; labels: Record<string, string>; value: number };
  const driftSeries = async (): Promise<Sample[]> =>
    ((await daemon.scrape()) as Sample[]).filter((s) => s.name === 'kubepulse_policy_drift_flows_total' && (s.labels.namespace === 'web' || s.labels.namespace === 'data'));
  const drift = async (): Promise<DriftSnapshot> => JSON.parse((await daemon.get('/api/v1/drift')).body) as DriftSnapshot;

  await round();
  await round();
  const series = await until('the drift series', async () => {
    const s = await driftSeries();
    return s.length > 0 && (s[0]?.value ?? 0) >= 2 ? s : undefined;
  }, { timeoutMs: 30_000, everyMs: 300, retryErrors: true });
  t.equal(series.length, 1, 'exactly one drift series: client → db; client → api is allowed');
  t.same(series[0]!.labels, {
    namespace: 'web', workload: 'client', direction: 'egress', protocol: 'TCP', port: String(DB_PORT),
    peer_kind: 'pod', peer_namespace: 'data', peer_workload: 'db', ...(series[0]!.labels.node === undefined ? {} : { node: series[0]!.labels.node }),
  });
  const listed = (await drift()).network.filter((d) => d.namespace === 'web' || d.namespace === 'data');
  t.equal(listed.length, 1, '/api/v1/drift lists that one flow');
  t.match(listed[0], { pod: 'client-5d8f7c9b6-q2w3e', workload: 'client', direction: 'egress', port: DB_PORT, peer: { kind: 'pod', namespace: 'data', pod: 'db-0' }, policies: ['web/client-egress'] });

  // --- the policy now allows db: drift stops for new traffic.
  api.modifyNetworkPolicy(egressPolicy(true));
  await round();
  await until('the flow no longer listed as drift', async () => ((await drift()).network.some((d) => d.namespace === 'web') ? undefined : true), {
    timeoutMs: 30_000, everyMs: 300, retryErrors: true,
  });
  const before = (await driftSeries())[0]?.value ?? 0;
  await round();
  await round();
  await round();
  // Two scrapes: the flows map read at the first, the counter at the second.
  await driftSeries();
  const after = await driftSeries();
  t.equal(after.length, 1, 'the series stays (a counter), with the drift it counted');
  t.equal(after[0]?.value, before, `three more rounds to db add no drift (${before})`);

  // --- seccomp: tool runs the probe under its Localhost profile in log mode.
  const loader = buildSeccompExec();
  const probe = loader.ok ? buildProbe() : loader;
  const noSeccomp = probe.ok ? false : probe.skip;
  if (noSeccomp !== false) t.comment(`skipping the seccomp part: ${noSeccomp}`);
  await t.test('seccomp drift under a Localhost profile in log mode', { skip: noSeccomp }, async (t) => {
    if (!loader.ok || !probe.ok) return;
    // The profile allows every x86_64 syscall but getppid; in log mode getppid runs (and is logged).
    const allowed = syscallTable('x86_64')!.all().filter((n) => n !== 'getppid');
    writeFileSync(
      join(seccompRoot, 'profiles', 'tool.json'),
      JSON.stringify({ defaultAction: 'SCMP_ACT_LOG', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: allowed, action: 'SCMP_ACT_ALLOW' }] }),
    );
    const allowFile = join(buildDir(), `drift-allow-${process.pid}.txt`);
    writeFileSync(allowFile, `${allowed.join('\n')}\n`);
    const run = cgroups.spawnIn(dirs.tool, [loader.path, allowFile, probe.path], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, SECCOMP_EXEC_LOG: '1' } });
    const out = lines(run);
    // 'close', not 'exit': exit can come before the last of stdout is read ('probe ok' then missed).
    const code = await new Promise<number | null>((r) => run.once('close', (c) => r(c)));
    t.equal(code, 0, 'the probe ran to the end: log mode let getppid through');
    t.ok(out.includes('probe ok'));

    // Against an exported profile (the exporter's own format) that lacks write.
    mkdirSync(join(exported, 'web', 'tool'), { recursive: true });
    writeFileSync(join(exported, 'web', 'tool', 'tool.json'), renderSeccompJson(buildSeccompProfile(allowed.filter((n) => n !== 'write'), { baseline: [] })));

    const snapshot = await until('seccomp drift in /api/v1/drift', async () => {
      const s = (await drift()).seccomp.filter((d) => d.namespace === 'web' && d.pod === 'tool-x7k2p');
      return s.length === 2 ? s : undefined;
    }, { timeoutMs: 30_000, everyMs: 300, retryErrors: true });
    const byProfile = Object.fromEntries(snapshot.map((d) => [d.profile, d.syscalls]));
    t.same(byProfile['profiles/tool.json'], ['getppid'], 'the Localhost profile: getppid, and nothing else');
    t.same(byProfile[join(exported, 'web', 'tool', 'tool.json')], ['getppid', 'write'], 'the exported profile: write too');
    t.match(snapshot[0], { workload: 'tool', container: 'tool' });
    const gauge = ((await daemon.scrape()) as Sample[]).filter((s) => s.name === 'kubepulse_seccomp_drift_syscalls' && s.labels.pod === 'tool-x7k2p');
    t.same(
      gauge.map((s) => [s.labels.namespace, s.labels.workload, s.labels.container, s.labels.syscall, s.value]).sort(),
      [['web', 'tool', 'tool', 'getppid', 1], ['web', 'tool', 'tool', 'write', 1]],
    );
  });
});
