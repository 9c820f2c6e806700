// DNS wire format (RFC 1035 §4.1): header and first question only.
//
// This runs once per DNS event from the kernel, on bytes an unprivileged
// process chose, so it is written to be total and cheap:
// - it never throws and never reads outside [offset, offset + length);
// - it never copies the input, and readDnsMessage allocates nothing: it
//   fills an object the caller passes again for every message, and a name
//   seen recently comes back as the same string (a small direct-mapped table
//   of decoded names, compared byte for byte), so a resolver asking the same
//   names again costs no garbage; parseDnsMessage is the allocating form;
// - the answer, authority and additional sections are never read, so a
//   response cut short by the kernel's capture limit, or one with the TC bit
//   set, still yields its id and rcode as long as the question is intact.
//
// Name presentation: lower-case ASCII, labels joined by ".", no trailing dot,
// the root name is ".". Punycode labels (`xn--…`) are kept as sent. Bytes that
// are not printable ASCII are escaped rather than rejected, the way zone files
// write them (RFC 1035 §5.1): a byte outside 0x21–0x7e becomes `\DDD` (three
// decimal digits), and a literal "." or "\" inside a label becomes `\.` or
// `\\`. Escaped names are therefore unambiguous and always plain ASCII; a
// name containing "\" is a name no hostname lookup produces, and the domain
// folding turns it into `invalid`.

/** Why a message could not be parsed. A small closed set, fit for a metric label. */
export type DnsParseError =
  /** fewer bytes than the header or question needs, or an empty input */
  | 'truncated'
  /** a length byte of 64–127: a label over 63 octets (or the obsolete 0x40 label type) */
  | 'label_too_long'
  /** a length byte of 128–191: the reserved 0x80 label type */
  | 'bad_label_type'
  /** more than 255 octets in wire form */
  | 'name_too_long'
  /** a compression pointer back into bytes this name already read, or more than MAX_POINTER_JUMPS */
  | 'pointer_loop'
  /** a compression pointer to bytes not yet read (forwards, past the end) or into the header */
  | 'bad_pointer'
  /** a query (QR=0) with QDCOUNT 0 */
  | 'no_question'
  /** offset/length outside the buffer they index */
  | 'bad_range';

export const DNS_PARSE_ERRORS: readonly DnsParseError[] = [
  'truncated',
  'label_too_long',
  'bad_label_type',
  'name_too_long',
  'pointer_loop',
  'bad_pointer',
  'no_question',
  'bad_range',
];

export interface DnsMessage {
  /** transaction id, 0–65535 */
  readonly id: number;
  /** QR bit */
  readonly isResponse: boolean;
  /** OPCODE, 0–15 (0 = QUERY) */
  readonly opcode: number;
  /** the 4-bit header RCODE; extended rcodes from an EDNS OPT record are not decoded */
  readonly rcode: number;
  /** TC bit: the sender cut the message short */
  readonly truncated: boolean;
  readonly qdcount: number;
  /** first question's name in presentation form (see above); "" for a response with QDCOUNT 0 */
  readonly qname: string;
  /** first question's type; 0 for a response with QDCOUNT 0 */
  readonly qtype: number;
  /** first question's class; 0 for a response with QDCOUNT 0 */
  readonly qclass: number;
}

export interface DnsParseFailure {
  readonly error: DnsParseError;
}

export type DnsParseResult = DnsMessage | DnsParseFailure;

export function isDnsParseFailure(r: DnsParseResult): r is DnsParseFailure {
  return (r as DnsParseFailure).error !== undefined;
}

export const DNS_HEADER_LENGTH = 12;
/** RFC 1035 §2.3.4: a name is at most 255 octets in wire form, a label at most 63. */
export const MAX_NAME_WIRE_LENGTH = 255;
export const MAX_LABEL_LENGTH = 63;
/**
 * Jumps allowed while reading one name. Pointers must also move strictly
 * backwards (see readName), which already makes loops impossible; the cap
 * bounds the work on a message made of nothing but pointer chains.
 */
export const MAX_POINTER_JUMPS = 16;

// Worst case presentation: 254 content octets each escaped to 4 chars, plus dots.
const SCRATCH = Buffer.allocUnsafe(1100);

// Recently decoded names, by their wire bytes: a name met again (the common
// case: resolvers ask the same names over and over) is found by hashing and
// comparing its bytes where they lie, case folded, and comes back as the
// same string, without being decoded or allocated again. A slot keeps the
// last name that hashed to it; names longer than NAME_CACHE_MAX_WIRE octets
// on the wire, or spread over compression pointers, are decoded each time.
// 2048 slots of 128 bytes: 256 KiB, whatever the input.
const NAME_CACHE_SLOTS = 2048;
const NAME_CACHE_MAX_WIRE = 128;
const cachedWire = new Uint8Array(NAME_CACHE_SLOTS * NAME_CACHE_MAX_WIRE);
const cachedWireLength = new Uint8Array(NAME_CACHE_SLOTS); // 0: empty (a name has at least its zero octet)
const cachedName: string[] = new Array<string>(NAME_CACHE_SLOTS).fill('');

