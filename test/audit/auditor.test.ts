// The auditor over a real PodIndex and registry: series follow the pods
// (added, fixed, deleted), exempt namespaces and the audit-ignore
// annotation, policy changes re-evaluate, the snapshot is sorted.
import t from 'tap';
import type { V1NetworkPolicy, V1Pod } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { AUDIT_CHECKS } from '../../src/api/audit.js';
import { Auditor } from '../../src/audit/auditor.js';
import { policySelectionOf } from '../../src/audit/policy-selection.js';
import type { ContainerRuntimeFacts, ScanResult } from '../../src/audit/runtime.js';
import { createLogger } from '../../src/log.js';
import { PodIndex } from '../../src/metadata/pod-index.js';
import { parseMetrics } from '../support/metrics.js';

const ID = 'a'.repeat(64);

function pod(namespace: string, name: string, privileged: boolean, annotations: Record<string, string> = {}): V1Pod {
  return {
    metadata: { namespace, name, uid: `${namespace}-${name}`, labels: { app: name }, annotations, resourceVersion: String(Math.random()) },
    spec: {
      containers: [{ name: 'c', image: 'ghcr.io/x:1', resources: { limits: { cpu: '1', memory: '1' } }, securityContext: { privileged, allowPrivilegeEscalation: privileged, readOnlyRootFilesystem: true } }],
    },
    status: { containerStatuses: [{ name: 'c', containerID: `containerd://${name === 'web' ? ID : 'b'.repeat(64)}`, image: '', imageID: '', ready: true, restartCount: 0 }] },
  };
}

t.test('series follow the pods', async (t) => {
  const registry = new Registry();
  const pods = new PodIndex();
  // The drift's policy store as the audit sees it: nothing listed yet.
  let listed: V1NetworkPolicy[] | undefined;
  const changed: Array<() => void> = [];
  const policies = policySelectionOf({ all: () => listed ?? [], isSynced: () => listed !== undefined, onChange: (l) => changed.push(l) });
  let runtime = new Map<string, ContainerRuntimeFacts>();
  const auditor = new Auditor({
    node: 'n1',
    pods,
    checks: new Set(AUDIT_CHECKS),
    exemptNamespaces: new Set(['kube-system']),
    allowedRegistries: [],
    policies,
    scan: (): ScanResult => ({ containers: runtime, dirs: 1, processes: runtime.size }),
    intervalMs: 60_000,
    registry,
    log: createLogger('error'),
  });
  t.teardown(() => auditor.stop());
  const series = async () =>
    parseMetrics(await registry.metrics())
      .filter((s) => s.name === 'kubepulse_audit_violations')
      .map((s) => `${s.labels.namespace}/${s.labels.pod}/${s.labels.container}/${s.labels.check}/${s.labels.severity}`)
      .sort();
  const podsGauge = async () => parseMetrics(await registry.metrics()).filter((s) => s.name === 'kubepulse_audit_pods').map((s) => `${s.labels.namespace}=${s.value}`);

  pods.upsert(pod('shop', 'web', true));
  pods.upsert(pod('shop', 'db', false));
  pods.upsert(pod('kube-system', 'proxy', true));
  auditor.start();
  t.same(await series(), ['shop/web/c/privilege_escalation/medium', 'shop/web/c/privileged/high'], 'policies not listed yet: no_network_policy not claimed; kube-system exempt');
  t.same(await podsGauge(), ['shop=2']);

  listed = [{ metadata: { namespace: 'shop', name: 'db-only' }, spec: { podSelector: { matchLabels: { app: 'db' } } } } as V1NetworkPolicy];
  for (const l of changed) l();
  await new Promise(setImmediate);
  t.same(await series(), ['shop/web//no_network_policy/medium', 'shop/web/c/privilege_escalation/medium', 'shop/web/c/privileged/high'], 'a policy change re-evaluates');

  runtime = new Map([[ID, { processes: 1, root: { pid: 7, command: 'nginx' } }]]);
  auditor.scanNow();
  t.ok((await series()).includes('shop/web/c/runs_as_root/medium'), 'a scan re-evaluates');
  t.same(auditor.snapshot().pods.map((p) => p.pod), ['db', 'web'], 'sorted');

  pods.upsert(pod('shop', 'web', false, { 'kubepulse.io/audit-ignore': 'no_network_policy,runs_as_root' }));
  t.same(await series(), [], 'fixed, and the rest ignored');
  t.same(auditor.snapshot().pods.find((p) => p.pod === 'web')?.ignoredChecks, ['no_network_policy', 'runs_as_root']);

  pods.upsert(pod('shop', 'web', true));
  pods.remove('shop-web');
  t.same(await series(), [], 'a deleted pod leaves nothing');
  t.same(await podsGauge(), ['shop=1']);
});
