import t from 'tap';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { generateNetworkPolicies, toYamlStream, type K8sNetworkPolicy } from '../../src/policy/network-policy.js';
import type { Flow } from '../../src/policy/types.js';
import { allFlows } from './fixtures/load.js';

function byWorkload(flows: Flow[]): Map<string, K8sNetworkPolicy> {
  const { policies } = generateNetworkPolicies(flows);
  return new Map(policies.map((p) => [`${p.namespace}/${p.workload}`, p.object]));
}

t.test('web: every observed peer and port, grouped and nothing else', async (t) => {
  const { policies, warnings } = generateNetworkPolicies(allFlows());
  t.same(
    policies.map((p) => `${p.namespace}/${p.workload}`),
    ['db/pg', 'shop/migrate', 'shop/web'],
  );
  const web = byWorkload(allFlows()).get('shop/web')!;
  t.same(web.metadata, {
    name: 'kubepulse-web',
    namespace: 'shop',
    labels: { 'app.kubernetes.io/managed-by': 'kubepulse' },
    annotations: { 'kubepulse.io/workload': 'Deployment/web' },
  });
  // Stable labels: pod-template-hash dropped, the canary-only label not shared by both pods.
  t.same(web.spec.podSelector, { matchLabels: { app: 'web', tier: 'frontend' } });
  t.same(web.spec.policyTypes, ['Ingress', 'Egress']);
  // Peers sorted by namespace, then labels; then addresses.
  t.same(web.spec.egress, [
    // cross namespace: namespaceSelector by kubernetes.io/metadata.name, StatefulSet per-pod labels dropped
    {
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'db' } }, podSelector: { matchLabels: { app: 'pg' } } }],
      ports: [{ protocol: 'TCP', port: 5432 }],
    },
    // DNS: the cluster DNS, UDP and TCP 53
    {
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
      ports: [{ protocol: 'TCP', port: 53 }, { protocol: 'UDP', port: 53 }],
    },
    // same namespace: podSelector only
    { to: [{ podSelector: { matchLabels: { app: 'cart' } } }], ports: [{ protocol: 'TCP', port: 8080 }] },
    // service peer → its selector; the Service port 80 becomes the targetPort 8081 (policy applies after DNAT)
    { to: [{ podSelector: { matchLabels: { app: 'catalog' } } }], ports: [{ protocol: 'TCP', port: 8081 }] },
    // node peer: /32 on its own port
    { to: [{ ipBlock: { cidr: '192.168.1.10/32' } }], ports: [{ protocol: 'TCP', port: 10250 }] },
    // two external peers on the same port share one rule; IPv6 gets /128
    { to: [{ ipBlock: { cidr: '203.0.113.7/32' } }, { ipBlock: { cidr: '2001:db8::1/128' } }], ports: [{ protocol: 'TCP', port: 443 }] },
  ]);
  t.same(web.spec.ingress, [
    {
      from: [
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } },
          podSelector: { matchLabels: { 'app.kubernetes.io/component': 'controller', 'app.kubernetes.io/name': 'ingress-nginx' } },
        },
        { ipBlock: { cidr: '192.168.1.10/32' } },
        { ipBlock: { cidr: '198.51.100.4/32' } },
      ],
      ports: [{ protocol: 'TCP', port: 8080 }],
    },
  ]);
  t.match(warnings.join('\n'), /shop\/cart: no observed traffic of its own; no policy written/);
  t.notMatch(warnings.join('\n'), /shop\/web/);
});

t.test('job labels and StatefulSet pod names never reach a selector', async (t) => {
  const m = byWorkload(allFlows());
  t.same(m.get('shop/migrate')!.spec.podSelector, { matchLabels: { app: 'migrate' } });
  const pg = m.get('db/pg')!;
  t.same(pg.spec.podSelector, { matchLabels: { app: 'pg' } });
  t.same(pg.spec.ingress, [
    {
      from: [
        { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } }, podSelector: { matchLabels: { app: 'migrate' } } },
        { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } }, podSelector: { matchLabels: { app: 'web', tier: 'frontend' } } },
      ],
      ports: [{ protocol: 'TCP', port: 5432 }],
    },
  ]);
  t.same(pg.spec.egress, []);
  t.same(pg.spec.policyTypes, ['Ingress', 'Egress']);
});

t.test('a direction with nothing observed is denied on purpose, with a warning', async (t) => {
  const { warnings } = generateNetworkPolicies(allFlows());
  t.ok(warnings.includes('db/pg: no egress observed; the policy denies all egress'));
  t.ok(warnings.includes('shop/migrate: no ingress observed; the policy denies all ingress'));
});

t.test('no observed traffic: a warning and no policy, never a deny-all', async (t) => {
  const r = generateNetworkPolicies(allFlows(), { namespace: 'shop', workload: 'cart' });
  t.same(r.policies, []);
  t.same(r.warnings, ['shop/cart: no observed traffic of its own; no policy written (a policy from no traffic would deny everything)']);
  const none = generateNetworkPolicies(allFlows(), { namespace: 'shop', workload: 'ghost' });
  t.same(none.policies, []);
  t.match(none.warnings[0], /^shop\/ghost: no observed traffic/);
  t.same(generateNetworkPolicies([]).policies, []);
});

t.test('filters select the subject workloads; peers still resolve from all data', async (t) => {
  const r = generateNetworkPolicies(allFlows(), { namespace: 'db' });
  t.same(r.policies.map((p) => p.workload), ['pg']);
  t.equal(r.policies[0]!.object.spec.ingress[0]!.from.length, 2);
});

