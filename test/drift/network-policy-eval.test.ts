// The NetworkPolicy evaluator against the cases of the upstream conformance
// suite (kubernetes/kubernetes test/e2e/network/netpol/network_policy.go,
// whose model and reachability matrices come from cyclonus) and the
// examples of the Kubernetes NetworkPolicy documentation
// (concepts/services-networking/network-policies). Each case names the
// upstream one it mirrors; the policies and expectations are written here
// from their description, in our own model of their cluster:
// namespaces x, y, z (labels ns=<name> and kubernetes.io/metadata.name),
// pods a, b, c in each (label pod=<name>), every pod serving TCP and UDP on
// 80 and 81 with named ports serve-<port>-<proto>.
// reach(from, to) is what a CNI enforcing the policies lets through: the
// source's egress and the destination's ingress must both allow it.
import t from 'tap';
import type { V1NetworkPolicy, V1NetworkPolicySpec } from '@kubernetes/client-node';
import {
  evaluateFlow,
  podSelectedByAnyPolicy,
  policyDirections,
  type NamedPort,
  type PolicyProtocol,
} from '../../src/drift/network-policy-eval.js';
import { selectorMatches } from '../../src/drift/label-selector.js';
import { Cidr } from '../../src/drift/cidr.js';

const NAMESPACES = ['x', 'y', 'z'] as const;
const PODS = ['a', 'b', 'c'] as const;
const nsLabels = (ns: string) => ({ ns, 'kubernetes.io/metadata.name': ns });
const ipOf = (pod: string) => {
  const [ns, name] = pod.split('/') as [string, string];
  return `10.0.${NAMESPACES.indexOf(ns as 'x') + 1}.${PODS.indexOf(name as 'a') + 1}`;
};
const SERVING: NamedPort[] = [80, 81].flatMap((port) =>
  (['TCP', 'UDP'] as const).map((protocol) => ({ name: `serve-${port}-${protocol.toLowerCase()}`, port, protocol })),
);

const policy = (namespace: string, name: string, spec: V1NetworkPolicySpec): V1NetworkPolicy => ({ metadata: { namespace, name }, spec });

function allowedOneSide(policies: V1NetworkPolicy[], self: string, other: string, direction: 'ingress' | 'egress', port: number, protocol: PolicyProtocol): boolean {
  const [ns, name] = self.split('/') as [string, string];
  const [pns, pname] = other.split('/') as [string, string];
  return evaluateFlow({ namespace: ns, labels: { pod: name } }, policies, {
    direction,
    protocol,
    port,
    peer: { address: ipOf(other), pod: { namespace: pns, labels: { pod: pname } }, namespaceLabels: nsLabels(pns) },
    destinationPorts: SERVING,
  }).allowed;
}

function reach(policies: V1NetworkPolicy[], from: string, to: string, port = 80, protocol: PolicyProtocol = 'TCP'): boolean {
  return allowedOneSide(policies, from, to, 'egress', port, protocol) && allowedOneSide(policies, to, from, 'ingress', port, protocol);
}

const ALL = NAMESPACES.flatMap((ns) => PODS.map((p) => `${ns}/${p}`));

/** Every pair (from ≠ to) that differs from "all reachable": the expected set of denied pairs. */
function denied(policies: V1NetworkPolicy[], port = 80, protocol: PolicyProtocol = 'TCP'): string[] {
  const out: string[] = [];
  for (const from of ALL) for (const to of ALL) if (from !== to && !reach(policies, from, to, port, protocol)) out.push(`${from}->${to}`);
  return out;
}
const pairs = (froms: string[], tos: string[]) => froms.flatMap((f) => tos.filter((to) => to !== f).map((to) => `${f}->${to}`)).sort();
const sorted = (xs: string[]) => [...xs].sort();
const inNs = (ns: string) => PODS.map((p) => `${ns}/${p}`);

