// Properties of the DNS wire parser over generated messages (fast-check),
// beside the coverage-guided fuzzing of test/fuzz/targets/dns-wire.mjs: the
// fuzzer finds crashes, these check answers against an independent encoder.
import t from 'tap';
import fc from 'fast-check';
import { isDnsParseFailure, parseDnsMessage, parseDnsName } from '../../../src/probes/dns/wire.js';

/** Presentation form of one label, per the parser's documented escaping. */
function present(label: Uint8Array): string {
  let s = '';
  for (const c of label) {
    if (c >= 0x41 && c <= 0x5a) s += String.fromCharCode(c | 0x20);
    else if (c === 0x2e || c === 0x5c) s += `\\${String.fromCharCode(c)}`;
    else if (c > 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += `\\${String(c).padStart(3, '0')}`;
  }
  return s;
}

const label = fc.uint8Array({ minLength: 1, maxLength: 63 });
// At most 255 octets in wire form: labels plus their length bytes plus the root.
const name = fc.array(label, { maxLength: 8 }).filter((ls) => ls.reduce((n, l) => n + l.length + 1, 1) <= 255);
const encode = (ls: Uint8Array[]): number[] => [...ls.flatMap((l) => [l.length, ...l]), 0];

t.test('any legal question name parses back to its presentation form', async (t) => {
  fc.assert(
    fc.property(name, fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }), fc.boolean(), (ls, id, qtype, response) => {
      const bytes = Uint8Array.from([id >> 8, id & 0xff, response ? 0x81 : 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, ...encode(ls), qtype >> 8, qtype & 0xff, 0, 1]);
      const m = parseDnsMessage(bytes, 0, bytes.length);
      if (isDnsParseFailure(m)) return false;
      return m.id === id && m.qtype === qtype && m.isResponse === response && m.qname === (ls.length === 0 ? '.' : ls.map(present).join('.'));
    }),
    { numRuns: 3000 },
  );
});

t.test('a compressed name (suffix by pointer) reads the same as written out', async (t) => {
  fc.assert(
    fc.property(name, name, (prefix, suffix) => {
      fc.pre(prefix.concat(suffix).reduce((n, l) => n + l.length + 1, 1) <= 255);
      // Question: the suffix written out. Then a name: prefix labels + pointer to the suffix.
      const question = [...encode(suffix), 0, 1, 0, 1];
      const compressed = [...prefix.flatMap((l) => [l.length, ...l]), 0xc0, 12];
      const bytes = Uint8Array.from([0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, ...question, ...compressed]);
      const at = 12 + question.length;
      const got = parseDnsName(bytes, 0, bytes.length, at);
      const all = prefix.concat(suffix);
      return got === (all.length === 0 ? '.' : all.map(present).join('.'));
    }),
    { numRuns: 2000 },
  );
});

t.test('every cut of a legal message is a failure or the same message, never a throw', async (t) => {
  fc.assert(
    fc.property(name, fc.nat(), (ls, cutSeed) => {
      const bytes = Uint8Array.from([0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...encode(ls), 0, 1, 0, 1]);
      const cut = cutSeed % (bytes.length + 1);
      const m = parseDnsMessage(bytes, 0, cut);
      return cut === bytes.length ? !isDnsParseFailure(m) : isDnsParseFailure(m) && m.error === 'truncated';
    }),
    { numRuns: 3000 },
  );
});

t.test('without the name, any bytes give the same verdict and fields, and qname ""', async (t) => {
  fc.assert(
    fc.property(fc.oneof(name.map((ls) => Uint8Array.from([0, 9, 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0, ...encode(ls), 0, 1, 0, 1])), fc.uint8Array({ maxLength: 300 })), (bytes) => {
      const full = parseDnsMessage(bytes, 0, bytes.length);
      const bare = parseDnsMessage(bytes, 0, bytes.length, false);
      if (isDnsParseFailure(full)) return isDnsParseFailure(bare) && bare.error === full.error;
      return !isDnsParseFailure(bare) && JSON.stringify({ ...full, qname: '' }) === JSON.stringify(bare);
    }),
    { numRuns: 3000 },
  );
});
