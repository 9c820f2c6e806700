// Brand-new and short-lived pods keep their first events (issue 18), through
// the real daemon, the real kernel and real cgroup v2; the API server is the
// stand-in of test/support/kube-api-server.ts.
//
// Each "pod" is what a kubelet does for a Job pod, in its order:
//  1. the pod object is in the API (no container status yet);
//  2. its kubelet-shaped pod and container cgroups are made, and a process
//     starts inside the container cgroup from its first instruction (bash:
//     one DNS query with dig to the test DNS server, one TCP connect to a
//     local listener), then exits -- all within ~100 ms;
//  3. the container's cgroup is removed as soon as it has exited (the runtime
//     cleaning up), usually before the daemon decodes the batch;
//  4. 1 s later the pod's status names the container ID (the kubelet's report).
// Checked on /metrics: each pod's connect (tcp_connections_total{result=
// "established"}) and DNS query (dns_queries_total) carry its namespace, pod
// and workload:
//  - 10 pods created 100 ms apart: 10 of 10;
//  - 200 pods at 20 per second: at least 99 %, and
//    kubepulse_unattributed_events_total accounts for any that are not;
//  - pods whose object reaches the API only after their container has run
//    and gone (a lagging watch): attributed all the same (held, counted in
//    kubepulse_events_held_total);
//  - a pod the API never serves: its query labelled like the host, and
//    counted in kubepulse_unattributed_events_total{reason="pod_unknown"};
//  - a crash-looping container (same pod, a new container cgroup every
//    500 ms, 10 restarts, each status naming the previous instance too):
//    every restart's events attributed to the pod.
// Other engineers' tests share this kernel: everything is matched by this
// test's own namespace and pod names.
import t from 'tap';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { startDaemon, type RunningDaemon } from '../support/daemon.js';
import { startDnsServer } from '../support/dns-server.js';
import { TestKubeApiServer } from '../support/kube-api-server.js';
import { writeKubeconfig } from '../support/kubeconfig.js';
import { sumOf, type Sample } from '../support/metrics.js';
import { needsPodCgroups, PodCgroups, containerCgroupPath } from '../support/pod-cgroups.js';
import { needsBpf } from '../support/privileges.js';
import { until } from '../support/until.js';
import { runCleanup } from '../support/cleanup.js';
import { makePod, randomContainerId } from './fixtures/pods.js';

function skipReason(): { skip: string | false } {
  const bpf = needsBpf();
  if (bpf.skip !== false) return bpf;
  return needsPodCgroups();
}
const skip = skipReason();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

// The container: one DNS query, one connect, exit at once. $1 TCP port, $2
// DNS port, $3 name. The query comes first because its event carries no
// process ID, and the process is gone by the time the connect is decoded:
// nothing but the cgroup id is left to resolve either by.
const JOB = 'dig @127.0.0.1 -p "$2" +time=2 +tries=1 +short "$3" A >/dev/null; exec 3<>"/dev/tcp/127.0.0.1/$1"';

// The kubelet and runtime: per stdin line `<container cgroup dir> <name>`, make
// the cgroup, run JOB in it from its first instruction (sh moves itself in,
// then execs), remove the cgroup once it has exited, and say `<dir>`.
// $1 JOB, $2 TCP port, $3 DNS port.
const KUBELET = String.raw`
job=$1 tcp=$2 dns=$3
while read -r dir name; do
  (
    mkdir -p "$dir"
    sh -c 'echo $$ > "$0/cgroup.procs" && exec bash -c "$1" job "$2" "$3" "$4"' "$dir" "$job" "$tcp" "$dns" "$name"
    until rmdir "$dir" 2>/dev/null; do sleep 0.02; done
    echo "$dir"
  ) &
done
wait
`;

