// Issue 8 end to end, all real except the API server: the daemon
// (dist/cmd/kubepulse.js) on this kernel, "pods" that are kubelet-shaped
// cgroups below the cgroup v2 mount with real processes in them, real
// traffic on loopback aliases, the `kubepulse policy` CLI, a real Prometheus
// and a real seccomp filter.
//
//   pod A  shop/client (Deployment)   127.0.10.1   talks to everything below
//   pod B  shop/backend (StatefulSet) 127.0.10.2   listens on 8080 (and 9999, never used)
//   Service shop/backend              127.0.10.100 port 80 → targetPort 8080, selector app=backend
//                                                 (a host listener on 127.0.10.100:80 answers,
//                                                 standing in for the DNAT the kernel would do)
//   Service kube-system/kube-dns      127.0.10.53  the test DNS server, UDP+TCP 53
//   external                          127.0.10.200 a host listener on 9443 the API server does not know
//   pod S  shop/probe-job (Job)                    runs the seccomp probe program
//
// All of 127.0.0.0/8 is loopback on Linux, so each pod binds its own local
// address. The daemon runs with --kubeconfig (the test API server, which
// lists the pods, the Services and the node) and --node-name; the cluster-wide
// peer resolver turns the addresses into pods and Services.
//
// Proven: the NetworkPolicies hold exactly the observed peers and ports
// (Service → its selector and targetPort, DNS → the cluster DNS rule, the
// external address → an ipBlock) and nothing for unused listeners; they
// validate against kubernetes-models and are byte-identical run to run; the
// same policies (pod peers) come from a real Prometheus that scraped the
// agent; the seccomp profile of S holds the probe's syscalls, runs it under a
// real filter, and denies it with one of them removed.
import t from 'tap';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { parseAllDocuments } from 'yaml';
import { flowsQuery } from '../../src/policy/sources.js';
import { syscallTable } from '../../src/policy/syscall-table.js';
import { makePod, randomContainerId } from '../metadata/fixtures/pods.js';
import { runCli, startDaemon, type RunningDaemon } from '../support/daemon.js';
import { startDnsServer, type TestDnsServer } from '../support/dns-server.js';
import { TestKubeApiServer } from '../support/kube-api-server.js';
import { writeKubeconfig } from '../support/kubeconfig.js';
import { needsPodCgroups, podCgroups } from '../support/pod-cgroups.js';
import { needsBpf } from '../support/privileges.js';
import { prometheusMissing, startPrometheus } from '../support/prometheus.js';
import { buildProbe, buildSeccompExec, PROBE_SYSCALLS, runUnderProfile, type SeccompProfileLike } from '../support/seccomp.js';
import { until } from '../support/until.js';

const NODE = 'e2e-node';
const NS = 'shop';
const A_IP = '127.0.10.1';
const B_IP = '127.0.10.2';
const SERVICE_IP = '127.0.10.100';
const EXTERNAL_IP = '127.0.10.200';
const UNUSED_IP = '127.0.10.201';
const B_PORT = 8080;
const B_UNUSED_PORT = 9999;
const SERVICE_PORT = 80;
const EXTERNAL_PORT = 9443;
/** The DNS server's address: the first of these where port 53 is free (see dnsAddress). */
const DNS_CANDIDATES = ['127.0.10.53', '127.0.10.54', '127.0.10.55'];

// What each pod's process runs: plain Node scripts written to a temporary
// directory, exec'd by a shell that first moves itself into the pod's cgroup,
// so every socket they open belongs to the pod.
const SERVER_JS = `
import { createServer } from 'node:net';
const listeners = JSON.parse(process.argv[2]);
let up = 0;
for (const { host, port } of listeners) {
  createServer((s) => { s.on('error', () => {}); s.end('hi\\n'); }).listen(port, host, () => {
    if (++up === listeners.length) console.log('listening');
  });
}
`;

