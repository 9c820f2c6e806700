// The topology built from Prometheus answers (the queries' shapes as
// Prometheus returns them); the real Prometheus is in cluster.e2e.test.ts.
import t from 'tap';
import { clusterTopology, connectQuantile, grown } from '../../src/ui/cluster-topology.js';
import type { PromSample } from '../../src/ui/prometheus-query.js';

const flow = (l: Record<string, string>, value: number): PromSample => ({ labels: { protocol: 'TCP', ...l }, value });

function answers(by: Record<string, PromSample[]>): (q: string) => Promise<PromSample[]> {
  return async (q) => {
    for (const [needle, samples] of Object.entries(by)) if (q.includes(needle)) return samples;
    return [];
  };
}

t.test('the growth query counts series born inside the range', async (t) => {
  t.equal(grown('m', ['a', 'b'], '5m'), 'sum by (a, b) ((m * 1 unless m offset 5m) or increase(m[5m]))');
  t.match(connectQuantile(0.99, '1h'), /^histogram_quantile\(0\.99, sum by \(namespace, workload, le\)/);
});

t.test('edges, peers, figures and health from the series', async (t) => {
  const tp = await clusterTopology(
    answers({
      kubepulse_flows_total: [
        flow({ namespace: 'shop', workload: 'web', direction: 'egress', port: '8080', peer_kind: 'pod', peer_namespace: 'shop', peer_workload: 'api' }, 10),
        flow({ namespace: 'shop', workload: 'api', direction: 'ingress', port: '8080', peer_kind: 'pod', peer_namespace: 'shop', peer_workload: 'web' }, 12),
        flow({ namespace: 'shop', workload: 'api', direction: 'egress', port: '443', peer_kind: 'external', peer_namespace: '', peer_workload: '' }, 3),
        flow({ namespace: 'shop', workload: 'web', direction: 'egress', port: '9999', peer_kind: 'node', peer_namespace: '', peer_workload: 'n1' }, 0),
      ],
      kubepulse_tcp_connections_total: [{ labels: { namespace: 'shop', workload: 'api', result: 'timeout' }, value: 2 }],
      'histogram_quantile(0.99': [{ labels: { namespace: 'shop', workload: 'web' }, value: 0.9 }],
      kubepulse_dns_responses_total: [
        { labels: { namespace: 'shop', workload: 'web', rcode: 'NOERROR' }, value: 3 },
        { labels: { namespace: 'shop', workload: 'web', rcode: 'NXDOMAIN' }, value: 1 },
      ],
      kubepulse_dns_queries_total: [{ labels: { namespace: 'shop', workload: 'web', domain: 'example.com' }, value: 4 }],
      kubepulse_build_info: [{ labels: { node: 'n2' }, value: 1 }, { labels: { node: 'n1' }, value: 1 }],
    }),
    { range: '5m', rangeSeconds: 300, slowConnectSeconds: 0.5, now: new Date('2026-12-01T00:00:00Z') },
  );
  t.same(tp.agents, ['n1', 'n2']);
  t.same(
    tp.edges.map((e) => [e.id, e.direction, e.count]),
    [
      ['workload:shop/api|external:*|TCP/443', 'egress', 3],
      // Reported by both ends: once, with the larger count.
      ['workload:shop/web|workload:shop/api|TCP/8080', 'ingress', 12],
    ],
    'a series that did not grow in the range draws no edge',
  );
  t.equal(tp.edges[1]?.ratePerSecond, 12 / 300);
  const byId = new Map(tp.nodes.map((n) => [n.id, n]));
  t.same([...byId.keys()], ['external:*', 'workload:shop/api', 'workload:shop/web']);
  t.same([byId.get('workload:shop/api')?.health, byId.get('workload:shop/api')?.reasons], ['failing', ['tcp timeout 2']]);
  t.same([byId.get('workload:shop/web')?.health, byId.get('workload:shop/web')?.reasons], ['slow', ['connect p99 900 ms > 500 ms']]);
  t.equal(byId.get('workload:shop/web')?.figures?.dnsFailureRatio, 0, 'NXDOMAIN is an answer, not a failure');
  t.same(byId.get('workload:shop/web')?.figures?.dns, [
    { domain: 'example.com', rcode: '', count: 4 },
    { domain: '', rcode: 'NOERROR', count: 3 },
    { domain: '', rcode: 'NXDOMAIN', count: 1 },
  ]);
});
