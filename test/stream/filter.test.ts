// Stream filters: which records each query keeps, and the one-line reason a
// bad query is refused with.
import t from 'tap';
import { parseStreamQuery } from '../../src/stream/filter.js';
import { FlowEventRecord, type StreamRecord } from '../../src/stream/record.js';
import type { PeerResolver } from '../../src/peers/resolver.js';
import { dnsRec, tcpRec } from '../support/stream-records.js';

const web = { namespace: 'shop', pod: 'web-7c9d8f6b5-x2x9q', workload: 'web', container: 'app', podUid: 'u1' };
const db = { namespace: 'data', pod: 'db-0', workload: 'db', container: 'pg', podUid: 'u2' };
const NOW = Date.parse('2026-12-01T01:00:00Z');

// The cluster as the stream's peer resolver knows it.
const cluster: PeerResolver = {
  peerOf(address) {
    if (address === '10.96.0.30') return { kind: 'service', address, namespace: 'shop', name: 'cart' };
    if (address === 'fd00::44') return { kind: 'pod', address, namespace: 'data', pod: 'db-1', workload: 'db' };
    return { kind: 'external', address };
  },
};

const records: Record<string, StreamRecord> = {
  webRefused: tcpRec(NOW - 1000, web, 'refused', 0.0001, 8080, '203.0.113.5', cluster),
  webEstablished: tcpRec(NOW - 900, web, 'established', 0.002, 443, '10.96.0.30', cluster),
  webToDb: tcpRec(NOW - 850, web, 'established', 0.001, 5432, 'fd00::44', cluster),
  webNx: dnsRec(NOW - 800, web, 'nx.api.example.com', 'example.com', 'A', 'NXDOMAIN', 0.004, 53, '10.96.0.10'),
  dbServfail: dnsRec(NOW - 700, db, 'backup.internal.corp', 'internal.corp', 'AAAA', 'SERVFAIL', 0.01, 53, 'fd00::a'),
  dbTimeout: dnsRec(NOW - 600_000, db, 'slow.example.com', 'example.com', 'A', 'timeout', 5, 5353, '10.96.0.10'),
  dbFlow: new FlowEventRecord(NOW - 500, db, 'egress', 'TCP', 5432, { kind: 'pod', address: '10.0.0.7', namespace: 'data', pod: 'db-1', workload: 'db' }, 12, 3),
};

const cases: Array<[string, string, string[]]> = [
  ['nothing', '', Object.keys(records)],
  ['namespace', 'namespace=shop', ['webRefused', 'webEstablished', 'webToDb', 'webNx']],
  ['two namespaces', 'namespace=shop,data', Object.keys(records)],
  ['pod prefix', 'pod=web-7c', ['webRefused', 'webEstablished', 'webToDb', 'webNx']],
  ['exact pod', 'pod=db-0', ['dbServfail', 'dbTimeout', 'dbFlow']],
  ['workload', 'workload=db', ['dbServfail', 'dbTimeout', 'dbFlow']],
  ['type', 'type=dns', ['webNx', 'dbServfail', 'dbTimeout']],
  ['types repeated', 'type=tcp&type=flow', ['webRefused', 'webEstablished', 'webToDb', 'dbFlow']],
  ['rcode (any case)', 'rcode=servfail,timeout', ['dbServfail', 'dbTimeout']],
  ['result', 'result=refused', ['webRefused']],
  ['domain, folded', 'domain=example.com', ['webNx', 'dbTimeout']],
  ['domain, below', 'domain=api.example.com', ['webNx']],
  ['peer :port', 'peer=:443', ['webEstablished']],
  ['peer address', 'peer=10.0.0.7', ['dbFlow']],
  ['peer address:port', 'peer=10.0.0.7:5432', ['dbFlow']],
  ['peer ns/name: a pod', 'peer=data/db-1', ['webToDb', 'dbFlow']],
  ['peer ns/name: a workload', 'peer=data/db', ['webToDb', 'dbFlow']],
  ['peer ns/name: a Service', 'peer=shop/cart', ['webEstablished']],
  ['peer tcp address', 'peer=203.0.113.5', ['webRefused']],
  ['peer tcp address:port', 'peer=203.0.113.5:8080', ['webRefused']],
  ['peer tcp address, other port', 'peer=203.0.113.5:443', []],
  ['peer IPv6, any spelling', 'peer=FD00:0:0::44', ['webToDb']],
  ['peer [IPv6]:port', 'peer=[fd00::44]:5432', ['webToDb']],
  ['peer: a DNS server', 'peer=10.96.0.10', ['webNx', 'dbTimeout']],
  ['peer: a DNS server and port', 'peer=10.96.0.10:5353', ['dbTimeout']],
  ['peer: DNS port', 'peer=:53', ['webNx', 'dbServfail']],
  ['peers are alternatives', 'peer=shop/cart&peer=fd00::a', ['webEstablished', 'dbServfail']],
  ['and', 'namespace=data&type=dns&rcode=timeout', ['dbTimeout']],
];

for (const [name, q, want] of cases) {
  t.test(name, async (t) => {
    const query = parseStreamQuery(new URLSearchParams(q), NOW);
    t.same(Object.keys(records).filter((k) => query.matches(records[k]!)), want);
  });
}

t.test('history and follow', async (t) => {
  t.match(parseStreamQuery(new URLSearchParams(''), NOW), { last: 0, sinceMs: undefined, follow: true }, 'live by default');
  t.match(parseStreamQuery(new URLSearchParams('last=20'), NOW), { last: 20, follow: false }, 'last alone replays and ends');
  t.match(parseStreamQuery(new URLSearchParams('since=5m&follow=true'), NOW), { sinceMs: NOW - 300_000, follow: true });
  t.equal(parseStreamQuery(new URLSearchParams('since=2026-12-01T00:00:00Z'), NOW).sinceMs, Date.parse('2026-12-01T00:00:00Z'));
});

const bad: Array<[string, RegExp]> = [
  ['type=udp', /^type: "udp" is not one of tcp, dns, flow$/],
  ['rcode=NOPE', /^rcode: "NOPE" is not one of NOERROR, .*timeout$/],
  ['result=fine', /^result: "fine" is not one of established, refused/],
  ['colour=red', /^unknown filter "colour"/],
  ['last=-1', /^last: "-1" is not a whole number$/],
  ['since=yesterday', /^since: "yesterday" is neither a duration/],
  ['follow=maybe', /^follow: "maybe" is not true or false$/],
  ['peer=not an address', /^peer: "not an address" is not/],
  ['peer=999.1.1.1', /^peer: "999.1.1.1" is not/],
  ['peer=fd00:::1', /^peer: "fd00:::1" is not/],
];
for (const [q, message] of bad) {
  t.test(`refused: ${q}`, async (t) => {
    t.throws(() => parseStreamQuery(new URLSearchParams(q), NOW), { name: 'FilterError' });
    try {
      parseStreamQuery(new URLSearchParams(q), NOW);
    } catch (err) {
      t.match((err as Error).message, message);
      t.notMatch((err as Error).message, /\n/, 'one line');
    }
  });
}
