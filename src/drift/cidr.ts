// CIDR membership for NetworkPolicy ipBlocks (cidr minus except), IPv4 and
// IPv6, on the canonical text form the flows map and the API agree on.

import { canonicalIp } from '../net/ip.js';

interface Parsed {
  v6: boolean;
  value: bigint;
}

function parseAddress(address: string): Parsed | undefined {
  const text = canonicalIp(address);
  if (text === undefined) return undefined;
  if (!text.includes(':')) {
    const value = text.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
    return { v6: false, value };
  }
  // Expand the canonical (compressed) IPv6 text into 8 groups.
  const [head = '', tail] = text.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return { v6: true, value: groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n) };
}

const addresses = new Map<string, Parsed | null>();

/** Parsed once while flows with the address are being judged (a bounded memo: cleared when it grows large). */
function parsedAddress(address: string): Parsed | undefined {
  let parsed = addresses.get(address);
  if (parsed === undefined) {
    parsed = parseAddress(address) ?? null;
    if (addresses.size > 50_000) addresses.clear();
    addresses.set(address, parsed);
  }
  return parsed ?? undefined;
}

/** A parsed CIDR, or undefined when the text is none (the API server validates; a bad one matches nothing). */
export class Cidr {
  private constructor(
    private readonly v6: boolean,
    private readonly network: bigint,
    private readonly mask: bigint,
  ) {}

  static parse(text: string): Cidr | undefined {
    const slash = text.indexOf('/');
    if (slash < 0) return undefined;
    const addr = parseAddress(text.slice(0, slash));
    const bitsText = text.slice(slash + 1);
    if (addr === undefined || !/^[0-9]{1,3}$/.test(bitsText)) return undefined;
    const width = addr.v6 ? 128 : 32;
    const bits = Number(bitsText);
    if (bits > width) return undefined;
    const all = (1n << BigInt(width)) - 1n;
    const mask = bits === 0 ? 0n : (all >> BigInt(width - bits)) << BigInt(width - bits);
    return new Cidr(addr.v6, addr.value & mask, mask);
  }

  contains(address: string): boolean {
    const a = parsedAddress(address);
    return a !== undefined && a.v6 === this.v6 && (a.value & this.mask) === this.network;
  }
}

const cache = new Map<string, Cidr | null>();

/** Parsed once per distinct text: policies repeat the same blocks across flows. */
export function cidrContains(cidr: string, address: string): boolean {
  let parsed = cache.get(cidr);
  if (parsed === undefined) {
    parsed = Cidr.parse(cidr) ?? null;
    if (cache.size > 10_000) cache.clear();
    cache.set(cidr, parsed);
  }
  return parsed !== null && parsed.contains(address);
}
