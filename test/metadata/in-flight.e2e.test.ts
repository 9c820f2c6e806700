// Events still in the kernel's ring buffer when their pod's cgroups, its
// process or the pod object itself are already gone (issue 17, faults
// injected), through the real daemon, the real kernel and real cgroup v2;
// the API server is the stand-in of test/support/kube-api-server.ts.
//
// Deterministic: the daemon is stopped (SIGSTOP) while the pods run, so
// every event of theirs waits in the ring buffer until the daemon is
// continued (SIGCONT), by which time what the test removed is gone for
// certain, not "usually" (test/metadata/new-pods.e2e.test.ts races the
// runtime instead). Each pod's one container runs a job from its first
// instruction: one DNS query (dig) to the test DNS server, one TCP connect
// to a local listener, exit. Every pod object is in the API, with its
// container ID in the status, before the daemon starts. Four kinds:
//  - early:   its container cgroup was made before the daemon started
//             (known from the start-up scan); while the daemon is stopped
//             the job runs, then the container's and the pod's cgroups
//             are removed;
//  - born:    its cgroups are made while the daemon is stopped (known only
//             from the kernel's cgroup_mkdir record); the job runs, the
//             cgroups are removed;
//  - exited:  as born, but the cgroups stay: only the process, and with it
//             /proc/<pid>, is gone;
//  - deleted: as born, and then the pod object is deleted from the API
//             too: the watch's DELETED waits in the daemon's socket beside
//             the pod's last events.
// Checked once continued: each pod's query, its answer and its connect are
// counted under its namespace and pod (exactly one each); none of this
// test's queries is labelled like the host or counted as unattributed; no
// error line; the daemon alive and ready.
// Other engineers' tests share this kernel: the DNS probe watches only this
// test's DNS port, and everything is matched by this test's own namespace
// and registered domain.
import t from 'tap';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type RunningDaemon } from '../support/daemon.js';
import { startDnsServer } from '../support/dns-server.js';
import { TestKubeApiServer } from '../support/kube-api-server.js';
import { writeKubeconfig } from '../support/kubeconfig.js';
import { sumOf, type Sample } from '../support/metrics.js';
import { containerCgroupPath, needsPodCgroups, PodCgroups, podCgroupPath } from '../support/pod-cgroups.js';
import { needsBpf } from '../support/privileges.js';
import { until } from '../support/until.js';
import { runCleanup } from '../support/cleanup.js';
import { makePod, randomContainerId } from './fixtures/pods.js';

const skipBpf = needsBpf().skip;
const skip = skipBpf !== false ? skipBpf : needsPodCgroups().skip;

const KINDS = ['early', 'born', 'exited', 'deleted'] as const;
type Kind = (typeof KINDS)[number];
const PODS_PER_KIND = 5;

// The container: one DNS query, one connect, exit; the exit status says both
// worked. $1 TCP port, $2 DNS port, $3 name. dig waits up to 15 s for its one
// try: at load average 60 here 3 s were not always enough.
const JOB = 'dig @127.0.0.1 -p "$2" +time=15 +tries=1 +short "$3" A | grep -qx 127.0.0.1 && exec 3<>"/dev/tcp/127.0.0.1/$1"';

/** The scheduler state of a process (R, S, T for stopped, …) from /proc/<pid>/stat. */
const stateOf = (pid: number): string => /^\d+ \(.*\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1] ?? '?';

