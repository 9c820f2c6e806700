// Every posture check, table-driven: a pod spec (through postureOf, as the
// index keeps it), runtime facts and policy selection in; the violations,
// severities and evidence out.
import t from 'tap';
import type { V1Container, V1Pod, V1PodSpec } from '@kubernetes/client-node';
import { AUDIT_CHECKS, type AuditCheck, type Violation } from '../../src/api/audit.js';
import { evaluatePod, hostPathSeverity, ignoredChecks, type PodFacts } from '../../src/audit/checks.js';
import type { ContainerRuntimeFacts } from '../../src/audit/runtime.js';
import { postureOf } from '../../src/metadata/pod-posture.js';

/** A container that passes every check. */
const CLEAN: V1Container = {
  name: 'app',
  image: 'ghcr.io/acme/app:1.0',
  resources: { limits: { cpu: '1', memory: '1Gi' } },
  securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true },
};

function pod(spec: Partial<V1PodSpec>, containers: Array<Partial<V1Container>> = [{}], annotations: Record<string, string> = {}): V1Pod {
  return {
    metadata: { name: 'p', namespace: 'ns', uid: 'u', annotations },
    spec: { ...spec, containers: containers.map((c) => ({ ...CLEAN, ...c, securityContext: { ...CLEAN.securityContext, ...c.securityContext } })) },
  };
}

function run(p: V1Pod, extra: Partial<PodFacts> = {}, checks: readonly AuditCheck[] = AUDIT_CHECKS): Violation[] {
  return evaluatePod({ posture: postureOf(p), runtime: new Map(), networkPolicies: ['ns/any'], ...extra }, new Set(checks), { allowedRegistries: ['ghcr.io/acme'] });
}

const brief = (vs: Violation[]) => vs.map((v) => `${v.check}:${v.severity}:${v.container}`);

t.test('a clean pod has no violation', async (t) => {
  t.same(run(pod({})), []);
});

