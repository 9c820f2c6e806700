// Counts → Topology: vertices, one edge per client → server port (both ends'
// reports merged), health and its reasons, external peers folded by block.
import t from 'tap';
import { buildTopology } from '../../src/topology/build.js';
import type { FlowCount, TopologyInputs } from '../../src/topology/inputs.js';

const inputs = (over: Partial<TopologyInputs>): TopologyInputs => ({
  scope: 'node',
  agents: ['n1'],
  generatedAt: '2026-12-01T00:00:00.000Z',
  rangeSeconds: 100,
  flows: [],
  connectBuckets: [],
  connections: [],
  dnsResponses: [],
  dnsByDomain: [],
  dnsQueries: [],
  failures: [],
  slowSeconds: 0.5,
  ...over,
});
const flow = (over: Partial<FlowCount>): FlowCount => ({ namespace: 'shop', workload: 'web', direction: 'egress', protocol: 'TCP', port: 8080, peerKind: 'pod', peerNamespace: 'shop', peerName: 'cart', count: 10, ...over });
const w = (workload: string, namespace = 'shop') => ({ namespace, workload });

t.test('both ends of a flow on one node are one edge; rate over the range', async (t) => {
  const topo = buildTopology(inputs({
    flows: [flow({ count: 10 }), { ...w('cart'), direction: 'ingress', protocol: 'TCP', port: 8080, peerKind: 'pod', peerNamespace: 'shop', peerName: 'web', count: 12 }],
  }));
  t.same(topo.edges.map((e) => [e.id, e.count, e.ratePerSecond, e.direction]), [['workload:shop/web|workload:shop/cart|TCP/8080', 12, 0.12, 'egress']]);
  t.same(topo.nodes.map((n) => n.id), ['workload:shop/cart', 'workload:shop/web']);
});

t.test('peers: Services, nodes and external addresses folded by block', async (t) => {
  const topo = buildTopology(inputs({
    flows: [
      flow({ peerKind: 'service', peerName: 'api', port: 80 }),
      flow({ peerKind: 'node', peerNamespace: '', peerName: 'node-a', port: 10250 }),
      flow({ peerKind: 'external', peerNamespace: '', peerName: '', peerAddress: '203.0.113.7', port: 443 }),
      flow({ peerKind: 'external', peerNamespace: '', peerName: '', peerAddress: '203.0.113.9', port: 443 }),
      flow({ peerKind: 'external', peerNamespace: '', peerName: '', peerAddress: '2001:db8:1:2::5', port: 443 }),
      flow({ peerKind: 'external', peerNamespace: '', peerName: '', port: 443 }),
    ],
  }));
  t.same(topo.nodes.map((n) => [n.id, n.kind]), [
    ['external:2001:db8:1:2::/64', 'external'],
    ['external:203.0.113.0/24', 'external'],
    ['external:unknown', 'external'],
    ['node:node-a', 'node'],
    ['service:shop/api', 'service'],
    ['workload:shop/web', 'workload'],
  ]);
  t.equal(topo.edges.find((e) => e.target === 'external:203.0.113.0/24')?.count, 20, 'two addresses of one block: one edge');
});

t.test('health: failed connects and DNS failures are failing, a slow p99 is slow, each with its reason', async (t) => {
  const topo = buildTopology(inputs({
    connections: [
      { ...w('web'), count: 90, key: { result: 'established' } },
      { ...w('web'), count: 3, key: { result: 'refused' } },
      { ...w('db'), count: 5, key: { result: 'established' } },
    ],
    dnsResponses: [
      { ...w('db'), count: 8, key: { rcode: 'NOERROR' } },
      { ...w('db'), count: 2, key: { rcode: 'SERVFAIL' } },
      { ...w('db'), count: 4, key: { rcode: 'NXDOMAIN' } },
      { ...w('web'), count: 4, key: { rcode: 'NXDOMAIN' } },
    ],
    connectBuckets: [
      ...[['0.001', 1], ['1', 1], ['2', 10], ['+Inf', 10]].map(([le, count]) => ({ ...w('slowpoke'), count: count as number, key: { le: le as string } })),
      ...[['0.001', 5], ['+Inf', 5]].map(([le, count]) => ({ ...w('db'), count: count as number, key: { le: le as string } })),
    ],
    dnsByDomain: [{ ...w('db'), count: 2, key: { domain: 'example.org', rcode: 'SERVFAIL' } }],
    dnsQueries: [{ ...w('web'), count: 4, key: { domain: 'example.com' } }],
  }));
  const node = (id: string) => topo.nodes.find((n) => n.id === `workload:shop/${id}`)!;
  t.same([node('web').health, node('web').reasons], ['failing', ['connect refused 3']]);
  t.same([node('db').health, node('db').reasons], ['failing', ['dns SERVFAIL 2']], 'NXDOMAIN is an answer, not a failure');
  t.equal(node('db').figures?.dnsFailureRatio, 2 / 14);
  t.same(node('db').figures?.dns, [{ domain: 'example.org', rcode: 'SERVFAIL', count: 2 }]);
  t.same(node('web').figures?.dns, [{ domain: 'example.com', rcode: '', count: 4 }], 'queries without outcome detail');
  t.equal(node('slowpoke').health, 'slow');
  t.match(node('slowpoke').reasons[0], /^connect p99 1\.99 s > 500\.0 ms$/);
  t.equal(node('db').figures?.connectP99Seconds, 0.00099);
});

t.test('an edge to a port its client failed to reach is failing', async (t) => {
  const topo = buildTopology(inputs({
    flows: [flow({ port: 8080 }), flow({ port: 9090 })],
    failures: [{ ...w('web'), protocol: 'TCP', port: 9090, what: 'connect refused', count: 1 }],
  }));
  t.same(topo.edges.map((e) => [e.port, e.health]), [[8080, 'ok'], [9090, 'failing']]);
});