t.test('label selectors: matchLabels and the four matchExpressions operators', async (t) => {
  const labels = { app: 'web', tier: 'front' };
  const cases: Array<[string, Parameters<typeof selectorMatches>[0], boolean]> = [
    ['empty selects all', {}, true],
    ['matchLabels equal', { matchLabels: { app: 'web' } }, true],
    ['matchLabels differ', { matchLabels: { app: 'db' } }, false],
    ['In', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['front', 'back'] }] }, true],
    ['In, key missing', { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }, false],
    ['NotIn', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['front'] }] }, false],
    ['NotIn, key missing matches', { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, true],
    ['Exists', { matchExpressions: [{ key: 'app', operator: 'Exists' }] }, true],
    ['DoesNotExist', { matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, false],
    ['ANDed', { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['back'] }] }, false],
    ['unknown operator selects nothing', { matchExpressions: [{ key: 'app', operator: 'Gt', values: ['1'] }] }, false],
  ];
  for (const [name, selector, want] of cases) t.equal(selectorMatches(selector, labels), want, name);
});

t.test('CIDRs, v4 and v6', async (t) => {
  t.ok(Cidr.parse('172.17.0.0/16')!.contains('172.17.1.5'));
  t.notOk(Cidr.parse('172.17.0.0/16')!.contains('172.18.0.1'));
  t.ok(Cidr.parse('0.0.0.0/0')!.contains('8.8.8.8'));
  t.notOk(Cidr.parse('0.0.0.0/0')!.contains('2001:db8::1'), 'a v4 block holds no v6 address');
  t.ok(Cidr.parse('2001:db8::/32')!.contains('2001:db8:0:1::7'));
  t.notOk(Cidr.parse('2001:db8::/32')!.contains('2001:db9::7'));
  t.equal(Cidr.parse('10.0.0.0/33'), undefined);
  t.equal(Cidr.parse('nonsense'), undefined);
});

t.test('policyTypes and their default (docs: "policyTypes")', async (t) => {
  const d = (spec: V1NetworkPolicySpec) => [...policyDirections(policy('x', 'p', spec))].sort();
  t.same(d({ podSelector: {} }), ['ingress'], 'omitted, no rules: Ingress');
  t.same(d({ podSelector: {}, egress: [{}] }), ['egress', 'ingress'], 'omitted, egress rules: Ingress and Egress');
  t.same(d({ podSelector: {}, policyTypes: ['Egress'] }), ['egress']);
  t.same(d({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] }), ['egress', 'ingress']);
});

t.test('no_network_policy: does any policy select the pod', async (t) => {
  const policies = [policy('x', 'only-a', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'] })];
  t.ok(podSelectedByAnyPolicy({ namespace: 'x', labels: { pod: 'a' } }, policies), 'an egress-only policy selects too');
  t.notOk(podSelectedByAnyPolicy({ namespace: 'x', labels: { pod: 'b' } }, policies));
  t.notOk(podSelectedByAnyPolicy({ namespace: 'y', labels: { pod: 'a' } }, policies), 'policies select in their own namespace only');
  t.notOk(podSelectedByAnyPolicy({ namespace: 'x', labels: { pod: 'a' } }, []));
});

t.test('upstream e2e: default-deny-ingress / default-deny-all / deny egress', async (t) => {
  // "should support a 'default-deny-ingress' policy"
  t.same(denied([policy('x', 'deny-ingress', { podSelector: {} })]), pairs(ALL, inNs('x')));
  // "should support a 'default-deny-all' policy"
  const all = policy('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
  t.same(denied([all]), sorted([...new Set([...pairs(ALL, inNs('x')), ...pairs(inNs('x'), ALL)])]));
  // "should deny egress from all pods in a namespace": egress types with no rules
  t.same(denied([policy('x', 'deny-egress', { podSelector: {}, policyTypes: ['Egress'] })]), pairs(inNs('x'), ALL));
});

t.test('upstream e2e: peers by pod and namespace selectors', async (t) => {
  const toA = (from: NonNullable<V1NetworkPolicySpec['ingress']>[number]) => [
    policy('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [from] }),
  ];
  const into = (froms: string[]) => sorted(froms.filter((f) => f !== 'x/a').map((f) => `${f}->x/a`));
  const others = (allowed: string[]) => into(ALL.filter((p) => !allowed.includes(p)));
  // "should enforce policy to allow traffic from pods within server namespace based on PodSelector"
  t.same(denied(toA({ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] } as never)), others(['x/b']));
  // "should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector"
  t.same(denied(toA({ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] } as never)), others(inNs('y')));
  // "should enforce policy based on PodSelector with MatchExpressions"
  t.same(denied(toA({ from: [{ podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['b'] }] } }] } as never)), others(['x/b']));
  // "should enforce policy based on NamespaceSelector with MatchExpressions"
  t.same(
    denied(toA({ from: [{ namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'In', values: ['y'] }] } }] } as never)),
    others(inNs('y')),
  );
  // "should enforce policy based on PodSelector or NamespaceSelector": two peers, ORed
  t.same(
    denied(toA({ from: [{ namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'NotIn', values: ['x'] }] } }, { podSelector: { matchLabels: { pod: 'b' } } }] } as never)),
    others([...inNs('y'), ...inNs('z'), 'x/b']),
  );
  // "should enforce policy based on PodSelector and NamespaceSelector": one peer, ANDed
  t.same(
    denied(toA({ from: [{ namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'NotIn', values: ['x'] }] }, podSelector: { matchLabels: { pod: 'b' } } }] } as never)),
    others(['y/b', 'z/b']),
  );
  // "should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector"
  t.same(
    denied(toA({ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: { matchLabels: { pod: 'a' } } }] } as never)),
    others(['y/a']),
  );
  // "should enforce policy to allow ingress traffic from pods in all namespaces": namespaceSelector {}
  t.same(denied(toA({ from: [{ namespaceSelector: {} }] } as never)), []);
  // "should support allow-all policy": one empty rule
  t.same(denied(toA({} as never)), []);
});