t.test('each check', async (t) => {
  const cases: Array<{ name: string; pod: V1Pod; facts?: Partial<PodFacts>; want: string[]; evidence?: Violation['evidence'] }> = [
    { name: 'privileged', pod: pod({}, [{ securityContext: { privileged: true, allowPrivilegeEscalation: true } }]), want: ['privileged:high:app', 'privilege_escalation:medium:app'], evidence: { field: 'spec.containers[0].securityContext.privileged', value: true } },
    { name: 'privilege_escalation unset', pod: pod({}, [{ securityContext: { allowPrivilegeEscalation: undefined as unknown as boolean } }]), want: ['privilege_escalation:medium:app'], evidence: { field: 'spec.containers[0].securityContext.allowPrivilegeEscalation', value: 'unset' } },
    { name: 'capabilities: a high one', pod: pod({}, [{ securityContext: { capabilities: { add: ['CHOWN', 'SYS_ADMIN', 'NET_RAW'] } } }]), want: ['capabilities:high:app'], evidence: { field: 'spec.containers[0].securityContext.capabilities.add', capabilities: 'SYS_ADMIN,NET_RAW' } },
    { name: 'capabilities: CAP_ prefix, medium only', pod: pod({}, [{ securityContext: { capabilities: { add: ['CAP_NET_ADMIN'] } } }]), want: ['capabilities:medium:app'] },
    { name: 'capabilities: harmless ones', pod: pod({}, [{ securityContext: { capabilities: { add: ['CHOWN', 'NET_BIND_SERVICE'] } } }]), want: [] },
    { name: 'host_path: runtime socket', pod: pod({ volumes: [{ name: 'sock', hostPath: { path: '/run/containerd/containerd.sock' } }] }), want: ['host_path:high:'], evidence: { field: 'spec.volumes[sock].hostPath.path', volume: 'sock', path: '/run/containerd/containerd.sock' } },
    { name: 'host_path: a log directory', pod: pod({ volumes: [{ name: 'logs', hostPath: { path: '/var/log/app' } }] }), want: ['host_path:medium:'] },
    { name: 'host_path: two, each listed', pod: pod({ volumes: [{ name: 'a', hostPath: { path: '/etc' } }, { name: 'b', hostPath: { path: '/data' } }, { name: 'c', emptyDir: {} }] }), want: ['host_path:high:', 'host_path:medium:'] },
    { name: 'host_namespaces: hostNetwork only', pod: pod({ hostNetwork: true }), want: ['host_namespaces:medium:'], evidence: { field: 'spec.hostNetwork', namespaces: 'hostNetwork' } },
    { name: 'host_namespaces: hostPID and hostIPC', pod: pod({ hostPID: true, hostIPC: true }), want: ['host_namespaces:high:'], evidence: { field: 'spec.hostPID,spec.hostIPC', namespaces: 'hostPID,hostIPC' } },
    { name: 'host_port', pod: pod({}, [{ ports: [{ containerPort: 80, hostPort: 8080 }, { containerPort: 9 }] }]), want: ['host_port:medium:app'], evidence: { field: 'spec.containers[0].ports[].hostPort', ports: '8080' } },
    { name: 'image_registry', pod: pod({}, [{ image: 'docker.io/evil/miner:1' }]), want: ['image_registry:medium:app'], evidence: { field: 'spec.containers[0].image', image: 'docker.io/evil/miner:1', registry: 'docker.io' } },
    { name: 'image_tag: none', pod: pod({}, [{ image: 'ghcr.io/acme/app' }]), want: ['image_tag:low:app'], evidence: { field: 'spec.containers[0].image', image: 'ghcr.io/acme/app', tag: 'none' } },
    { name: 'image_tag: latest', pod: pod({}, [{ image: 'ghcr.io/acme/app:latest' }]), want: ['image_tag:low:app'] },
    { name: 'image_tag: latest pinned by digest is fine', pod: pod({}, [{ image: 'ghcr.io/acme/app:latest@sha256:00' }]), want: [] },
    { name: 'no_limits: memory missing', pod: pod({}, [{ resources: { limits: { cpu: '1' } } }]), want: ['no_limits:low:app'], evidence: { field: 'spec.containers[0].resources.limits', missing: 'memory' } },
    { name: 'no_limits: none', pod: pod({}, [{ resources: {} }]), want: ['no_limits:low:app'] },
    { name: 'writable_root_fs', pod: pod({}, [{ securityContext: { readOnlyRootFilesystem: false } }]), want: ['writable_root_fs:low:app'], evidence: { field: 'spec.containers[0].securityContext.readOnlyRootFilesystem', value: false } },
    { name: 'no_network_policy', pod: pod({}), facts: { networkPolicies: [] }, want: ['no_network_policy:medium:'], evidence: { policies: 0 } },
    { name: 'no_network_policy: policies not known yet → nothing said', pod: pod({}), facts: { networkPolicies: undefined }, want: [] },
    {
      name: 'runs_as_root and seccomp_unconfined from the runtime, whatever the spec says',
      pod: pod({}, [{ securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } } }]),
      facts: { runtime: new Map<string, ContainerRuntimeFacts>([['app', { processes: 3, root: { pid: 41, command: 'nginx' }, unconfined: { pid: 42, command: 'sh' } }]]) },
      want: ['runs_as_root:medium:app', 'seccomp_unconfined:medium:app'],
      evidence: { pid: 41, uid: 0, command: 'nginx', processes: 3 },
    },
    { name: 'runtime facts of a non-root, filtered container', pod: pod({}), facts: { runtime: new Map([['app', { processes: 2 }]]) }, want: [] },
    {
      name: 'init containers are checked, with their own field path',
      pod: { ...pod({}), spec: { containers: [CLEAN], initContainers: [{ ...CLEAN, name: 'setup', securityContext: { ...CLEAN.securityContext, privileged: true } }] } },
      want: ['privileged:high:setup'],
      evidence: { field: 'spec.initContainers[0].securityContext.privileged', value: true },
    },
  ];
  for (const c of cases) {
    const got = run(c.pod, c.facts);
    t.same(brief(got), c.want, c.name);
    if (c.evidence !== undefined) t.same(got[0]?.evidence, c.evidence, `${c.name}: evidence`);
  }
});

t.test('disabled checks say nothing', async (t) => {
  const p = pod({ hostPID: true }, [{ image: 'nginx', securityContext: { privileged: true } }]);
  t.same(brief(run(p, {}, ['privileged'])), ['privileged:high:app']);
  t.same(run(p, {}, []), []);
});

t.test('host path severities', async (t) => {
  for (const [path, want] of [
    ['/', 'high'],
    ['/etc/kubernetes', 'high'],
    ['/proc', 'high'],
    ['/sys/fs/cgroup', 'high'],
    ['/var/lib/kubelet/pods', 'high'],
    ['/var/run', 'high'], // holds docker.sock
    ['/run/', 'high'],
    ['/var/run/docker.sock', 'high'],
    ['/var', 'high'],
    ['/var/log', 'medium'],
    ['/opt/data', 'medium'],
    ['/etcetera', 'medium'],
  ] as const) {
    t.equal(hostPathSeverity(path), want, path);
  }
});

t.test('the audit-ignore annotation', async (t) => {
  t.same(ignoredChecks(''), []);
  t.same(ignoredChecks(' host_path, no_limits ,host_path,'), ['host_path', 'no_limits']);
  t.same(ignoredChecks('typo_check'), ['typo_check'], 'unknown names are kept, so the API shows the typo');
});
