// src/policy/rules.ts: observed flows → allow-lists per workload, before any
// rendering. Each case is a few flows and the rules or warnings they give.
import t from 'tap';
import { buildWorkloadRules } from '../../src/policy/rules.js';
import type { Flow, FlowPeer } from '../../src/policy/types.js';

const WEB_LABELS = { app: 'web', 'pod-template-hash': '7d9f' };

function egress(port: number, peer: FlowPeer, protocol: Flow['protocol'] = 'TCP'): Flow {
  return { namespace: 'shop', pod: 'web-1', workload: 'web', podLabels: WEB_LABELS, direction: 'egress', protocol, port, peer };
}
const pod = (namespace: string, workload: string, app: string): FlowPeer => ({ kind: 'pod', namespace, pod: `${workload}-0`, workload, labels: { app, 'controller-revision-hash': 'abc' } });
const external = (address: string): FlowPeer => ({ kind: 'external', address });

t.test('peers share a rule only when seen on the same ports: no unobserved (peer, port) pair is allowed', async (t) => {
  const { workloads } = buildWorkloadRules([
    egress(5432, pod('db', 'pg', 'pg')),
    egress(6379, pod('shop', 'cache', 'cache')),
    egress(5432, pod('db', 'pg-replica', 'pg-replica')),
    egress(6379, pod('db', 'pg-replica', 'pg-replica')),
    egress(5432, pod('db', 'pg', 'pg')), // seen twice
  ]);
  t.equal(workloads.length, 1);
  const rules = workloads[0]!.egress.map((r) => `${r.peers.map((p) => (p.type === 'selector' ? `${p.namespace}:${p.labels.app}` : p.cidr)).join('+')} @ ${r.ports.map((p) => `${p.protocol}/${p.port}`).join(',')}`);
  t.same(rules, ['db:pg @ TCP/5432', 'db:pg-replica @ TCP/5432,TCP/6379', 'shop:cache @ TCP/6379']);
  t.same(workloads[0]!.selector, { app: 'web' }, 'selected by stable labels, never pod-template-hash');
});

t.test('peer kinds', async (t) => {
  const cases: Array<[string, Flow, string]> = [
    ['DNS to an in-cluster peer goes to the cluster DNS, UDP and TCP', egress(53, { kind: 'service', namespace: 'kube-system', name: 'kube-dns', selector: { 'k8s-app': 'kube-dns' } }, 'UDP'), 'kube-system:k8s-app=kube-dns @ TCP/53,UDP/53'],
    ['a Service becomes its selector on the targetPort', egress(80, { kind: 'service', namespace: 'shop', name: 'api', selector: { app: 'api' }, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] }), 'shop:app=api @ TCP/8080'],
    ['a named targetPort stays named', egress(443, { kind: 'service', namespace: 'shop', name: 'api', selector: { app: 'api' }, ports: [{ port: 443, targetPort: 'https' }] }), 'shop:app=api @ TCP/https'],
    ['an external IPv4 address is a /32', egress(443, external('93.184.216.34')), '93.184.216.34/32 @ TCP/443'],
    ['an external IPv6 address is a /128', egress(443, external('2606:2800:220:1::1')), '2606:2800:220:1::1/128 @ TCP/443'],
    ['a node is a /32 too', egress(10250, { kind: 'node', address: '10.0.0.5' }), '10.0.0.5/32 @ TCP/10250'],
  ];
  for (const [name, flow, want] of cases) {
    const { workloads } = buildWorkloadRules([flow]);
    const r = workloads[0]!.egress[0]!;
    const peer = r.peers[0]!;
    const got = `${peer.type === 'selector' ? `${peer.namespace}:${Object.entries(peer.labels).map(([k, v]) => `${k}=${v}`).join(',')}` : peer.cidr} @ ${r.ports.map((p) => `${p.protocol}/${p.port}`).join(',')}`;
    t.equal(got, want, name);
  }
});

t.test('addresses sort by value, not as text', async (t) => {
  const { workloads } = buildWorkloadRules([egress(443, external('10.0.0.10')), egress(443, external('10.0.0.9')), egress(443, external('9.9.9.9'))]);
  t.same(workloads[0]!.egress[0]!.peers.map((p) => (p.type === 'cidr' ? p.cidr : '')), ['9.9.9.9/32', '10.0.0.9/32', '10.0.0.10/32']);
});

t.test('what cannot be expressed is said, and nothing is written unless --allow-partial', async (t) => {
  const flows = [egress(5432, pod('db', 'pg', 'pg')), egress(80, { kind: 'service', namespace: 'shop', name: 'legacy' })];
  const strict = buildWorkloadRules(flows);
  t.same(strict.workloads, []);
  t.same(strict.warnings, [
    'db/pg: no observed traffic of its own; no policy written (a policy from no traffic would deny everything)',
    'shop/web: no policy written, 1 observed peer(s) cannot be expressed: egress service shop/legacy has no selector (its endpoints are not pods a selector can match; allow their addresses with an ipBlock)',
  ]);
  const partial = buildWorkloadRules(flows, { allowPartial: true });
  t.equal(partial.workloads[0]!.egress.length, 1, 'the rest is written');
  t.match(partial.warnings, [/db\/pg: no observed traffic/, /shop\/web: policy leaves out 1 observed peer\(s\) \(--allow-partial\)/, /shop\/web: no ingress observed; the policy denies all ingress/]);
});

t.test('service ports that are not known are assumed equal to the target port, with a note', async (t) => {
  const { workloads, warnings } = buildWorkloadRules([
    egress(80, { kind: 'service', namespace: 'shop', name: 'a', selector: { app: 'a' } }),
    egress(81, { kind: 'service', namespace: 'shop', name: 'b', selector: { app: 'b' }, ports: [{ port: 80, targetPort: 8080 }] }),
  ]);
  t.same(workloads[0]!.egress.map((r) => r.ports[0]!.port), [80, 81]);
  t.match(warnings, [/no ingress observed/, 'service shop/a: no port list known, assuming targetPort = port 80', 'service shop/b: port TCP/81 is not in its port list, assuming targetPort = port']);
});

t.test('a workload without stable labels gets no policy; filters pick workloads', async (t) => {
  const unlabelled: Flow = { ...egress(443, external('1.1.1.1')), podLabels: { 'pod-template-hash': 'x' } };
  t.match(buildWorkloadRules([unlabelled]).warnings, ['shop/web: no stable pod labels known, so no selector can pick its pods; no policy written']);
  const other: Flow = { ...egress(443, external('1.1.1.1')), namespace: 'ops', workload: 'cron', pod: 'cron-1', podLabels: { app: 'cron' } };
  t.same(buildWorkloadRules([egress(443, external('1.1.1.1')), other], { namespace: 'ops' }).workloads.map((w) => `${w.namespace}/${w.workload}`), ['ops/cron']);
  t.match(buildWorkloadRules([other], { workload: 'ghost' }).warnings, ['*/ghost: no observed traffic of its own; no policy written (a policy from no traffic would deny everything)']);
});
