// The posture audit end to end through the real daemon: real processes in
// kubelet-shaped cgroups on this machine's kernel, read back from /proc by
// the daemon; pods and a NetworkPolicy served by the API stand-in
// (test/support/kube-api-server.ts).
//
// - "risky": privileged, a hostPath to containerd's socket, its process
//   (sleep) running as UID 0 without a seccomp filter → exactly privileged,
//   privilege_escalation (a privileged container escalates by definition;
//   the API refuses allowPrivilegeEscalation: false beside privileged: true),
//   host_path (high, with the path), runs_as_root and seccomp_unconfined
//   (with its PID), on /metrics and /api/v1/violations;
// - "tidy": a clean spec and a process as UID 65534 under a seccomp filter
//   (test/support/seccomp-exec.c) → none;
// then the spec fixed → the spec's series removed, the runtime ones stay
// (the same root process runs); the audit-ignore annotation → those go too
// and the API shows the ignored checks; the NetworkPolicy deleted →
// no_network_policy on both; the pod deleted → its series gone.
import t from 'tap';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Container, V1NetworkPolicy, V1Pod } from '@kubernetes/client-node';
import type { PodViolations, ViolationsSnapshot } from '../../src/api/audit.js';
import { runCli, startDaemon, type RunningDaemon } from '../support/daemon.js';
import { TestKubeApiServer } from '../support/kube-api-server.js';
import { writeKubeconfig } from '../support/kubeconfig.js';
import type { Sample } from '../support/metrics.js';
import { needsPodCgroups, PodCgroups } from '../support/pod-cgroups.js';
import { needsBpf } from '../support/privileges.js';
import { buildSeccompExec, SLEEP_SYSCALLS } from '../support/seccomp.js';
import { until } from '../support/until.js';

function skipReason(): { skip: string | false } {
  const bpf = needsBpf();
  if (bpf.skip !== false) return bpf;
  return needsPodCgroups();
}
const skip = skipReason();

const randomContainerId = (): string => (randomUUID() + randomUUID()).replaceAll('-', '');

function status(pid: number): { uid: number; seccomp: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { uid: Number(/^Uid:\s+\d+\s+(\d+)/m.exec(text)?.[1]), seccomp: Number(/^Seccomp:\s+(\d+)/m.exec(text)?.[1]) };
}