const CLIENT_JS = `
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';
const { local, tcp, dns, intervalMs, maxRounds } = JSON.parse(process.argv[2]);
const query = (id) => {
  const name = Buffer.from([3, ...Buffer.from('e2e'), 7, ...Buffer.from('example'), 3, ...Buffer.from('com'), 0]);
  const q = Buffer.alloc(12 + name.length + 4);
  q.writeUInt16BE(id, 0); q.writeUInt16BE(0x0100, 2); q.writeUInt16BE(1, 4);
  name.copy(q, 12); q.writeUInt16BE(1, 12 + name.length); q.writeUInt16BE(1, 14 + name.length);
  return q;
};
const tcpOnce = ({ host, port }) => new Promise((resolve) => {
  const s = connect({ host, port, localAddress: local });
  const timer = setTimeout(() => { s.destroy(); resolve('timeout'); }, 2000);
  s.on('connect', () => { clearTimeout(timer); s.end(); resolve('ok'); });
  s.on('error', (e) => { clearTimeout(timer); resolve(e.code ?? String(e)); });
});
const dnsOnce = (id) => new Promise((resolve) => {
  const s = createSocket('udp4');
  const timer = setTimeout(() => { s.close(); resolve('timeout'); }, 2000);
  s.on('message', (m) => { clearTimeout(timer); s.close(); resolve(m.readUInt16BE(0) === id ? 'ok' : 'bad id'); });
  s.on('error', (e) => { clearTimeout(timer); resolve(e.code ?? String(e)); });
  s.bind({ address: local, port: 0 }, () => s.send(query(id), dns.port, dns.host));
});
let stop = false;
process.stdin.on('data', () => { stop = true; });
process.stdin.on('end', () => { stop = true; });
for (let round = 1; !stop && round <= maxRounds; round++) {
  const results = {};
  for (const target of tcp) results[target.host + ':' + target.port] = await tcpOnce(target);
  results['dns ' + dns.host] = await dnsOnce(round & 0xffff);
  console.log(JSON.stringify({ round, results }));
  await new Promise((r) => setTimeout(r, intervalMs));
}
process.exit(0);
`;

/** A free address among the candidates for UDP and TCP port 53, or undefined. */
async function dnsAddress(): Promise<string | undefined> {
  for (const host of DNS_CANDIDATES) {
    const free = await new Promise<boolean>((resolve) => {
      const u = createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(53, host, () => {
        const s = createServer();
        s.once('error', () => u.close(() => resolve(false)));
        s.listen(53, host, () => s.close(() => u.close(() => resolve(true))));
      });
    });
    if (free) return host;
  }
  return undefined;
}

function podWithIp(pod: V1Pod, ip: string | undefined): V1Pod {
  if (ip !== undefined) pod.status = { ...pod.status, podIP: ip, podIPs: [{ ip }] };
  return pod;
}

type Doc = Record<string, unknown> & { metadata: { name: string; namespace: string; annotations?: Record<string, string> }; spec: PolicySpec };
interface PolicySpec {
  podSelector: { matchLabels: Record<string, string> };
  policyTypes: string[];
  ingress: { from: unknown[]; ports: unknown[] }[];
  egress: { to: unknown[]; ports: unknown[] }[];
}

function parsePolicies(yaml: string): Doc[] {
  return parseAllDocuments(yaml).map((d) => {
    if (d.errors.length > 0) throw new Error(`invalid YAML: ${d.errors[0]!.message}`);
    return d.toJSON() as Doc;
  });
}

/** Rules, peers and ports in a canonical order, so comparisons are about content. */
function canonical(rules: { from?: unknown[]; to?: unknown[]; ports: unknown[] }[]): string[] {
  const sortJson = (xs: unknown[]) => xs.map((x) => JSON.stringify(x)).sort();
  return rules.map((r) => JSON.stringify({ peers: sortJson(r.from ?? r.to ?? []), ports: sortJson(r.ports) })).sort();
}

const pods = (selector: Record<string, string>, namespace?: string) =>
  namespace === undefined
    ? { podSelector: { matchLabels: selector } }
    : { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } }, podSelector: { matchLabels: selector } };

const skipBpf = needsBpf().skip;
const skip = skipBpf !== false ? skipBpf : needsPodCgroups().skip;

