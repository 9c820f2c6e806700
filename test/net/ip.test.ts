import t from 'tap';
import { canonicalIp, formatIp, isLoopback } from '../../src/net/ip.js';

const v6 = (text: string): Uint8Array => {
  // Expand a full (uncompressed) 8-group address into bytes.
  const bytes = new Uint8Array(16);
  text.split(':').forEach((g, i) => {
    const n = parseInt(g, 16);
    bytes[2 * i] = n >> 8;
    bytes[2 * i + 1] = n & 0xff;
  });
  return bytes;
};

t.test('IPv4', async (t) => {
  t.equal(formatIp(Uint8Array.from([10, 0, 1, 7]), 'ipv4'), '10.0.1.7');
  t.equal(formatIp(Uint8Array.from([127, 0, 0, 1, 99, 99]), 'ipv4'), '127.0.0.1', 'reads only 4 bytes');
});

t.test('IPv6 per RFC 5952', async (t) => {
  const cases: Array<[string, string]> = [
    ['0:0:0:0:0:0:0:1', '::1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group is not compressed
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // the longer run wins
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // the first of equal runs
    ['fe80:0:0:0:abcd:0:0:0', 'fe80::abcd:0:0:0'],
    ['0:0:0:0:0:ffff:a00:107', '10.0.1.7'], // IPv4-mapped
  ];
  for (const [full, want] of cases) t.equal(formatIp(v6(full), 'ipv6'), want, full);
});

t.test('loopback', async (t) => {
  t.ok(isLoopback('127.0.0.1'));
  t.ok(isLoopback('127.9.9.9'));
  t.ok(isLoopback('::1'));
  t.notOk(isLoopback('10.0.0.1'));
});

t.test('API text → the form the flows decoder prints', async (t) => {
  t.equal(canonicalIp('FD00:0:0:0:0:0:0:1'), 'fd00::1');
  t.equal(canonicalIp('::ffff:10.1.2.3'), '10.1.2.3', 'IPv4-mapped reads as IPv4, as the flows decoder prints it');
  t.equal(canonicalIp('010.001.002.003'), undefined, 'not an IP for node:net either');
  t.equal(canonicalIp('nonsense'), undefined);
  t.equal(canonicalIp('fe80::1%eth0'), 'fe80::1', 'a zone index is not part of the address');
  t.equal(canonicalIp('fe89::1%2001:db8::1:0000:0000:0000:0001'), 'fe89::1', 'a zone index full of colons (fuzzer finding) is dropped, not parsed');
});