t.test('short-lived pods keep their first events', skip, async (t) => {
  const closers: Array<() => Promise<void> | void> = [];
  const cgroups = new PodCgroups('kubepulse-newpods');
  let daemon: RunningDaemon | undefined;
  t.teardown(async () => {
    await runCleanup([() => daemon?.stop(), () => cgroups.cleanup(), ...closers.reverse()]);
  });

  const node = `newpods-node-${randomBytes(3).toString('hex')}`;
  const ns = `newpods-${randomBytes(3).toString('hex')}`;
  const dns = await startDnsServer();
  closers.push(() => dns.close());
  const listener = createServer((s) => {
    s.on('error', () => {});
    s.end();
  });
  const tcpPort = await listen(listener);
  closers.push(() => new Promise<void>((r) => listener.close(() => r())));
  const api = new TestKubeApiServer();
  await api.start();
  closers.push(() => api.stop());
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-newpods-'));
  closers.push(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = writeKubeconfig(dir, api.url, api.token);

  daemon = await startDaemon(['--kubeconfig', kubeconfig, '--node-name', node, '--dns-ports', `53,${dns.port}`, '--dns-timeout', '3s', '--log-level', 'debug']);
  await daemon.waitReady(45_000);
  t.ok(
    daemon.logs.some((l) => l.msg === 'probe attached' && l.probe === 'cgroup_births'),
    'the cgroup births program is attached',
  );

  let metrics: Sample[] = [];
  const scrape = async () => (metrics = await daemon!.scrape());
  const of = (name: string, labels: Record<string, string> = {}) => sumOf(metrics, name, labels);
  const tcpOf = (pod: string) => of('kubepulse_tcp_connections_total', { namespace: ns, pod, node, result: 'established' });
  const dnsOf = (pod: string) => of('kubepulse_dns_queries_total', { namespace: ns, pod, node });
  const unattributed = () => metrics.filter((s) => s.name === 'kubepulse_unattributed_events_total' && s.value > 0).map((s) => `${s.labels.probe}/${s.labels.reason}=${s.value}`);

  /** The kubelet's report: the container ID in the status, the previous instance as lastState. */
  const reportContainer = (name: string, containerId: string, previous?: string) => {
    const pod = api.getPod(ns, name)!;
    pod.status!.containerStatuses = [
      {
        name: 'app',
        image: 'registry.example/app:1',
        imageID: '',
        ready: false,
        restartCount: previous === undefined ? 0 : 1,
        containerID: `containerd://${containerId}`,
        state: { terminated: { exitCode: 0, reason: 'Completed', containerID: `containerd://${containerId}` } },
        ...(previous === undefined ? {} : { lastState: { terminated: { exitCode: 0, containerID: `containerd://${previous}` } } }),
      },
    ];
    api.modifyPod(pod);
  };

  /** A Job's pod object, as the API holds it before the kubelet starts anything. */
  const jobPod = (name: string, uid: string, job: string): V1Pod =>
    makePod({ name, namespace: ns, uid, nodeName: node, owner: { kind: 'Job', name: job }, containers: {} });

  // The kubelet and runtime side runs in a process of its own, as on a node:
  // forking 20 containers a second from this (large) test process would
  // stall its event loop, and with it the API server the daemon watches.
  const kubelet = cgroups.track(spawn('bash', ['-c', KUBELET, 'kubelet', JOB, String(tcpPort), String(dns.port)], { stdio: ['pipe', 'pipe', 'inherit'] }));
  const gone = new Map<string, () => void>();
  let pendingOut = '';
  kubelet.stdout!.setEncoding('utf8').on('data', (d: string) => {
    pendingOut += d;
    let nl: number;
    while ((nl = pendingOut.indexOf('\n')) >= 0) {
      const line = pendingOut.slice(0, nl);
      pendingOut = pendingOut.slice(nl + 1);
      gone.get(line)?.();
      gone.delete(line);
    }
  });

  /** Runs one container to its end in a new cgroup and removes the cgroup (steps 2-3); resolves once removed. */
  const runContainer = (uid: string, containerId: string, queryName: string): Promise<void> => {
    const cdir = join(cgroups.base, containerCgroupPath(uid, containerId));
    return new Promise<void>((resolve) => {
      gone.set(cdir, resolve);
      kubelet.stdin!.write(`${cdir} ${queryName}\n`);
    });
  };

  /** Steps 1-4 for one pod; resolves when its status is reported. */
  const uids = new Map<string, string>();
  const runJobPod = async (name: string, job: string, objectLateMs = 0): Promise<void> => {
    const uid = randomUUID();
    uids.set(name, uid);
    const containerId = randomContainerId();
    if (objectLateMs === 0) api.addPod(jobPod(name, uid, job));
    await runContainer(uid, containerId, `${name}.newpods.example.com`);
    if (objectLateMs > 0) {
      await sleep(objectLateMs);
      api.addPod(jobPod(name, uid, job));
    }
    await sleep(1000);
    reportContainer(name, containerId);
  };

  let lastLaunchMs = 0;
  /** Starts pods `count` at `intervalMs` apart; resolves with their names once all are reported. */
  const launch = async (prefix: string, count: number, intervalMs: number, objectLateMs = 0): Promise<string[]> => {
    const names: string[] = [];
    const runs: Array<Promise<void>> = [];
    const start = Date.now();
    for (let i = 0; i < count; i++) {
      await sleep(Math.max(0, start + i * intervalMs - Date.now())); // always yield: the API server lives here
      const name = `${prefix}-${i}-${randomBytes(2).toString('hex')}`;
      names.push(name);
      runs.push(runJobPod(name, prefix, objectLateMs));
    }
    lastLaunchMs = Date.now() - start;
    await Promise.all(runs);
    return names;
  };

  /** Waits until every pod shows both events or `settleMs` pass without change; returns the attributed counts. */
  const settle = async (names: string[]) => {
    const count = () => ({ tcp: names.filter((n) => tcpOf(n) >= 1).length, dns: names.filter((n) => dnsOf(n) >= 1).length });
    let last = '';
    let stableSince = Date.now();
    await until(
      'every pod attributed, or no change for 3 s',
      async () => {
        await scrape();
        const c = count();
        const now = JSON.stringify(c);
        if (now !== last) (last = now), (stableSince = Date.now());
        return (c.tcp === names.length && c.dns === names.length) || Date.now() - stableSince > 3000;
      },
      { everyMs: 250, timeoutMs: 30_000 },
    );
    return count();
  };

  // ── 10 pods, 100 ms apart ──
  const ten = await launch('job-ten', 10, 100);
  const tenCounts = await settle(ten);
  t.equal(tenCounts.tcp, 10, `10 pods 100 ms apart: connects attributed ${tenCounts.tcp}/10`);
  t.equal(tenCounts.dns, 10, `10 pods 100 ms apart: DNS queries attributed ${tenCounts.dns}/10`);
  t.equal(of('kubepulse_tcp_connections_total', { namespace: ns, workload: 'job-ten', node, result: 'established' }), 10, 'with their workload (the Job)');
  t.equal(of('kubepulse_dns_responses_total', { namespace: ns, workload: 'job-ten', node, rcode: 'NOERROR' }), 10, 'and every answer matched to its query');

  // ── pods whose object arrives after their container has come and gone ──
  const heldBefore = of('kubepulse_events_held_total');
  const late = await launch('job-late', 3, 100, 300);
  const lateCounts = await settle(late);
  // Their cgroups are in the flows map too, read each second by the live
  // stream's flow ticker outside any hold: its "pod unknown" answer must not
  // release the held events (it did, in about half the runs).
  t.equal(lateCounts.tcp, 3, `pod object 300 ms late: connects attributed ${lateCounts.tcp}/3`);
  t.equal(lateCounts.dns, 3, `pod object 300 ms late: DNS queries attributed ${lateCounts.dns}/3`);
  t.ok(of('kubepulse_events_held_total') > heldBefore, `they were held for the pod (events_held_total ${heldBefore} → ${of('kubepulse_events_held_total')})`);

  // ── a pod the API never serves (another kubelet's): not the host's, counted as unattributed ──
  await scrape();
  const podUnknownBefore = of('kubepulse_unattributed_events_total', { probe: 'dns', reason: 'pod_unknown' });
  const orphanDomain = `kp${randomBytes(4).toString('hex')}.net`;
  await runContainer(randomUUID(), randomContainerId(), `orphan.${orphanDomain}`);
  await until('the orphan query counted', async () => (await scrape(), of('kubepulse_dns_queries_total', { domain: orphanDomain }) >= 1), {
    everyMs: 250,
    timeoutMs: 15_000,
  }).catch(() => undefined);
  t.same(
    metrics.filter((q) => q.name === 'kubepulse_dns_queries_total' && q.labels.domain === orphanDomain).map((q) => [q.labels.namespace, q.labels.pod, q.value]),
    [['', '', 1]],
    'an orphan pod\'s query is labelled like the host (after the hold)',
  );
  t.ok(
    of('kubepulse_unattributed_events_total', { probe: 'dns', reason: 'pod_unknown' }) > podUnknownBefore,
    'and counted in kubepulse_unattributed_events_total{probe="dns",reason="pod_unknown"}',
  );

  // ── a crash-looping container: 10 restarts, a new cgroup every 500 ms ──
  const loopName = `crashloop-${randomBytes(2).toString('hex')}`;
  const loopUid = randomUUID();
  api.addPod(jobPod(loopName, loopUid, 'crashloop'));
  let previous: string | undefined;
  const reports: Array<Promise<void>> = [];
  for (let restart = 0; restart < 10; restart++) {
    const id = randomContainerId();
    await runContainer(loopUid, id, `${loopName}.newpods.example.com`);
    const prev = previous;
    reports.push(sleep(1000).then(() => reportContainer(loopName, id, prev)));
    previous = id;
    await sleep(500);
  }
  await Promise.all(reports);
  await until('the crash loop counted', async () => (await scrape(), tcpOf(loopName) >= 10 && dnsOf(loopName) >= 10), {
    everyMs: 250,
    timeoutMs: 15_000,
    describe: () => `tcp ${tcpOf(loopName)}, dns ${dnsOf(loopName)}; unattributed ${unattributed().join(', ')}`,
  }).catch(() => undefined);
  t.equal(tcpOf(loopName), 10, 'every restart of a crash-looping container: its connect attributed to the pod');
  t.equal(dnsOf(loopName), 10, 'and its DNS query');

  // ── 200 pods at 20 per second ──
  await scrape();
  const unattributedBefore = of('kubepulse_unattributed_events_total');
  const launchedAt = Date.now();
  const many = await launch('job-many', 200, 50);
  const launchedIn = Date.now() - launchedAt;
  const manyCounts = await settle(many);
  const lost = 400 - manyCounts.tcp - manyCounts.dns;
  const unattributedDuring = of('kubepulse_unattributed_events_total') - unattributedBefore;
  t.comment(`200 pods started over ${lastLaunchMs} ms, all reported after ${launchedIn} ms: connects ${manyCounts.tcp}/200, DNS ${manyCounts.dns}/200; unattributed meanwhile (any test's traffic on this kernel): ${unattributedDuring} [${unattributed().join(', ')}]`);
  // Why any was missed: the resolver logs (debug) a pod UID it stopped waiting for.
  for (const n of many.filter((n) => tcpOf(n) < 1 || dnsOf(n) < 1)) {
    const uid = uids.get(n)!;
    t.comment(`missed ${n} ${uid} tcp ${tcpOf(n)} dns ${dnsOf(n)}: ${JSON.stringify(daemon.logs.filter((l) => JSON.stringify(l).includes(uid)))}`);
  }
  t.comment(`events held so far ${of('kubepulse_events_held_total')}, holds ended by the bound ${of('kubepulse_events_hold_forced_total')}`);
  t.ok(manyCounts.tcp >= 198, `200 pods at 20/s: ≥ 99 % of connects attributed (${manyCounts.tcp}/200)`);
  t.ok(manyCounts.dns >= 198, `200 pods at 20/s: ≥ 99 % of DNS queries attributed (${manyCounts.dns}/200)`);
  t.ok(unattributedDuring >= lost, `the unattributed counter accounts for the ${lost} not attributed (${unattributedDuring} counted)`);
  t.equal(daemon.child.exitCode, null, 'the daemon never exited');
});
