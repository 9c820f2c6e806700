import t from 'tap';
import { qtypeName, rcodeName, QTYPE_LABELS, RCODE_LABELS, RCODE_TIMEOUT } from '../../../src/probes/dns/names.js';

t.test('query types', async (t) => {
  const table: Array<[number, string]> = [
    [1, 'A'],
    [2, 'NS'],
    [5, 'CNAME'],
    [6, 'SOA'],
    [12, 'PTR'],
    [15, 'MX'],
    [16, 'TXT'],
    [28, 'AAAA'],
    [33, 'SRV'],
    [35, 'NAPTR'],
    [43, 'DS'],
    [48, 'DNSKEY'],
    [64, 'SVCB'],
    [65, 'HTTPS'],
    [255, 'ANY'],
    [257, 'CAA'],
    // unlisted and impossible values
    [0, 'other'],
    [3, 'other'],
    [41, 'other'], // OPT never appears as a question
    [252, 'other'], // AXFR
    [65535, 'other'],
    [-1, 'other'],
    [1.5, 'other'],
    [Number.NaN, 'other'],
  ];
  for (const [n, want] of table) t.equal(qtypeName(n), want, `qtype ${n}`);
});

t.test('response codes', async (t) => {
  const table: Array<[number, string]> = [
    [0, 'NOERROR'],
    [1, 'FORMERR'],
    [2, 'SERVFAIL'],
    [3, 'NXDOMAIN'],
    [4, 'NOTIMP'],
    [5, 'REFUSED'],
    [6, 'YXDOMAIN'],
    [7, 'YXRRSET'],
    [8, 'NXRRSET'],
    [9, 'NOTAUTH'],
    [10, 'NOTZONE'],
    [11, 'other'],
    [15, 'other'],
    [16, 'other'],
    [-1, 'other'],
    [2.5, 'other'],
  ];
  for (const [n, want] of table) t.equal(rcodeName(n), want, `rcode ${n}`);
});

t.test('the label sets are closed and cover every output', async (t) => {
  const qtypes = new Set<string>();
  const rcodes = new Set<string>();
  for (let n = -2; n < 70000; n++) {
    qtypes.add(qtypeName(n));
    rcodes.add(rcodeName(n));
  }
  t.same([...qtypes].sort(), [...QTYPE_LABELS].sort(), 'qtypeName returns exactly QTYPE_LABELS');
  t.same([...rcodes, RCODE_TIMEOUT].sort(), [...RCODE_LABELS].sort(), 'rcodeName returns RCODE_LABELS but timeout');
  t.equal(QTYPE_LABELS.length, 17);
  t.equal(RCODE_LABELS.length, 13);
  t.ok(RCODE_LABELS.includes(RCODE_TIMEOUT));
  t.equal(RCODE_TIMEOUT, 'timeout');
  t.ok(Object.isFrozen(QTYPE_LABELS) && Object.isFrozen(RCODE_LABELS));
});