t.test('posture audit: real processes, real cgroups, the real daemon', skip, async (t) => {
  const loader = buildSeccompExec();
  if (!loader.ok) {
    t.plan(0, `skipped: ${loader.skip}`);
    return;
  }
  const daemons: RunningDaemon[] = [];
  const cgroups = new PodCgroups('kubepulse-audit');
  const api = new TestKubeApiServer();
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-audit-'));
  t.teardown(async () => {
    for (const d of daemons) await d.stop();
    await cgroups.cleanup();
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await api.start();
  const node = `audit-node-${randomBytes(3).toString('hex')}`;
  const ns = `audit-${randomBytes(3).toString('hex')}`;

  // ── the processes, as they run before their pods are known ──
  const riskyUid = randomUUID();
  const riskyId = randomContainerId();
  const risky = cgroups.container(riskyUid, riskyId);
  const rootSleep = cgroups.spawnIn(risky.dir, ['sleep', '600'], { stdio: 'ignore' });
  const tidyUid = randomUUID();
  const tidyId = randomContainerId();
  const tidy = cgroups.container(tidyUid, tidyId);
  const allow = join(dir, 'allow');
  writeFileSync(allow, SLEEP_SYSCALLS.join('\n') + '\n');
  chmodSync(dir, 0o755); // seccomp-exec reads it as UID 65534
  const confined = cgroups.spawnIn(tidy.dir, ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', loader.path, allow, 'sleep', '600'], { stdio: 'ignore' });
  // Until the execs are done a scan would see sh (root, no filter) in tidy's cgroup.
  await until('the processes have become what the test says they are', () => {
    const r = status(rootSleep.pid!);
    const c = status(confined.pid!);
    return r.uid === 0 && r.seccomp === 0 && c.uid === 65534 && c.seccomp === 2 && readFileSync(`/proc/${confined.pid}/comm`, 'utf8').trim() === 'sleep';
  });

  // ── the cluster: two pods and a policy selecting every pod of the namespace ──
  const container = (name: string, extra: Partial<V1Container>): V1Container => ({
    name,
    image: 'registry.example/app:1.2',
    resources: { limits: { cpu: '100m', memory: '64Mi' } },
    ...extra,
  });
  const pod = (name: string, uid: string, id: string, spec: Partial<V1Pod['spec']>, annotations: Record<string, string> = {}): V1Pod => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, uid, labels: { app: name }, annotations },
    spec: { nodeName: node, containers: [], ...spec },
    status: { phase: 'Running', containerStatuses: [{ name: 'app', containerID: `containerd://${id}`, image: '', imageID: '', ready: true, restartCount: 0 }] },
  });
  const tidyContainer = container('app', { securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true } });
  const riskySpec: Partial<V1Pod['spec']> = {
    containers: [container('app', { securityContext: { privileged: true, readOnlyRootFilesystem: true } })],
    volumes: [{ name: 'runtime', hostPath: { path: '/run/containerd/containerd.sock' } }],
  };
  api.addPod(pod('risky', riskyUid, riskyId, riskySpec));
  api.addPod(pod('tidy', tidyUid, tidyId, { containers: [tidyContainer] }));
  const policy: V1NetworkPolicy = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'default-deny', namespace: ns }, spec: { podSelector: {}, policyTypes: ['Ingress'] } };
  api.addObject('networkpolicies', policy);

  const kubeconfig = writeKubeconfig(dir, api.url, api.token);
  const daemon = await startDaemon([
    '--kubeconfig', kubeconfig,
    '--node-name', node,
    '--probes', 'tcp',
    '--audit.interval', '1s',
    '--audit.allowed-registries', 'registry.example',
  ]);
  daemons.push(daemon);
  await daemon.waitReady(90_000); // the pod list is in

  let metrics: Sample[] = [];
  let snapshot: ViolationsSnapshot | undefined;
  const read = async () => {
    metrics = await daemon.scrape();
    snapshot = JSON.parse((await daemon.get('/api/v1/violations')).body) as ViolationsSnapshot;
  };
  /** This test's violation series, as `pod/container/check/severity`, sorted. */
  const series = () =>
    metrics
      .filter((s) => s.name === 'kubepulse_audit_violations' && s.labels.namespace === ns)
      .map((s) => {
        t.equal(s.value, 1);
        return `${s.labels.pod}/${s.labels.container}/${s.labels.check}/${s.labels.severity}`;
      })
      .sort();
  const podOf = (name: string): PodViolations | undefined => snapshot?.pods.find((p) => p.namespace === ns && p.pod === name);
  const describe = () => JSON.stringify({ series: series(), pods: snapshot?.pods.filter((p) => p.namespace === ns), logs: daemon.logs.filter((l) => l.level !== 'debug').slice(-12) });
  const settle = async (what: string, expected: string[]) => {
    await until(what, async () => {
      await read();
      return JSON.stringify(series()) === JSON.stringify(expected);
    }, { timeoutMs: 30_000, everyMs: 250, describe });
  };

  // ── 1. exactly those violations, with evidence ──
  const RISKY_ALL = ['risky//host_path/high', 'risky/app/privilege_escalation/medium', 'risky/app/privileged/high', 'risky/app/runs_as_root/medium', 'risky/app/seccomp_unconfined/medium'];
  await settle('risky pod with its five violations, tidy pod with none', RISKY_ALL);
  t.equal(snapshot?.node, node);
  const riskyView = podOf('risky')!;
  t.same(riskyView.workload, 'risky');
  t.same(riskyView.ignoredChecks, []);
  const byCheck = Object.fromEntries(riskyView.violations.map((v) => [v.check, v]));
  t.same(byCheck.host_path?.evidence, { field: 'spec.volumes[runtime].hostPath.path', volume: 'runtime', path: '/run/containerd/containerd.sock' });
  t.same(byCheck.privileged?.evidence, { field: 'spec.containers[0].securityContext.privileged', value: true });
  t.match(byCheck.runs_as_root?.evidence, { pid: rootSleep.pid, uid: 0, command: 'sleep', processes: 1 });
  t.match(byCheck.seccomp_unconfined?.evidence, { pid: rootSleep.pid, seccomp: 0, command: 'sleep' });
  t.same(podOf('tidy')?.violations, [], 'the non-root process under a seccomp filter, with a clean spec, has none');
  t.equal(metrics.find((s) => s.name === 'kubepulse_audit_pods' && s.labels.namespace === ns)?.value, 2);

  // `kubepulse audit` against this agent: a CI gate.
  const audit = async (...args: string[]) => {
    // A generous timeout: the machine that runs the tests may be loaded.
    const r = await runCli(['audit', '--agent', daemon.url(''), '--timeout', '60s', ...args]);
    // An agent without the drift endpoint is a warning, not a failure; nothing else is said.
    t.match(r.stderr, /^(kubepulse audit: agent \S+: no \/api\/v1\/drift \(an older agent\): no drift data from it\n)?$/, `stderr of audit ${args.join(' ')}`);
    return r;
  };
  const high = await audit('--fail-on', 'high', '-o', 'json');
  t.equal(high.code, 1, 'high findings fail --fail-on high');
  const report = JSON.parse(high.stdout) as { findings: Array<{ check: string; severity: string; object: string; node: string; evidence: Record<string, unknown> }>; failing: number };
  t.same(report.findings.map((f) => `${f.severity}/${f.check}/${f.object}`), ['high/host_path/risky', 'high/privileged/risky', 'medium/privilege_escalation/risky', 'medium/runs_as_root/risky', 'medium/seccomp_unconfined/risky'], 'worst first');
  t.equal(report.failing, 2);
  t.equal(report.findings[0]?.node, node);
  const table = await audit();
  t.equal(table.code, 0, 'no --fail-on: exit 0');
  t.match(table.stdout, /high\s+privileged\s+\S+\s+risky\s+app\s+\S+\s+field=spec\.containers\[0\]\.securityContext\.privileged value=true/);
  t.match(table.stdout, /5 findings \(2 high, 3 medium, 0 low\)/);

  // ── 2. the spec fixed: its series go, the runtime truth stays ──
  api.modifyPod(pod('risky', riskyUid, riskyId, { containers: [container('app', tidyContainer)] }));
  await settle('the spec violations removed', ['risky/app/runs_as_root/medium', 'risky/app/seccomp_unconfined/medium']);

  // ── 3. the annotation turns the runtime checks off, visibly ──
  api.modifyPod(pod('risky', riskyUid, riskyId, { containers: [container('app', tidyContainer)] }, { 'kubepulse.io/audit-ignore': 'seccomp_unconfined, runs_as_root' }));
  await settle('the ignored checks removed', []);
  t.same(podOf('risky')?.ignoredChecks, ['runs_as_root', 'seccomp_unconfined']);
  const clean = await audit('--fail-on', 'low');
  t.equal(clean.code, 0, 'nothing left: --fail-on low passes');
  t.match(clean.stdout, new RegExp(`ignored by annotation: ${ns}/risky: runs_as_root,seccomp_unconfined`));

  // ── 4. no policy selects them any more ──
  api.deleteObject('networkpolicies', ns, 'default-deny');
  await settle('no_network_policy on both pods', ['risky//no_network_policy/medium', 'tidy//no_network_policy/medium']);
  t.equal((await audit('--fail-on', 'medium')).code, 1, 'medium findings fail --fail-on medium');
  t.equal((await audit('--fail-on', 'high')).code, 0, 'and pass --fail-on high');

  // ── 5. the pod gone: its series gone ──
  api.deletePod(ns, 'risky');
  await settle('the deleted pod has no series', ['tidy//no_network_policy/medium']);
  t.equal(metrics.find((s) => s.name === 'kubepulse_audit_pods' && s.labels.namespace === ns)?.value, 1);
});