t.test('upstream e2e: ports, protocols, named ports, endPort', async (t) => {
  const fromY = { namespaceSelector: { matchLabels: { ns: 'y' } } };
  // "should enforce policy based on Ports": only ns y, only 81
  const port81 = [policy('x', 'p81', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ _from: [fromY], ports: [{ port: 81 }] }] })];
  t.same(denied(port81, 81), sorted(ALL.filter((p) => p !== 'x/a' && !p.startsWith('y/')).map((p) => `${p}->x/a`)));
  t.same(denied(port81, 80), sorted(ALL.filter((p) => p !== 'x/a').map((p) => `${p}->x/a`)), 'port 80 is allowed from nobody');
  // "should enforce multiple, stacked policies with overlapping podSelectors": the union
  const port80 = policy('x', 'p80', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ _from: [fromY], ports: [{ port: 80 }] }] });
  t.same(denied([...port81, port80], 80), denied(port81, 81), 'the second policy opens 80 as the first opened 81');
  // "should allow ingress access on one named port"
  const named = [policy('x', 'named', { podSelector: {}, ingress: [{ ports: [{ port: 'serve-81-tcp' as unknown as number }] }] })];
  t.same(denied(named, 81), []);
  t.same(denied(named, 80), pairs(ALL, inNs('x')));
  t.same(denied(named, 81, 'UDP'), pairs(ALL, inNs('x')), 'the name is a TCP port: UDP 81 is not it');
  // "should allow egress access on one named port": resolved against the destination's ports
  const egressNamed = [policy('x', 'eg', { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ port: 'serve-80-tcp' as unknown as number }] }] })];
  t.same(denied(egressNamed, 80), []);
  t.same(denied(egressNamed, 81), pairs(inNs('x'), ALL));
  // "should not allow access by TCP when a policy specifies only UDP"
  const udp = [policy('x', 'udp', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ port: 81, protocol: 'UDP' }] }] })];
  t.same(denied(udp, 81, 'UDP'), []);
  t.same(denied(udp, 81, 'TCP'), sorted(ALL.filter((p) => p !== 'x/a').map((p) => `${p}->x/a`)));
  // "should enforce ingress policy allowing any port traffic to a server on a specific protocol"
  const tcpOnly = [policy('x', 'tcp', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ protocol: 'TCP' }] }] })];
  t.same(denied(tcpOnly, 81, 'TCP'), []);
  t.same(denied(tcpOnly, 80, 'UDP'), sorted(ALL.filter((p) => p !== 'x/a').map((p) => `${p}->x/a`)));
  // cyclonus port ranges (endPort, "should allow ingress access on a range of ports"): 80-81 in, 82 out
  const range = [policy('x', 'range', { podSelector: {}, ingress: [{ ports: [{ port: 80, endPort: 81 }] }] })];
  t.same(denied(range, 80), []);
  t.same(denied(range, 81), []);
  t.same(denied(range, 82), pairs(ALL, inNs('x')));
  // A Service's targetPort by name (the flow's destination port name) matches a named policy port
  const verdict = evaluateFlow({ namespace: 'x', labels: { pod: 'a' } }, egressNamed, {
    direction: 'egress', protocol: 'TCP', port: 80, peer: { address: '10.96.0.10' }, destinationPortName: 'serve-80-tcp',
  });
  t.ok(verdict.allowed);
});

