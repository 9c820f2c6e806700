// Stream records for tests, with the peer (tcp) or server (dns) given as
// text and turned into the family and network-order words the kernel's
// events carry.

import type { PodIdentity } from '../../src/metadata/resolver.js';
import { addressOnlyPeers, type PeerResolver } from '../../src/peers/resolver.js';
import { DnsRecord, TcpRecord } from '../../src/stream/record.js';

export const AF_INET = 2;
export const AF_INET6 = 10;

/** "10.0.0.7" or "fd00::7" → [family, w0, w1, w2, w3]. */
export function addressWords(text: string): [number, number, number, number, number] {
  if (!text.includes(':')) {
    const [a = 0, b = 0, c = 0, d = 0] = text.split('.').map(Number);
    return [AF_INET, ((a << 24) | (b << 16) | (c << 8) | d) >>> 0, 0, 0, 0];
  }
  const [head = '', tail] = text.split('::');
  const groups = (s: string | undefined) => (s === undefined || s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const h = groups(head);
  const t = groups(tail);
  const all = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const w = [0, 1, 2, 3].map((i) => (((all[2 * i] as number) << 16) | (all[2 * i + 1] as number)) >>> 0);
  return [AF_INET6, w[0]!, w[1]!, w[2]!, w[3]!];
}

/** "10.0.0.7" or "fd00::7" → the 4 or 16 bytes the kernel writes. */
export function addressBytes(text: string): number[] {
  const [family, ...words] = addressWords(text);
  const bytes = words.flatMap((w) => [w >>> 24, (w >>> 16) & 0xff, (w >>> 8) & 0xff, w & 0xff]);
  return family === AF_INET ? bytes.slice(0, 4) : bytes;
}

export function tcpRec(timeMs: number, id: PodIdentity, result: string, seconds: number, port: number, address = '10.0.0.7', peers: PeerResolver = addressOnlyPeers): TcpRecord {
  return new TcpRecord(timeMs, id, result, seconds, port, ...addressWords(address), peers);
}

export function dnsRec(timeMs: number, id: PodIdentity, name: string, domain: string, qtype: string, rcode: string, latency: number, port = 53, server = '10.96.0.10'): DnsRecord {
  return new DnsRecord(timeMs, id, name, domain, qtype, rcode, latency, port, ...addressWords(server));
}
