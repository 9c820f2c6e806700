// One line per event: what the table and wide outputs say about a
// connection's peer and a lookup's server, from the agent's JSON.
import t from 'tap';
import { colours, eventLine } from '../../src/cli/render.js';

const plain = colours({ isTTY: false });
const base = { time: '2026-12-01T01:00:00.250Z', node: 'node-a', namespace: 'shop', workload: 'web', pod: 'web-1', container: 'app' };
const tcp = (extra: Record<string, unknown>) => ({ ...base, type: 'tcp', result: 'established', latency_seconds: 0.000046, ...extra });

const cases: Array<[string, Record<string, unknown>, string, string]> = [
  [
    'a pod',
    tcp({ peer: '10.244.1.7:8080', peer_kind: 'pod', peer_namespace: 'shop', peer_pod: 'cart-5d8f-x2x9q', peer_workload: 'cart' }),
    'established → 10.244.1.7:8080 (shop/cart-5d8f-x2x9q) connect 46µs',
    'established → 10.244.1.7:8080 (pod shop/cart-5d8f-x2x9q, workload cart) connect 46µs',
  ],
  [
    'a Service',
    tcp({ peer: '10.96.0.20:443', peer_kind: 'service', peer_namespace: 'shop', peer_name: 'payments' }),
    'established → 10.96.0.20:443 (svc shop/payments) connect 46µs',
    'established → 10.96.0.20:443 (svc shop/payments) connect 46µs',
  ],
  [
    'an external address, IPv6',
    tcp({ result: 'refused', peer: '[2001:db8::1]:443', peer_kind: 'external' }),
    'refused → [2001:db8::1]:443 (external) connect 46µs',
    'refused → [2001:db8::1]:443 (external) connect 46µs',
  ],
  [
    'a node, a closed connection',
    tcp({ result: 'closed', latency_seconds: undefined, duration_seconds: 2.5, peer: '10.0.0.2:10250', peer_kind: 'node' }),
    'closed → 10.0.0.2:10250 (node) lived 2.50s',
    'closed → 10.0.0.2:10250 (node) lived 2.50s',
  ],
  [
    'an agent without peer identities',
    tcp({ peer: ':8080' }),
    'established → :8080 connect 46µs',
    'established → :8080 connect 46µs',
  ],
  [
    'a lookup and its server',
    { ...base, type: 'dns', name: 'nx.example.com', qtype: 'A', rcode: 'NXDOMAIN', latency_seconds: 0.000321, server: '10.96.0.10:53' },
    'NXDOMAIN A nx.example.com 321µs @10.96.0.10:53',
    'NXDOMAIN A nx.example.com 321µs @10.96.0.10:53',
  ],
  [
    'an unanswered lookup',
    { ...base, type: 'dns', name: 'silent.example.org', qtype: 'A', rcode: 'timeout', server: '[fd00::a]:53' },
    'timeout A silent.example.org @[fd00::a]:53',
    'timeout A silent.example.org @[fd00::a]:53',
  ],
];

for (const [name, e, table, wide] of cases) {
  t.test(name, async (t) => {
    t.equal(eventLine(e, plain, false), `01:00:00.250  shop/web-1  ${String(e.type).padEnd(4)}  ${table}`, 'table');
    t.equal(eventLine(e, plain, true), `01:00:00.250  node-a  shop/web-1  web/app  ${String(e.type).padEnd(4)}  ${wide}`, 'wide');
  });
}