t.test('upstream e2e: egress, ipBlock with except, precedence, independence', async (t) => {
  // "should enforce egress policy allowing traffic to a server in a different namespace based on PodSelector and NamespaceSelector"
  const toYa = [policy('x', 'to-ya', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: { matchLabels: { pod: 'a' } } }] }] })];
  t.same(denied(toYa), pairs(['x/a'], ALL.filter((p) => p !== 'y/a')));
  // "should allow egress access to server in CIDR block": the server pod's /32
  const cidr = [policy('x', 'cidr', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: `${ipOf('y/b')}/32` } }] }] })];
  t.same(denied(cidr), pairs(['x/a'], ALL.filter((p) => p !== 'y/b')));
  // "should enforce except clause while egress access to server in CIDR block"
  const except = [
    policy('x', 'except', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '10.0.1.0/24', except: [`${ipOf('x/b')}/32`] } }] }] }),
  ];
  t.same(denied(except), pairs(['x/a'], ALL.filter((p) => p !== 'x/c')));
  // "should enforce multiple egress policies with egress allow-all policy taking precedence"
  const only80 = policy('x', 'eg80', { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ port: 80 }] }] });
  t.same(denied([only80], 81), pairs(inNs('x'), ALL));
  // Without policyTypes, a policy with egress rules governs ingress too (docs: "policyTypes"): x closes to everyone.
  const untyped = policy('x', 'untyped', { podSelector: {}, egress: [{}] });
  t.same(denied([untyped]), pairs(ALL, inNs('x')));
  t.same(denied([only80, policy('x', 'eg-all', { podSelector: {}, policyTypes: ['Egress'], egress: [{}] })], 81), []);
  // "should work with Ingress, Egress specified together" / "ingress and egress policies can be controlled independently"
  const both = [
    policy('x', 'both', {
      podSelector: { matchLabels: { pod: 'a' } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ _from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }],
      egress: [{ ports: [{ port: 80 }] }],
    }),
  ];
  t.same(denied(both, 80), others80());
  function others80() {
    return sorted(ALL.filter((p) => p !== 'x/a' && p !== 'x/b').map((p) => `${p}->x/a`));
  }
  t.same(denied(both, 81), sorted([...others80(), ...pairs(['x/a'], ALL)]));
  // "should support denying of egress traffic on the client side (even if the server explicitly allows this traffic)"
  const serverSide = ['a', 'b'].map((p) =>
    policy('y', `allow-xa-${p}`, { podSelector: { matchLabels: { pod: p } }, ingress: [{ _from: [{ namespaceSelector: { matchLabels: { ns: 'x' } }, podSelector: { matchLabels: { pod: 'a' } } }] }] }),
  );
  t.ok(reach([...toYa, ...serverSide], 'x/a', 'y/a'));
  t.notOk(reach([...toYa, ...serverSide], 'x/a', 'y/b'), 'the server allows it; the client egress does not');
  // "should stop enforcing policies after they are deleted"
  t.same(denied([]), []);
});

