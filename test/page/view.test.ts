// What is drawn after the filters and with collapsed namespaces.
import t from 'tap';
import type { Topology, TopologyNode } from '../../src/api/topology.js';
import { buildView, type ViewOptions } from '../../src/page/view.js';

const node = (id: string, health: TopologyNode['health'] = 'ok'): TopologyNode => {
  const [kind, rest] = id.split(':') as [TopologyNode['kind'], string];
  const [namespace, name] = rest.includes('/') ? rest.split('/') : [undefined, rest];
  return { id, kind, ...(namespace ? { namespace } : {}), name: name as string, health, reasons: health === 'ok' ? [] : ['dns SERVFAIL 1'] };
};
const edge = (source: string, target: string, port = 80, health: 'ok' | 'failing' = 'ok') => ({ id: `${source}|${target}|TCP/${port}`, source, target, direction: 'egress' as const, protocol: 'TCP' as const, port, count: 10, ratePerSecond: 1, health });
const topo: Topology = {
  scope: 'node',
  agents: ['n'],
  generatedAt: '',
  rangeSeconds: 10,
  nodes: [node('workload:shop/web'), node('workload:shop/cart'), node('workload:pay/checkout', 'failing'), node('workload:monitoring/prom'), node('external:203.0.113.0/24')],
  edges: [
    edge('workload:shop/web', 'workload:shop/cart'),
    edge('workload:pay/checkout', 'workload:shop/cart', 8080),
    edge('workload:monitoring/prom', 'workload:shop/web', 9090),
    edge('workload:monitoring/prom', 'workload:pay/checkout', 9090),
    edge('workload:shop/web', 'external:203.0.113.0/24', 443, 'failing'),
  ],
};
const opts = (o: Partial<ViewOptions> = {}): ViewOptions => ({ namespaces: new Set(), hidden: new Set(), onlyFailing: false, collapsed: new Set(), ...o });
const ids = (o: Partial<ViewOptions>) => buildView(topo, opts(o)).vertices.map((v) => v.id).sort();

t.test('filters', async (t) => {
  t.equal(ids({}).length, 5);
  t.same(ids({ namespaces: new Set(['pay']) }), ['workload:monitoring/prom', 'workload:pay/checkout', 'workload:shop/cart'], 'a namespace and what it talks to');
  t.same(ids({ hidden: new Set(['ns:monitoring']) }), ['external:203.0.113.0/24', 'workload:pay/checkout', 'workload:shop/cart', 'workload:shop/web'], 'hide a namespace');
  t.notOk(ids({ hidden: new Set(['external:203.0.113.0/24']) }).includes('external:203.0.113.0/24'), 'hide a peer');
  const failing = buildView(topo, opts({ onlyFailing: true }));
  t.same(failing.flows.map((e) => e.id).sort(), [
    'workload:monitoring/prom|workload:pay/checkout|TCP/9090',
    'workload:pay/checkout|workload:shop/cart|TCP/8080',
    'workload:shop/web|external:203.0.113.0/24|TCP/443',
  ], 'only failing: failing edges and edges of failing vertices');
});

t.test('a collapsed namespace is one vertex; its edges are merged, inner ones dropped', async (t) => {
  const v = buildView(topo, opts({ collapsed: new Set(['shop']) }));
  const shop = v.vertices.find((x) => x.id === 'ns:shop')!;
  t.same([shop.kind, shop.members, shop.health], ['namespace', 2, 'ok']);
  t.same(v.edges.map((e) => e.id).sort(), [
    'ns:shop|external:203.0.113.0/24|TCP/443',
    'workload:monitoring/prom|ns:shop|TCP/9090',
    'workload:monitoring/prom|workload:pay/checkout|TCP/9090',
    'workload:pay/checkout|ns:shop|TCP/8080',
  ]);
  const pay = buildView(topo, opts({ collapsed: new Set(['pay']) })).vertices.find((x) => x.id === 'ns:pay')!;
  t.equal(pay.health, 'failing', 'the worst health of its members');
});
