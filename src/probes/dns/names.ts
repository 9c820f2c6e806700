// Bounded label values for DNS query types and response codes. Anything not
// in the tables maps to `other`, so a hostile packet cannot mint a label.

export const OTHER = 'other';

/** rcode label for a query that got no response within the timeout. */
export const RCODE_TIMEOUT = 'timeout';

// RFC 1035, 3596 (AAAA), 2782 (SRV), 3403 (NAPTR), 4034 (DS, DNSKEY),
// 8659 (CAA), 9460 (SVCB, HTTPS); ANY is the QTYPE 255 of RFC 1035 / 8482.
const QTYPES: ReadonlyArray<readonly [number, string]> = [
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
];

// RFC 1035 §4.1.1 and RFC 2136 §2.2. Only the 4-bit header RCODE is decoded.
const RCODES: readonly string[] = [
  'NOERROR',
  'FORMERR',
  'SERVFAIL',
  'NXDOMAIN',
  'NOTIMP',
  'REFUSED',
  'YXDOMAIN',
  'YXRRSET',
  'NXRRSET',
  'NOTAUTH',
  'NOTZONE',
];

const QTYPE_BY_NUMBER = new Map<number, string>(QTYPES);

/** Every value qtypeName can return. */
export const QTYPE_LABELS: readonly string[] = Object.freeze([...QTYPES.map(([, name]) => name), OTHER]);

/** Every value rcodeName can return, plus `timeout` (which the matcher's caller uses). */
export const RCODE_LABELS: readonly string[] = Object.freeze([...RCODES, OTHER, RCODE_TIMEOUT]);

/** Query type number → one of QTYPE_LABELS. */
export function qtypeName(qtype: number): string {
  return QTYPE_BY_NUMBER.get(qtype) ?? OTHER;
}

/** Header RCODE number → one of RCODE_LABELS (never `timeout`). */
export function rcodeName(rcode: number): string {
  // Non-integers and negatives index nothing and fall through to `other`.
  return RCODES[rcode] ?? OTHER;
}
