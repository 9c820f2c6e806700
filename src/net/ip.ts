// IP addresses as the kernel stores them (network-order bytes) to text, and
// text from the Kubernetes API to the same form.

import { isIP } from 'node:net';

/** 4 bytes (AF_INET) or 16 bytes (AF_INET6) → the usual text form. */
export function formatIp(bytes: Uint8Array, family: 'ipv4' | 'ipv6'): string {
  if (family === 'ipv4') return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] as number) << 8) | (bytes[i + 1] as number));
  // IPv4-mapped (::ffff:a.b.c.d) reads best as the IPv4 address it is.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return formatIp(bytes.subarray(12, 16), 'ipv4');
  // RFC 5952: compress the longest run (≥ 2) of zero groups, the first if tied.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}

/** The text form the flows map decoder prints (formatIp), so lookups match; undefined if not an IP. */
export function canonicalIp(input: string): string | undefined {
  // A zone index (fe80::1%eth0) names a host interface, not part of the
  // address; isIP accepts anything after the "%", colons included, which
  // the group arithmetic below must never see (found by fuzzing).
  const zone = input.indexOf('%');
  const text = zone >= 0 && isIP(input) === 6 ? input.slice(0, zone) : input;
  const family = isIP(text);
  if (family === 4) return text.split('.').map((o) => String(Number(o))).join('.');
  if (family !== 6) return undefined;
  const bytes = new Uint8Array(16);
  let head = text;
  let tail = '';
  const gap = text.indexOf('::');
  if (gap >= 0) {
    head = text.slice(0, gap);
    tail = text.slice(gap + 2);
  }
  const groups = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const [a = 0, b = 0, c = 0, d = 0] = g.split('.').map(Number);
        out.push((a << 8) | b, (c << 8) | d);
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const h = groups(head);
  const t = groups(tail);
  const all = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return formatIp(bytes, 'ipv6');
}
