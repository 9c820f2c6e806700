// DNS wire parser (src/probes/dns/wire.ts) on bytes any process can send.
// Invariant: never throws; a failure is one of DNS_PARSE_ERRORS; a message
// has every field in its wire range and a qname of printable ASCII no longer
// than the escaped worst case; the same bytes placed at another offset of a
// larger buffer parse the same (no read outside [offset, offset + length));
// qtype and rcode labels come from their documented sets.

const sources = ['src/probes/dns/wire.js', 'src/probes/dns/names.js'];

export default {
  sources,
  maxLength: 600,
  dictionary: [[0xc0, 0x0c], [0x00, 0x00, 0x29, 0x10, 0x00], [0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00], [0x04, 0x78, 0x6e, 0x2d, 0x2d]],
  async setup(load) {
    const wire = await load('src/probes/dns/wire.js');
    const names = await load('src/probes/dns/names.js');
    const errors = new Set(wire.DNS_PARSE_ERRORS);
    const qtypes = new Set(names.QTYPE_LABELS);
    const rcodes = new Set(names.RCODE_LABELS);
    const check = (r, what) => {
      if (wire.isDnsParseFailure(r)) {
        if (!errors.has(r.error)) throw new Error(`${what}: undocumented error ${r.error}`);
        return;
      }
      for (const [k, max] of [['id', 0xffff], ['opcode', 15], ['rcode', 15], ['qdcount', 0xffff], ['qtype', 0xffff], ['qclass', 0xffff]]) {
        if (!Number.isInteger(r[k]) || r[k] < 0 || r[k] > max) throw new Error(`${what}: ${k}=${r[k]} out of range`);
      }
      if (r.qname.length > 1100 || !/^[\x21-\x7e]*$/.test(r.qname)) throw new Error(`${what}: qname not printable ASCII: ${JSON.stringify(r.qname)}`);
      if (r.qdcount > 0 && r.qname === '') throw new Error(`${what}: empty qname with a question`);
      if (!qtypes.has(names.qtypeName(r.qtype))) throw new Error(`qtype label outside the set for ${r.qtype}`);
      if (!rcodes.has(names.rcodeName(r.rcode))) throw new Error(`rcode label outside the set for ${r.rcode}`);
    };
    const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
    return (data) => {
      const bytes = new Uint8Array(data);
      const r = wire.parseDnsMessage(bytes, 0, bytes.length);
      check(r, 'message');
      // The same message inside a larger buffer, with bytes that would make
      // any read outside its window visible.
      const pad = 7 + (bytes.length % 5);
      const big = new Uint8Array(bytes.length + 2 * pad).fill(0xc0);
      big.set(bytes, pad);
      const r2 = wire.parseDnsMessage(big, pad, bytes.length);
      if (!same(r, r2)) throw new Error(`offset changed the result: ${JSON.stringify(r)} vs ${JSON.stringify(r2)}`);
      // A name at an offset the input chooses (answer records, pointer chains).
      if (bytes.length >= 14) {
        const at = ((bytes[12] << 8) | bytes[13]) % bytes.length;
        const n = wire.parseDnsName(bytes, 0, bytes.length, at);
        if (typeof n === 'string') check({ id: 0, opcode: 0, rcode: 0, qdcount: 0, qtype: 0, qclass: 0, qname: n }, 'name');
        else check(n, 'name');
        const n2 = wire.parseDnsName(big, pad, bytes.length, at);
        if (!same(n, n2)) throw new Error(`offset changed the name result`);
      }
      // Every prefix is a truncated capture of the same message: never a crash.
      if (bytes.length > 12) check(wire.parseDnsMessage(bytes, 0, bytes.length >> 1), 'prefix');
    };
  },
};