t.test('observed traffic → NetworkPolicies and a seccomp profile, from the agent and from Prometheus', { skip, timeout: 280_000 }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'kubepulse-policy-e2e-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));

  // --- cgroups: created before the daemon starts, so its first scan of the
  // kubepods roots (rechecked every 10 s) already sees them.
  const cgroups = podCgroups(t);
  const container = (podUid: string, containerId: string): string => cgroups.container(podUid, containerId).dir;
  /** Runs argv with its process (from the shell that execs it on) in the cgroup. */
  const runIn = (dir: string, argv: string[]): ChildProcess => {
    const child = cgroups.spawnIn(dir, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => t.comment(`pod process stderr: ${d.trim()}`));
    return child;
  };
  const lines = (child: ChildProcess): string[] => {
    const out: string[] = [];
    let pending = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      pending += d;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        out.push(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    });
    return out;
  };

  const uid = { a: randomUUID(), b: randomUUID(), s: randomUUID() };
  const cid = { a: randomContainerId(), b: randomContainerId(), s: randomContainerId() };
  const dirs = { a: container(uid.a, cid.a), b: container(uid.b, cid.b), s: container(uid.s, cid.s) };

  // --- host-side listeners: the Service's backend stand-in, the external
  // address, one that nobody contacts, and the cluster DNS.
  const dnsHost = await dnsAddress();
  if (dnsHost === undefined) {
    t.fail(`port 53 is taken on ${DNS_CANDIDATES.join(', ')}; the DNS rule needs an egress to port 53`);
    return;
  }
  if (dnsHost !== DNS_CANDIDATES[0]) t.comment(`port 53 busy on ${DNS_CANDIDATES[0]}; the DNS server and kube-dns ClusterIP use ${dnsHost}`);
  const dns: TestDnsServer = await startDnsServer({ host: dnsHost, port: 53 });
  t.teardown(() => dns.close());
  const hostServers: Server[] = [];
  t.teardown(() => Promise.all(hostServers.map((s) => new Promise((r) => s.close(r)))));
  for (const [host, port] of [[SERVICE_IP, SERVICE_PORT], [EXTERNAL_IP, EXTERNAL_PORT], [UNUSED_IP, 7000]] as const) {
    const server = createServer((s) => {
      s.on('error', () => {});
      s.end('hi\n');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    hostServers.push(server);
  }

  // --- the API server stand-in: this node's pods, the Services, the node.
  const api = new TestKubeApiServer();
  await api.start();
  t.teardown(() => api.stop());
  api.addPod(
    podWithIp(
      makePod({
        name: 'client-7c9d8f6b5-x2x9q',
        namespace: NS,
        uid: uid.a,
        nodeName: NODE,
        labels: { app: 'client', 'pod-template-hash': '7c9d8f6b5' },
        owner: { kind: 'ReplicaSet', name: 'client-7c9d8f6b5' },
        containers: { app: cid.a },
      }),
      A_IP,
    ),
  );
  api.addPod(
    podWithIp(
      makePod({
        name: 'backend-0',
        namespace: NS,
        uid: uid.b,
        nodeName: NODE,
        labels: { app: 'backend', tier: 'db', 'controller-revision-hash': 'backend-6d5f7c', 'statefulset.kubernetes.io/pod-name': 'backend-0' },
        owner: { kind: 'StatefulSet', name: 'backend' },
        containers: { server: cid.b },
      }),
      B_IP,
    ),
  );
  api.addPod(
    makePod({ name: 'probe-job-k7d2m', namespace: NS, uid: uid.s, nodeName: NODE, labels: { 'job-name': 'probe-job', app: 'probe' }, owner: { kind: 'Job', name: 'probe-job' }, containers: { probe: cid.s } }),
  );
  // A pod on another node that nobody talks to: known to the resolver, absent from every policy.
  api.addPod(podWithIp(makePod({ name: 'idle-0', namespace: NS, nodeName: 'other-node', labels: { app: 'idle' }, owner: { kind: 'StatefulSet', name: 'idle' } }), '127.0.10.9'));
  api.addService({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: NS, name: 'backend', uid: randomUUID() },
    spec: { clusterIP: SERVICE_IP, clusterIPs: [SERVICE_IP], selector: { app: 'backend' }, ports: [{ name: 'http', port: SERVICE_PORT, targetPort: B_PORT, protocol: 'TCP' }] },
  });
  api.addService({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: 'kube-system', name: 'kube-dns', uid: randomUUID() },
    spec: {
      clusterIP: dnsHost,
      selector: { 'k8s-app': 'kube-dns' },
      ports: [{ name: 'dns', port: 53, targetPort: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, targetPort: 53, protocol: 'TCP' }],
    },
  });
  api.addNode({ apiVersion: 'v1', kind: 'Node', metadata: { name: NODE, uid: randomUUID() }, status: { addresses: [{ type: 'InternalIP', address: '192.0.2.10' }] } });
  const kubeconfig = writeKubeconfig(work, api.url, api.token);

  // --- the daemon.
  const daemon: RunningDaemon = await startDaemon(['--kubeconfig', kubeconfig, '--node-name', NODE, '--probes', 'flows,syscalls', '--log-level', 'info']);
  t.teardown(() => daemon.stop());
  await daemon.waitReady(30_000);
  await until(
    'cluster peers in sync',
    async () => {
      const text = (await daemon.get('/metrics')).body;
      return ['pods', 'services', 'nodes'].every((r) => text.includes(`kubepulse_cluster_peers_synced{resource="${r}"} 1`)) ? true : undefined;
    },
    { timeoutMs: 15_000, everyMs: 200, retryErrors: true },
  );
  const agent = daemon.url('').replace(/\/$/, '');

  // --- traffic: B listens, A talks to B, the Service, DNS and the external address.
  const server = runIn(dirs.b, [process.execPath, write(work, 'server.mjs', SERVER_JS), JSON.stringify([{ host: B_IP, port: B_PORT }, { host: B_IP, port: B_UNUSED_PORT }])]);
  const serverOut = lines(server);
  await until('B listening', () => (serverOut.includes('listening') ? true : undefined), { timeoutMs: 10_000, everyMs: 50, retryErrors: true });
  const client = runIn(dirs.a, [
    process.execPath,
    write(work, 'client.mjs', CLIENT_JS),
    JSON.stringify({
      local: A_IP,
      tcp: [{ host: B_IP, port: B_PORT }, { host: SERVICE_IP, port: SERVICE_PORT }, { host: EXTERNAL_IP, port: EXTERNAL_PORT }],
      dns: { host: dnsHost, port: 53 },
      intervalMs: 500,
      maxRounds: 240,
    }),
  ]);
  t.teardown(() => void client.stdin?.end());
  const clientOut = lines(client);
  const firstRound = await until('the first round of traffic', () => clientOut[0], { timeoutMs: 10_000, everyMs: 50, retryErrors: true });
  t.same(JSON.parse(firstRound).results, {
    [`${B_IP}:${B_PORT}`]: 'ok',
    [`${SERVICE_IP}:${SERVICE_PORT}`]: 'ok',
    [`${EXTERNAL_IP}:${EXTERNAL_PORT}`]: 'ok',
    [`dns ${dnsHost}`]: 'ok',
  }, 'every connection completed and DNS answered');

  // --- the agent saw it: A's four egress peers and B's ingress from A.
  interface ApiFlow { namespace: string; workload: string; direction: string; protocol: string; port: number; peer: Record<string, unknown> }
  const flows = await until(
    'the flows in /api/v1/flows',
    async () => {
      const body = JSON.parse((await daemon.get('/api/v1/flows')).body) as { flows: ApiFlow[] };
      const of = (wl: string) => body.flows.filter((f) => f.namespace === NS && f.workload === wl);
      return of('client').length >= 4 && of('backend').length >= 1 ? body.flows : undefined;
    },
    { timeoutMs: 20_000, everyMs: 200, retryErrors: true },
  );
  const summary = flows
    .map((f) => `${f.namespace}/${f.workload} ${f.direction} ${f.protocol}/${f.port} → ${String(f.peer.kind)} ${String(f.peer.namespace ?? '')}/${String(f.peer.workload ?? f.peer.name ?? f.peer.address)}`)
    .sort();
  t.same(
    summary,
    [
      `shop/backend ingress TCP/${B_PORT} → pod shop/client`,
      `shop/client egress TCP/${B_PORT} → pod shop/backend`,
      `shop/client egress TCP/${EXTERNAL_PORT} → external /${EXTERNAL_IP}`,
      `shop/client egress TCP/${SERVICE_PORT} → service shop/backend`,
      `shop/client egress UDP/53 → service kube-system/kube-dns`,
    ].sort(),
    'exactly the flows that happened, peers resolved cluster-wide',
  );
  t.match(
    flows.find((f) => f.peer.kind === 'service' && f.peer.name === 'backend')?.peer,
    { address: SERVICE_IP, selector: { app: 'backend' }, ports: [{ port: SERVICE_PORT, targetPort: B_PORT, protocol: 'TCP' }] },
    'the Service peer carries its selector and ports',
  );

  // --- NetworkPolicies from the agent: twice, byte-identical.
  const first = await runCli(['policy', 'network', '--agent', agent]);
  t.equal(first.code, 0, `policy network exits 0: ${first.stderr}`);
  const second = await runCli(['policy', 'network', '--agent', agent]);
  t.equal(second.code, 0);
  // A keeps talking meanwhile (counts grow), which must not change the output.
  t.equal(second.stdout, first.stdout, 'same traffic → byte-identical YAML');
  const policies = parsePolicies(first.stdout);
  t.same(policies.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).sort(), ['shop/kubepulse-backend', 'shop/kubepulse-client'], 'one policy per workload with traffic');
  for (const p of policies) t.doesNotThrow(() => new NetworkPolicy(p as never).validate(), `${p.metadata.name} validates against the NetworkPolicy schema`);
  const byName = (docs: Doc[], name: string) => docs.find((p) => p.metadata.name === name)!;
  const client1 = byName(policies, 'kubepulse-client');
  const backend1 = byName(policies, 'kubepulse-backend');

  t.same(client1.spec.podSelector, { matchLabels: { app: 'client' } }, 'A selected by its stable labels (no pod-template-hash)');
  t.same(client1.spec.policyTypes, ['Ingress', 'Egress']);
  t.same(client1.spec.ingress, [], 'nothing came into A: ingress denied, not omitted');
  t.same(
    canonical(client1.spec.egress),
    canonical([
      // B directly (its stable labels) and through the Service (its selector), both on the pods' port.
      { to: [pods({ app: 'backend', tier: 'db' }), pods({ app: 'backend' })], ports: [{ protocol: 'TCP', port: B_PORT }] },
      // DNS: the cluster DNS rule, UDP and TCP.
      { to: [pods({ 'k8s-app': 'kube-dns' }, 'kube-system')], ports: [{ protocol: 'TCP', port: 53 }, { protocol: 'UDP', port: 53 }] },
      // The address the API server does not know.
      { to: [{ ipBlock: { cidr: `${EXTERNAL_IP}/32` } }], ports: [{ protocol: 'TCP', port: EXTERNAL_PORT }] },
    ]),
    "A's egress: exactly B, the Service (targetPort, not port 80), DNS and the external address",
  );
  t.same(backend1.spec.podSelector, { matchLabels: { app: 'backend', tier: 'db' } }, 'B selected without controller-revision-hash or pod-name');
  t.same(canonical(backend1.spec.ingress), canonical([{ from: [pods({ app: 'client' })], ports: [{ protocol: 'TCP', port: B_PORT }] }]), "B's ingress: from A on 8080");
  t.same(backend1.spec.egress, [], 'B never opened a connection');
  for (const never of [String(B_UNUSED_PORT), UNUSED_IP, '127.0.10.9', 'idle', `port: ${SERVICE_PORT}\n`]) {
    t.notOk(first.stdout.includes(never), `nothing for traffic that never happened (${JSON.stringify(never)})`);
  }
  t.match(first.stderr, /shop\/client: no ingress observed/, 'the CLI says which direction is denied for lack of traffic');

  // --- seccomp: S runs the probe program; its profile runs it, one syscall fewer does not.
  const loader = buildSeccompExec();
  const probe = loader.ok ? buildProbe() : loader;
  const noSeccomp = probe.ok ? false : probe.skip;
  if (noSeccomp !== false) t.comment(`skipping the seccomp part: ${noSeccomp}`);
  await t.test('seccomp profile from the agent, enforced', { skip: noSeccomp }, async (t) => {
    if (!loader.ok || !probe.ok) return;
    const run = runIn(dirs.s, [probe.path]);
    const out = lines(run);
    const code = await new Promise<number | null>((r) => run.once('exit', (c) => r(c)));
    t.equal(code, 0, 'the probe ran in the pod cgroup');
    await until('probe stdout', () => (out.includes('probe ok') ? true : undefined), { timeoutMs: 2000, everyMs: 20, retryErrors: true });
    await until(
      "S's syscalls in /api/v1/syscalls",
      async () => {
        const body = JSON.parse((await daemon.get('/api/v1/syscalls')).body) as { containers: { pod: string; syscalls: string[] }[] };
        const s = body.containers.find((c) => c.pod === 'probe-job-k7d2m');
        return s !== undefined && PROBE_SYSCALLS.every((n) => s.syscalls.includes(n)) ? true : undefined;
      },
      { timeoutMs: 10_000, everyMs: 200, retryErrors: true },
    );
    const args = ['policy', 'seccomp', '--agent', agent, '--namespace', NS, '--workload', 'probe-job', '--container', 'probe', '--baseline', 'none'];
    const res = await runCli(args);
    t.equal(res.code, 0, `policy seccomp exits 0: ${res.stderr}`);
    t.equal((await runCli(args)).stdout, res.stdout, 'byte-identical twice');
    const profile = JSON.parse(res.stdout) as SeccompProfileLike & { architectures: string[] };
    t.equal(profile.defaultAction, 'SCMP_ACT_ERRNO');
    t.ok(profile.architectures.includes('SCMP_ARCH_X86_64'), 'lists the native architecture');
    const names = profile.syscalls.flatMap((r) => r.names);
    t.ok(names.every((n) => typeof n === 'string' && /^[a-z_][a-z0-9_]*$/.test(n)), 'names only');
    const known = new Set(syscallTable('x86_64')!.all());
    t.same(names.filter((n) => !known.has(n)), [], 'every name is an x86_64 syscall');
    for (const n of [...PROBE_SYSCALLS, 'execve']) t.ok(names.includes(n), `the profile allows ${n}`);
    t.ok(names.length < 40, `only what the pod did (${names.length}: ${names.join(' ')})`);

    const ok = runUnderProfile(loader.path, profile, [probe.path]);
    t.same([ok.status, ok.stdout], [0, 'probe ok\n'], `runs under its own profile ${ok.stderr}`);
    const without = (name: string): SeccompProfileLike => ({ ...profile, syscalls: profile.syscalls.map((r) => ({ ...r, names: r.names.filter((n) => n !== name) })) });
    t.equal(runUnderProfile(loader.path, without('getppid'), [probe.path]).status, 10 + 1, 'without getppid: EPERM (exit 11)');
    t.equal(runUnderProfile(loader.path, without('write'), [probe.path]).status, 20 + 1, 'without write: EPERM (exit 21)');
  });

  // --- the same policies from a real Prometheus that scraped the agent.
  const noPrometheus = prometheusMissing() ?? false;
  if (noPrometheus !== false) t.comment(`skipping the Prometheus part: ${noPrometheus}`);
  await t.test('NetworkPolicies from Prometheus (flows) + the agent (labels)', { skip: noPrometheus }, async (t) => {
    const prom = await startPrometheus({ scrape: [{ job: 'kubepulse', targets: [`127.0.0.1:${daemon.port}`] }] });
    t.teardown(() => prom.stop());
    await prom.waitForTargetsUp('kubepulse', { timeoutMs: 20_000 });
    // Every flow once Prometheus has scraped its series (max_over_time keeps
    // flows that never grew after the first scrape too).
    await until(
      'all five flows in Prometheus',
      async () => ((await prom.query(flowsQuery('5m'))).length >= 5 ? true : undefined),
      { timeoutMs: 30_000, everyMs: 500, retryErrors: true },
    );
    const args = ['policy', 'network', '--prometheus', prom.url, '--range', '5m', '--agent', agent, '--allow-partial'];
    const res = await runCli(args);
    t.equal(res.code, 0, `exits 0: ${res.stderr}`);
    t.match(res.stderr, /shop\/client: policy leaves out 1 observed peer\(s\).*external peer on TCP\/9443 has no address/, 'Prometheus carries no external addresses: said, not guessed');
    const fromProm = parsePolicies(res.stdout);
    t.same(fromProm.map((p) => p.metadata.name).sort(), ['kubepulse-backend', 'kubepulse-client']);
    for (const p of fromProm) t.doesNotThrow(() => new NetworkPolicy(p as never).validate(), `${p.metadata.name} validates`);
    const client2 = byName(fromProm, 'kubepulse-client');
    const backend2 = byName(fromProm, 'kubepulse-backend');
    t.same(client2.spec.podSelector, client1.spec.podSelector);
    t.same(client2.spec.ingress, client1.spec.ingress);
    const podRules = client1.spec.egress.filter((r) => !JSON.stringify(r.to).includes('ipBlock'));
    t.same(canonical(client2.spec.egress), canonical(podRules), "A's egress to pods, the Service and DNS: as from the agent");
    t.same(backend2.spec, backend1.spec, "B's policy: as from the agent");
  });
});

function write(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