t.test('DNS to an address outside the cluster stays an ipBlock on what was seen', async (t) => {
  const f: Flow = {
    namespace: 'shop', pod: 'web-1', workload: 'web', podLabels: { app: 'web' },
    direction: 'egress', protocol: 'UDP', port: 53, peer: { kind: 'external', address: '8.8.8.8' },
  };
  const [p] = generateNetworkPolicies([f]).policies;
  t.same(p!.object.spec.egress, [{ to: [{ ipBlock: { cidr: '8.8.8.8/32' } }], ports: [{ protocol: 'UDP', port: 53 }] }]);
  const custom = generateNetworkPolicies([{ ...f, peer: { kind: 'pod', namespace: 'dns', workload: 'coredns', labels: { app: 'coredns' } } }], {
    clusterDns: { namespace: 'dns', labels: { app: 'coredns' } },
  });
  t.same(custom.policies[0]!.object.spec.egress[0]!.to, [
    { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'dns' } }, podSelector: { matchLabels: { app: 'coredns' } } },
  ]);
});

t.test('peers that cannot be expressed: no policy unless --allow-partial', async (t) => {
  const base: Flow = { namespace: 'shop', pod: 'op-1', workload: 'op', podLabels: { app: 'op' }, direction: 'egress', protocol: 'TCP', port: 443, peer: { kind: 'service', namespace: 'default', name: 'kubernetes', address: '10.96.0.1' } };
  const strict = generateNetworkPolicies([base, { ...base, port: 80, peer: { kind: 'external', address: '1.2.3.4' } }]);
  t.same(strict.policies, []);
  t.match(strict.warnings[0], /shop\/op: no policy written, 1 observed peer\(s\) cannot be expressed: egress service default\/kubernetes has no selector/);
  const partial = generateNetworkPolicies([base, { ...base, port: 80, peer: { kind: 'external', address: '1.2.3.4' } }], { allowPartial: true });
  t.equal(partial.policies.length, 1);
  t.same(partial.policies[0]!.object.spec.egress, [{ to: [{ ipBlock: { cidr: '1.2.3.4/32' } }], ports: [{ protocol: 'TCP', port: 80 }] }]);
  t.match(partial.warnings.join('\n'), /leaves out 1 observed peer/);
});

t.test('a workload whose pods share no stable label gets no selector-less policy', async (t) => {
  const f: Flow = { namespace: 'shop', pod: 'x-5d-abc', workload: 'x', podLabels: { 'pod-template-hash': '5d' }, direction: 'egress', protocol: 'TCP', port: 80, peer: { kind: 'external', address: '1.2.3.4' } };
  const r = generateNetworkPolicies([f]);
  t.same(r.policies, []);
  t.match(r.warnings[0], /shop\/x: no stable pod labels known/);
});

t.test('service named targetPort and unknown port list', async (t) => {
  const f: Flow = {
    namespace: 'a', pod: 'c-1', workload: 'c', podLabels: { app: 'c' }, direction: 'egress', protocol: 'TCP', port: 80,
    peer: { kind: 'service', namespace: 'a', name: 's', selector: { app: 's' }, ports: [{ port: 80, targetPort: 'http' }] },
  };
  const named = generateNetworkPolicies([f]);
  t.same(named.policies[0]!.object.spec.egress[0]!.ports, [{ protocol: 'TCP', port: 'http' }]);
  t.doesNotThrow(() => new NetworkPolicy(named.policies[0]!.object).validate());
  const { ports: _drop, ...peerNoPorts } = f.peer;
  const unknown = generateNetworkPolicies([{ ...f, peer: peerNoPorts }]);
  t.same(unknown.policies[0]!.object.spec.egress[0]!.ports, [{ protocol: 'TCP', port: 80 }]);
  t.match(unknown.warnings.join('\n'), /service a\/s: no port list known, assuming targetPort = port 80/);
});

t.test('every generated policy validates against the Kubernetes schema', async (t) => {
  const { policies } = generateNetworkPolicies(allFlows());
  t.same(policies.map((p) => `${p.namespace}/${p.workload}`), ['db/pg', 'shop/migrate', 'shop/web'], 'one per observed workload');
  for (const p of policies) {
    t.doesNotThrow(() => new NetworkPolicy(p.object).validate(), `${p.namespace}/${p.workload}`);
  }
});

t.test('deterministic: byte-identical twice and whatever the input order', async (t) => {
  const once = toYamlStream(generateNetworkPolicies(allFlows()).policies.map((p) => p.object));
  const twice = toYamlStream(generateNetworkPolicies(allFlows()).policies.map((p) => p.object));
  t.equal(once, twice);
  const reversed = allFlows().reverse();
  t.equal(toYamlStream(generateNetworkPolicies(reversed).policies.map((p) => p.object)), once);
  // A fixed shuffle, with object keys reordered too.
  const shuffled = allFlows()
    .map((f, i) => ({ f, k: (i * 7919) % 13 }))
    .sort((a, b) => a.k - b.k)
    .map(({ f }) => ({ ...Object.fromEntries(Object.entries(f).reverse()) }) as Flow);
  t.equal(toYamlStream(generateNetworkPolicies(shuffled).policies.map((p) => p.object)), once);
  t.notMatch(once, /&a|\*a/, 'no YAML anchors');
});