/** A wire byte with A-Z folded to a-z (length octets are at most 63, never letters). */
function folded(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
}

/** The name whose `wire` octets (no pointers) start at b[at]: from the cache, or decoded and kept. */
function contiguousName(b: Uint8Array, at: number, wire: number): string {
  if (wire > NAME_CACHE_MAX_WIRE) return decodeName(b, at);
  let h = 0x811c9dc5;
  for (let i = 0; i < wire; i++) h = Math.imul(h ^ folded(b[at + i]!), 0x01000193);
  const slot = (h ^ (h >>> 15)) & (NAME_CACHE_SLOTS - 1);
  const base = slot * NAME_CACHE_MAX_WIRE;
  if (cachedWireLength[slot] === wire) {
    let i = 0;
    while (i < wire && cachedWire[base + i] === folded(b[at + i]!)) i++;
    if (i === wire) return cachedName[slot]!;
  }
  const name = decodeName(b, at);
  for (let i = 0; i < wire; i++) cachedWire[base + i] = folded(b[at + i]!);
  cachedWireLength[slot] = wire;
  cachedName[slot] = name;
  return name;
}

/**
 * Presentation form of a name already checked by readName, read from
 * absolute offset `at`, following pointers (relative to `o`) when `o` is
 * given.
 */
function decodeName(b: Uint8Array, at: number, o = -1): string {
  let p = at;
  let n = 0; // characters written to SCRATCH
  for (;;) {
    const len = b[p]!;
    if (len === 0) break;
    if ((len & 0xc0) === 0xc0) {
      p = o + (((len & 0x3f) << 8) | b[p + 1]!);
      continue;
    }
    if (n !== 0) SCRATCH[n++] = 0x2e; // "."
    for (let i = p + 1, stop = p + 1 + len; i < stop; i++) {
      const c = b[i]!;
      if (c >= 0x41 && c <= 0x5a) {
        SCRATCH[n++] = c | 0x20;
      } else if (c > 0x20 && c < 0x7f) {
        if (c === 0x2e || c === 0x5c) SCRATCH[n++] = 0x5c;
        SCRATCH[n++] = c;
      } else {
        SCRATCH[n++] = 0x5c;
        SCRATCH[n++] = 0x30 + ((c / 100) | 0);
        SCRATCH[n++] = 0x30 + (((c / 10) | 0) % 10);
        SCRATCH[n++] = 0x30 + (c % 10);
      }
    }
    p += 1 + len;
  }
  return n === 0 ? '.' : SCRATCH.toString('latin1', 0, n);
}

// Failure results are immutable and shared, so a failure allocates nothing.
const FAIL: { readonly [K in DnsParseError]: DnsParseFailure } = {
  truncated: Object.freeze({ error: 'truncated' }),
  label_too_long: Object.freeze({ error: 'label_too_long' }),
  bad_label_type: Object.freeze({ error: 'bad_label_type' }),
  name_too_long: Object.freeze({ error: 'name_too_long' }),
  pointer_loop: Object.freeze({ error: 'pointer_loop' }),
  bad_pointer: Object.freeze({ error: 'bad_pointer' }),
  no_question: Object.freeze({ error: 'no_question' }),
  bad_range: Object.freeze({ error: 'bad_range' }),
};

// readName's outputs, kept in module state so the hot path returns no tuple.
let nameEnd = 0; // offset just past the name in the uncompressed stream
let nameString = '';

/** A DnsMessage the parser fills in place: one per caller, reused for every message. */
export type DnsMessageFields = { -readonly [K in keyof DnsMessage]: DnsMessage[K] };

export function newDnsMessageFields(): DnsMessageFields {
  return { id: 0, isResponse: false, opcode: 0, rcode: 0, truncated: false, qdcount: 0, qname: '', qtype: 0, qclass: 0 };
}

/**
 * Parse the header and first question of the DNS message stored in
 * `bytes[offset, offset + length)`. Offsets inside the message (compression
 * pointers) are relative to `offset`. Without `withName` the name is checked
 * the same way but not built (qname is ""): a caller that takes the name
 * from elsewhere (a response, from its query) allocates no string.
 */
export function parseDnsMessage(bytes: Uint8Array, offset: number, length: number, withName = true): DnsParseResult {
  const out = newDnsMessageFields();
  const err = readDnsMessage(bytes, offset, length, withName, out);
  return err === null ? out : FAIL[err];
}