t.test('events in flight when their cgroups, process or pod are gone: attributed to the pod, counted, no error', { skip, timeout: 300_000 }, async (t) => {
  const closers: Array<() => Promise<unknown> | unknown> = [];
  const cgroups = new PodCgroups('kubepulse-inflight');
  let daemon: RunningDaemon | undefined;
  t.teardown(async () => {
    // A stopped daemon would keep SIGTERM pending forever: continue it first.
    if (daemon?.child.exitCode === null && daemon.child.signalCode === null) daemon.child.kill('SIGCONT');
    await runCleanup([() => daemon?.stop(), () => cgroups.cleanup(), ...closers.reverse()]);
  });

  const node = `inflight-node-${randomBytes(3).toString('hex')}`;
  const namespace = `inflight-${randomBytes(3).toString('hex')}`;
  const domain = `kp${randomBytes(4).toString('hex')}.net`;
  const dns = await startDnsServer();
  closers.push(() => dns.close());
  const listener = createServer((s) => s.on('error', () => {}).end());
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  closers.push(() => new Promise((r) => listener.close(r)));
  const tcpPort = (listener.address() as { port: number }).port;
  const api = new TestKubeApiServer();
  await api.start();
  closers.push(() => api.stop());
  const work = mkdtempSync(join(tmpdir(), 'kubepulse-inflight-'));
  closers.push(() => rmSync(work, { recursive: true, force: true }));

  interface Pod {
    kind: Kind;
    name: string;
    uid: string;
    containerId: string;
  }
  const pods: Pod[] = KINDS.flatMap((kind) =>
    Array.from({ length: PODS_PER_KIND }, (_, i) => ({ kind, name: `${kind}-${i}`, uid: randomUUID(), containerId: randomContainerId() })),
  );
  for (const p of pods) {
    api.addPod(makePod({ name: p.name, namespace, uid: p.uid, nodeName: node, owner: { kind: 'Job', name: p.kind }, containers: { app: p.containerId } }));
    if (p.kind === 'early') cgroups.container(p.uid, p.containerId);
  }

  // A ring far larger than the stop needs: other engineers' traffic fills it too meanwhile.
  daemon = await startDaemon([
    '--kubeconfig', writeKubeconfig(work, api.url, api.token),
    '--node-name', node,
    '--probes', 'tcp,dns',
    '--dns-ports', String(dns.port),
    '--dns-timeout', '20s', // longer than dig waits
    '--ring-buffer-bytes', String(32 << 20),
  ]);
  await daemon.waitReady(120_000); // node's start-up alone took over a minute here at load average 30
  t.ok(daemon.logs.some((l) => l.msg === 'probe attached' && l.probe === 'cgroup_births'), 'the cgroup births program is attached');

  let metrics: Sample[] = await daemon.scrape();
  const of = (name: string, labels: Record<string, string> = {}) => sumOf(metrics, name, labels);
  const before = {
    dropped: of('kubepulse_events_dropped_total'),
    dnsUnattributed: of('kubepulse_unattributed_events_total', { probe: 'dns' }),
  };

  // ── stopped: everything happens while the daemon cannot read ──
  const pid = daemon.pid;
  process.kill(pid, 'SIGSTOP');
  await until('the daemon is stopped', () => stateOf(pid) === 'T', 5000);
  const stoppedAt = Date.now();
  const jobPids: number[] = [];
  await Promise.all(
    pods.map(async (p) => {
      const dir = p.kind === 'early' ? join(cgroups.base, containerCgroupPath(p.uid, p.containerId)) : cgroups.container(p.uid, p.containerId).dir;
      const job = cgroups.spawnIn(dir, ['bash', '-c', JOB, 'job', String(tcpPort), String(dns.port), `${p.name}.${domain}`], { stdio: 'ignore' });
      const [code] = (await once(job, 'exit')) as [number | null];
      if (code !== 0) throw new Error(`${p.name}: the job failed (exit ${code}: its DNS query unanswered or its connect refused)`);
      jobPids.push(job.pid!);
      if (p.kind !== 'exited') await cgroups.remove(join(cgroups.base, podCgroupPath(p.uid)));
      if (p.kind === 'deleted') api.deletePod(namespace, p.name);
    }),
  );
  t.equal(stateOf(pid), 'T', `the daemon stayed stopped while ${pods.length} pods ran (${Date.now() - stoppedAt} ms)`);
  const ours = cgroups.base.slice(cgroups.mount.length);
  // A PID the kernel has handed out again since names another cgroup.
  const stillThere = jobPids.filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cgroup`, 'utf8').includes(ours);
    } catch {
      return false;
    }
  });
  t.same(stillThere, [], 'every job process has exited: its /proc/<pid> is gone');
  const cgroupsLeft = pods.filter((p) => existsSync(join(cgroups.base, podCgroupPath(p.uid)))).map((p) => p.kind);
  t.same(cgroupsLeft, Array(PODS_PER_KIND).fill('exited'), 'only the exited pods still have cgroups');
  t.equal(api.getPod(namespace, 'deleted-0'), undefined, 'the deleted pods are gone from the API');

  // ── continued: the events are read now ──
  process.kill(pid, 'SIGCONT');
  const stoppedMs = Date.now() - stoppedAt;
  const countsOf = (p: Pod) => {
    const labels = { namespace, pod: p.name, workload: p.kind, node };
    return {
      queries: of('kubepulse_dns_queries_total', { ...labels, domain }),
      answers: of('kubepulse_dns_responses_total', { ...labels, rcode: 'NOERROR' }),
      connects: of('kubepulse_tcp_connections_total', { ...labels, result: 'established' }),
    };
  };
  const missing = () => pods.filter((p) => Object.values(countsOf(p)).some((n) => n < 1));
  await until(
    'every pod counted',
    async () => ((metrics = await daemon!.scrape()), missing().length === 0),
    { timeoutMs: 30_000, everyMs: 250, describe: () => `not yet: ${missing().map((p) => `${p.name} ${JSON.stringify(countsOf(p))}`).join(', ')}` },
  ).catch(() => undefined);
  const dropped = of('kubepulse_events_dropped_total') - before.dropped;
  t.comment(`stopped ${stoppedMs} ms; events dropped in the kernel meanwhile (any traffic): ${dropped}`);
  for (const kind of KINDS) {
    const mine = pods.filter((p) => p.kind === kind);
    t.same(
      mine.map((p) => countsOf(p)),
      mine.map(() => ({ queries: 1, answers: 1, connects: 1 })),
      `${kind}: each pod's query, answer and connect counted under the pod`,
      dropped > 0 ? { todo: `${dropped} events dropped in the kernel (a ring full of other traffic)` } : {},
    );
  }
  const hostQueries = of('kubepulse_dns_queries_total', { domain, namespace: '' });
  t.equal(hostQueries, 0, 'none of the queries labelled like the host');
  t.equal(of('kubepulse_dns_queries_total', { domain }), pods.length, `${pods.length} queries counted in all`);
  t.equal(of('kubepulse_unattributed_events_total', { probe: 'dns' }) - before.dnsUnattributed, 0, 'no DNS event unattributed');
  t.equal(of('kubepulse_dns_responses_total', { namespace, rcode: 'timeout' }), 0, 'no answer taken for a timeout after the pause');

  t.equal((await daemon.get('/readyz')).status, 200, 'ready');
  t.equal(daemon.child.exitCode, null, 'the daemon never exited');
  t.same(
    daemon.logs.filter((l) => l.level === 'error'),
    [],
    'no error line',
  );
});
