// Stream filters: which records each query keeps, and the one-line reason a
// bad query is refused with.
import t from 'tap';
import { parseStreamQuery } from '../../src/stream/filter.js';
import { DnsRecord, FlowEventRecord, TcpRecord, type StreamRecord } from '../../src/stream/record.js';

const web = { namespace: 'shop', pod: 'web-7c9d8f6b5-x2x9q', workload: 'web', container: 'app', podUid: 'u1' };
const db = { namespace: 'data', pod: 'db-0', workload: 'db', container: 'pg', podUid: 'u2' };
const NOW = Date.parse('2026-12-01T01:00:00Z');

const records: Record<string, StreamRecord> = {
  webRefused: new TcpRecord(NOW - 1000, web, 'refused', 0.0001, 8080),
  webEstablished: new TcpRecord(NOW - 900, web, 'established', 0.002, 443),
  webNx: new DnsRecord(NOW - 800, web, 'nx.api.example.com', 'example.com', 'A', 'NXDOMAIN', 0.004, 53),
  dbServfail: new DnsRecord(NOW - 700, db, 'backup.internal.corp', 'internal.corp', 'AAAA', 'SERVFAIL', 0.01, 53),
  dbTimeout: new DnsRecord(NOW - 600_000, db, 'slow.example.com', 'example.com', 'A', 'timeout', 5, 53),
  dbFlow: new FlowEventRecord(NOW - 500, db, 'egress', 'TCP', 5432, { kind: 'pod', address: '10.0.0.7', namespace: 'data', pod: 'db-1', workload: 'db' }, 12, 3),
};

const cases: Array<[string, string, string[]]> = [
  ['nothing', '', Object.keys(records)],
  ['namespace', 'namespace=shop', ['webRefused', 'webEstablished', 'webNx']],
  ['two namespaces', 'namespace=shop,data', Object.keys(records)],
  ['pod prefix', 'pod=web-7c', ['webRefused', 'webEstablished', 'webNx']],
  ['exact pod', 'pod=db-0', ['dbServfail', 'dbTimeout', 'dbFlow']],
  ['workload', 'workload=db', ['dbServfail', 'dbTimeout', 'dbFlow']],
  ['type', 'type=dns', ['webNx', 'dbServfail', 'dbTimeout']],
  ['types repeated', 'type=tcp&type=flow', ['webRefused', 'webEstablished', 'dbFlow']],
  ['rcode (any case)', 'rcode=servfail,timeout', ['dbServfail', 'dbTimeout']],
  ['result', 'result=refused', ['webRefused']],
  ['domain, folded', 'domain=example.com', ['webNx', 'dbTimeout']],
  ['domain, below', 'domain=api.example.com', ['webNx']],
  ['peer :port', 'peer=:443', ['webEstablished']],
  ['peer address', 'peer=10.0.0.7', ['dbFlow']],
  ['peer address:port', 'peer=10.0.0.7:5432', ['dbFlow']],
  ['peer ns/name', 'peer=data/db-1', ['dbFlow']],
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
