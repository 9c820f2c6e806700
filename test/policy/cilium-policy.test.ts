import t from 'tap';
import { parse } from 'yaml';
import { generateCiliumPolicies, type CiliumNetworkPolicy, type CiliumRule } from '../../src/policy/cilium-policy.js';
import { toYamlStream } from '../../src/policy/network-policy.js';
import type { Flow } from '../../src/policy/types.js';
import { allFlows } from './fixtures/load.js';

const L3 = ['toEndpoints', 'fromEndpoints', 'toCIDR', 'fromCIDR'] as const;

/** Problems against the parts of the CiliumNetworkPolicy CRD schema (cilium.io/v2) the generator uses. */
function structureProblems(p: CiliumNetworkPolicy): string[] {
  const problems: string[] = [];
  const check = (ok: boolean, what: string): void => {
    if (!ok) problems.push(what);
  };
  check(p.apiVersion === 'cilium.io/v2', 'apiVersion');
  check(p.kind === 'CiliumNetworkPolicy', 'kind');
  check(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(p.metadata.name), 'metadata.name is a DNS subdomain');
  check(Object.keys(p.spec.endpointSelector.matchLabels).length > 0, 'endpointSelector is never empty');
  for (const [dir, rules] of [['ingress', p.spec.ingress], ['egress', p.spec.egress]] as const) {
    check(Array.isArray(rules) && rules.length > 0, `${dir} present`);
    for (const [i, r] of (rules as CiliumRule[]).entries()) {
      if (Object.keys(r).length === 0) continue; // default-deny marker
      const l3 = L3.filter((k) => r[k] !== undefined);
      check(l3.length === 1, `${dir}[${i}]: one L3 selector kind per rule`);
      const allowed: readonly string[] = dir === 'egress' ? ['toEndpoints', 'toCIDR'] : ['fromEndpoints', 'fromCIDR'];
      check(allowed.includes(l3[0] as string), `${dir}[${i}]: ${l3[0]} belongs to ${dir}`);
      check(r.toPorts !== undefined && r.toPorts.length === 1, `${dir}[${i}]: toPorts`);
      for (const port of r.toPorts?.[0]?.ports ?? []) {
        check(/^([0-9]{1,5}|[a-z0-9-]+)$/.test(port.port), `${dir}[${i}]: port ${port.port}`);
        check(['TCP', 'UDP', 'SCTP', 'ANY'].includes(port.protocol), `${dir}[${i}]: protocol ${port.protocol}`);
      }
      for (const c of [...(r.toCIDR ?? []), ...(r.fromCIDR ?? [])]) check(/\/(32|128)$/.test(c), `${dir}[${i}]: cidr ${c}`);
      for (const e of [...(r.toEndpoints ?? []), ...(r.fromEndpoints ?? [])]) check(Object.keys(e.matchLabels).length > 0, `${dir}[${i}]: empty endpoint selector`);
    }
  }
  return problems;
}

t.test('web as a CiliumNetworkPolicy', async (t) => {
  const { policies, warnings } = generateCiliumPolicies(allFlows());
  const web = policies.find((p) => p.workload === 'web')!.object;
  t.same(web.spec.endpointSelector, { matchLabels: { app: 'web', tier: 'frontend' } });
  t.same(web.spec.egress, [
    { toEndpoints: [{ matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'db', app: 'pg' } }], toPorts: [{ ports: [{ port: '5432', protocol: 'TCP' }] }] },
    {
      toEndpoints: [{ matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'kube-system', 'k8s-app': 'kube-dns' } }],
      toPorts: [{ ports: [{ port: '53', protocol: 'TCP' }, { port: '53', protocol: 'UDP' }] }],
    },
    { toEndpoints: [{ matchLabels: { app: 'cart' } }], toPorts: [{ ports: [{ port: '8080', protocol: 'TCP' }] }] },
    { toEndpoints: [{ matchLabels: { app: 'catalog' } }], toPorts: [{ ports: [{ port: '8081', protocol: 'TCP' }] }] },
    { toCIDR: ['192.168.1.10/32'], toPorts: [{ ports: [{ port: '10250', protocol: 'TCP' }] }] },
    { toCIDR: ['203.0.113.7/32', '2001:db8::1/128'], toPorts: [{ ports: [{ port: '443', protocol: 'TCP' }] }] },
  ]);
  // A rule mixing endpoints and CIDRs is split, both halves on the same ports.
  t.same(web.spec.ingress, [
    {
      fromEndpoints: [{ matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'ingress-nginx', 'app.kubernetes.io/component': 'controller', 'app.kubernetes.io/name': 'ingress-nginx' } }],
      toPorts: [{ ports: [{ port: '8080', protocol: 'TCP' }] }],
    },
    { fromCIDR: ['192.168.1.10/32', '198.51.100.4/32'], toPorts: [{ ports: [{ port: '8080', protocol: 'TCP' }] }] },
  ]);
  t.match(warnings.join('\n'), /cilium: node peers are written as CIDRs/);
});

t.test('a direction with nothing observed becomes an explicit default-deny', async (t) => {
  const pg = generateCiliumPolicies(allFlows()).policies.find((p) => p.workload === 'pg')!.object;
  t.same(pg.spec.egress, [{}]);
});

t.test('structure of every generated object', async (t) => {
  const { policies } = generateCiliumPolicies(allFlows());
  t.equal(policies.length, 3);
  for (const p of policies) t.same(structureProblems(p.object), [], `${p.namespace}/${p.workload}`);
});

t.test('deterministic and round-trips through YAML', async (t) => {
  const render = (flows: Flow[]) => toYamlStream(generateCiliumPolicies(flows).policies.map((p) => p.object));
  const once = render(allFlows());
  t.equal(render(allFlows().reverse()), once);
  const docs = once.split(/^---\n/m).map((d) => parse(d) as unknown);
  t.same(docs, generateCiliumPolicies(allFlows()).policies.map((p) => p.object));
});
