// Addresses as the TCP and DNS events carry them (16 bytes: IPv6, or IPv4 in
// the first 4), held in the stream as the family and four network-order
// words — plain numbers, so an event stored in the history allocates nothing
// for its address — and turned into text only when a subscriber needs it.

import { formatIp } from '../net/ip.js';

export const AF_INET = 2;

const scratch = new Uint8Array(16);
const words = new DataView(scratch.buffer);

/** The text form formatIp gives (and canonicalIp gives filters): "10.0.0.7", "fd00::7". */
export function addressText(family: number, a0: number, a1: number, a2: number, a3: number): string {
  if (family === AF_INET) return `${a0 >>> 24}.${(a0 >>> 16) & 0xff}.${(a0 >>> 8) & 0xff}.${a0 & 0xff}`;
  words.setUint32(0, a0);
  words.setUint32(4, a1);
  words.setUint32(8, a2);
  words.setUint32(12, a3);
  return formatIp(scratch, 'ipv6');
}

/** "10.0.0.7:443", "[fd00::7]:443". */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