/**
 * parseDnsMessage into `out`, for the per-event path: null on success (out
 * holds the message), else why it failed (out then holds nothing useful).
 */
export function readDnsMessage(bytes: Uint8Array, offset: number, length: number, withName: boolean, out: DnsMessageFields): DnsParseError | null {
  if (
    !Number.isInteger(offset) ||
    !Number.isInteger(length) ||
    offset < 0 ||
    length < 0 ||
    offset + length > bytes.length
  ) {
    return 'bad_range';
  }
  if (length < DNS_HEADER_LENGTH) return 'truncated';

  const b = bytes;
  const o = offset;
  const flags = (b[o + 2]! << 8) | b[o + 3]!;
  const qdcount = (b[o + 4]! << 8) | b[o + 5]!;
  const isResponse = (flags & 0x8000) !== 0;

  if (qdcount === 0) {
    // Servers answer some malformed queries (FORMERR, NOTIMP) without echoing
    // the question. The rcode is what the caller needs from a response; the
    // name it gets from the matched query.
    if (!isResponse) return 'no_question';
    out.qname = '';
    out.qtype = 0;
    out.qclass = 0;
  } else {
    const err = readName(b, o, length, DNS_HEADER_LENGTH, withName);
    if (err !== null) return err;
    const p = nameEnd;
    if (p + 4 > length) return 'truncated';
    out.qname = nameString;
    out.qtype = (b[o + p]! << 8) | b[o + p + 1]!;
    out.qclass = (b[o + p + 2]! << 8) | b[o + p + 3]!;
  }
  out.id = (b[o]! << 8) | b[o + 1]!;
  out.isResponse = isResponse;
  out.opcode = (flags >> 11) & 0xf;
  out.rcode = flags & 0xf;
  out.truncated = (flags & 0x0200) !== 0;
  out.qdcount = qdcount;
  return null;
}

/**
 * Parse the name at message offset `at` of the message in
 * `bytes[offset, offset + length)`, with the same rules as the question name.
 * For callers that read further sections; also lets tests reach pointer
 * chains, which a first question can never legally contain.
 */
export function parseDnsName(bytes: Uint8Array, offset: number, length: number, at: number): string | DnsParseFailure {
  if (
    !Number.isInteger(offset) ||
    !Number.isInteger(length) ||
    !Number.isInteger(at) ||
    offset < 0 ||
    length < 0 ||
    at < 0 ||
    offset + length > bytes.length
  ) {
    return FAIL.bad_range;
  }
  const err = readName(bytes, offset, length, at, true);
  return err === null ? nameString : FAIL[err];
}

/**
 * Read the name starting at message offset `start`. On success sets
 * `nameEnd` and `nameString` and returns null.
 *
 * Compression pointers must point strictly before the start of the run of
 * labels that contains them. Every real compressor only refers to names it
 * has already written, so this never rejects a well-formed message, and it
 * makes each jump land lower than the last: a loop cannot be expressed.
 * (Consequently the first question, which starts right after the header,
 * can never contain a valid pointer.)
 */
function readName(b: Uint8Array, o: number, length: number, start: number, build: boolean): DnsParseError | null {
  let pos = start; // message offset of the next length byte
  let runStart = start; // where the current run of labels began
  let end = -1; // offset after the name in the original stream, once known
  let hi = start; // highest offset this name has read so far
  let jumps = 0;
  let wire = 0; // wire octets of the name so far, length bytes included

  // Checked whole before anything is decoded: a name that fails costs no string.
  for (;;) {
    if (pos >= length) return 'truncated';
    const len = b[o + pos]!;
    if (len === 0) {
      wire += 1;
      if (end < 0) end = pos + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= length) return 'truncated';
      const target = ((len & 0x3f) << 8) | b[o + pos + 1]!;
      if (end < 0) end = pos + 2;
      if (pos > hi) hi = pos;
      // Not strictly backwards: into bytes this name already read is a loop,
      // anything further on (or past the end) is simply invalid.
      if (target >= runStart) return target > hi ? 'bad_pointer' : 'pointer_loop';
      if (target < DNS_HEADER_LENGTH) return 'bad_pointer';
      if (++jumps > MAX_POINTER_JUMPS) return 'pointer_loop';
      pos = target;
      runStart = target;
      continue;
    }
    if (kind === 0x40) return 'label_too_long';
    if (kind === 0x80) return 'bad_label_type';

    wire += len + 1;
    // +1 for the terminating zero octet that must still follow.
    if (wire + 1 > MAX_NAME_WIRE_LENGTH) return 'name_too_long';
    const labelEnd = pos + 1 + len;
    if (labelEnd > length) return 'truncated';
    pos = labelEnd;
  }

  nameEnd = end;
  nameString = !build ? '' : jumps === 0 ? contiguousName(b, o + start, wire) : decodeName(b, o + start, o);
  return null;
}