t.test('documentation examples', async (t) => {
  // The "test-network-policy" example of the NetworkPolicy concept page.
  const example = policy('default', 'test-network-policy', {
    podSelector: { matchLabels: { role: 'db' } },
    policyTypes: ['Ingress', 'Egress'],
    ingress: [
      {
        _from: [{ ipBlock: { cidr: '172.17.0.0/16', except: ['172.17.1.0/24'] } }, { namespaceSelector: { matchLabels: { project: 'myproject' } } }, { podSelector: { matchLabels: { role: 'frontend' } } }],
        ports: [{ protocol: 'TCP', port: 6379 }],
      },
    ],
    egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/24' } }], ports: [{ protocol: 'TCP', port: 5978 }] }],
  });
  const db = { namespace: 'default', labels: { role: 'db' } };
  const ingress = (address: string, pod?: { namespace: string; labels: Record<string, string> }, ns?: Record<string, string>, port = 6379) =>
    evaluateFlow(db, [example], { direction: 'ingress', protocol: 'TCP', port, peer: { address, pod, namespaceLabels: ns } });
  t.ok(ingress('172.17.0.9').allowed, 'from the ipBlock');
  t.notOk(ingress('172.17.1.9').allowed, 'from its except');
  t.ok(ingress('10.1.1.1', { namespace: 'other', labels: {} }, { project: 'myproject' }).allowed, 'any pod of a myproject namespace');
  t.ok(ingress('10.1.1.2', { namespace: 'default', labels: { role: 'frontend' } }).allowed, 'a frontend pod of default');
  t.notOk(ingress('10.1.1.3', { namespace: 'other', labels: { role: 'frontend' } }).allowed, 'a frontend pod elsewhere');
  t.notOk(ingress('172.17.0.9', undefined, undefined, 6380).allowed, 'another port');
  const verdict = evaluateFlow(db, [example], { direction: 'egress', protocol: 'TCP', port: 5978, peer: { address: '10.0.0.7' } });
  t.same(verdict, { isolated: true, allowed: true, policies: ['default/test-network-policy'] });
  t.notOk(evaluateFlow(db, [example], { direction: 'egress', protocol: 'TCP', port: 5978, peer: { address: '10.0.1.7' } }).allowed);
  t.same(evaluateFlow({ namespace: 'default', labels: { role: 'web' } }, [example], { direction: 'egress', protocol: 'TCP', port: 1, peer: { address: '1.1.1.1' } }), {
    isolated: false,
    allowed: true,
    policies: [],
  });
  // "Default allow all egress traffic" / "Default deny all ingress and all egress traffic"
  const allowAllEgress = policy('default', 'allow-all-egress', { podSelector: {}, egress: [{}], policyTypes: ['Egress'] });
  t.ok(evaluateFlow(db, [allowAllEgress], { direction: 'egress', protocol: 'UDP', port: 53, peer: { address: '9.9.9.9' } }).allowed);
  t.notOk(evaluateFlow(db, [allowAllEgress], { direction: 'ingress', protocol: 'TCP', port: 1, peer: { address: '9.9.9.9' } }).isolated);
  // "Targeting a range of ports": 32000-32768 to 10.0.0.0/24
  const range = policy('default', 'multi-port-egress', {
    podSelector: { matchLabels: { role: 'db' } },
    policyTypes: ['Egress'],
    egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/24' } }], ports: [{ protocol: 'TCP', port: 32000, endPort: 32768 }] }],
  });
  for (const [port, want] of [[31999, false], [32000, true], [32768, true], [32769, false]] as const)
    t.equal(evaluateFlow(db, [range], { direction: 'egress', protocol: 'TCP', port, peer: { address: '10.0.0.1' } }).allowed, want, `port ${port}`);
  // "Targeting a Namespace by its name": the immutable kubernetes.io/metadata.name label, known even when the Namespace is not
  const byName = policy('default', 'to-prod', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'prod' } } }] }] });
  t.ok(evaluateFlow(db, [byName], { direction: 'egress', protocol: 'TCP', port: 1, peer: { address: '10.2.0.1', pod: { namespace: 'prod', labels: {} } } }).allowed);
  t.notOk(evaluateFlow(db, [byName], { direction: 'egress', protocol: 'TCP', port: 1, peer: { address: '10.2.0.1' } }).allowed, 'an external address is no pod');
});
