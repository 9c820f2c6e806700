// The NetworkPolicy and Namespace watches (src/drift/policy-store.ts)
// against the test API server's real list+watch protocol.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PolicyStore } from '../../src/drift/policy-store.js';
import { TestKubeApiServer } from '../support/kube-api-server.js';
import { writeKubeconfig } from '../support/kubeconfig.js';
import { recordingLogger, until } from '../metadata/fixtures/harness.js';

const policy = (namespace: string, name: string, app: string) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { namespace, name, annotations: { big: 'x'.repeat(100) }, managedFields: [{ manager: 'kubectl' }] },
  spec: { podSelector: { matchLabels: { app } }, policyTypes: ['Ingress'] },
});

t.test('lists, then follows changes; keeps only what it needs', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-policy-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const server = new TestKubeApiServer();
  await server.start();
  t.teardown(() => server.stop());
  server.addNamespace({ metadata: { name: 'shop', labels: { team: 'a' } } });
  server.addNetworkPolicy(policy('shop', 'web', 'web'));
  const log = recordingLogger();
  const store = new PolicyStore({ kubeconfig: writeKubeconfig(dir, server.url, server.token), log, backoffInitialMs: 50, backoffMaxMs: 200 });
  t.teardown(() => store.stop());
  let changes = 0;
  store.onChange(() => changes++);
  store.start();
  t.ok(await store.waitForSync(60_000), `synced ${JSON.stringify(log.lines)}`);
  t.same([...store.all()].map((p) => p.metadata), [{ name: 'web', namespace: 'shop', resourceVersion: [...store.all()][0]!.metadata!.resourceVersion }]);
  t.same(store.namespaceLabels('shop'), { team: 'a', 'kubernetes.io/metadata.name': 'shop' }, 'namespace labels, with the name label the API server sets');
  t.equal(store.namespaceLabels('absent'), undefined);
  const gen = store.generation;
  server.addNetworkPolicy(policy('shop', 'db', 'db'));
  await until('the added policy', () => (store.size === 2 ? true : undefined), { timeoutMs: 15_000 });
  t.ok(store.generation > gen, 'a change bumps the generation');
  server.modifyNamespace({ metadata: { name: 'shop', labels: { team: 'b' } } });
  await until('the relabelled namespace', () => (store.namespaceLabels('shop')?.team === 'b' ? true : undefined), { timeoutMs: 15_000 });
  server.deleteNetworkPolicy('shop', 'web');
  await until('the deleted policy', () => (store.size === 1 ? true : undefined), { timeoutMs: 15_000 });
  // 410 Gone: a re-list replaces what was kept.
  server.injectGone();
  server.addNetworkPolicy(policy('shop', 'after-gone', 'x'));
  await until('after the re-list', () => ([...store.all()].some((p) => p.metadata?.name === 'after-gone') ? true : undefined), { timeoutMs: 15_000 });
  const paths = new Set(server.requests.map((r) => `${r.path}${r.watch ? ' watch' : ''}`));
  for (const p of ['/apis/networking.k8s.io/v1/networkpolicies', '/apis/networking.k8s.io/v1/networkpolicies watch', '/api/v1/namespaces', '/api/v1/namespaces watch'])
    t.ok(paths.has(p), `${p} requested (list, then watch)`);

  t.ok(changes >= 5, `listeners told of every change (${changes})`);
});
