// Addresses from outside: the flows map's key (src/probes/flows/map.ts,
// 32 bytes the kernel fills from packets) and the IP text of pods,
// Services and nodes from the API server (canonicalIp in
// src/net/ip.ts), which must meet in one spelling for
// peer lookups to match.
// Invariant: never throws; a decoded key has a valid IP text, a direction
// and protocol from their sets; canonicalIp of any IP text is an IP of the
// same family (a zone index dropped), is idempotent, and agrees with formatIp on the bytes the
// URL parser reads from it.

import { isIP } from 'node:net';

export default {
  sources: ['src/probes/flows/map.js', 'src/net/ip.js'],
  maxLength: 64,
  dictionary: ['::', '::ffff:', '.', ':', 'fe80::', '%eth0', '10.0.0.1', '2001:db8::1', '0.0.0.0'],
  async setup(load) {
    const map = await load('src/probes/flows/map.js');
    const ip = await load('src/net/ip.js');
    const peers = ip; // canonicalIp lives beside formatIp
    return (data) => {
      const key = Buffer.alloc(map.FLOW_MAP_LAYOUT.keySize);
      data.copy(key, 0, 0, key.length);
      const k = map.decodeFlowKey(key);
      if (isIP(k.peer) === 0) throw new Error(`peer ${k.peer} is not an IP`);
      if (!['egress', 'ingress'].includes(k.direction) || !['TCP', 'UDP'].includes(k.protocol)) throw new Error(`key ${JSON.stringify(k)}`);
      const counts = map.decodeFlowCounts(Buffer.concat([data, Buffer.alloc(24)]).subarray(0, 24));
      if (![counts.count, counts.firstNs, counts.lastNs].every((n) => Number.isFinite(n) && n >= 0)) throw new Error(`counts ${JSON.stringify(counts)}`);
      // The decoded text must read back the same through the API-side spelling.
      if (peers.canonicalIp(k.peer) !== k.peer) throw new Error(`canonicalIp(${k.peer}) = ${peers.canonicalIp(k.peer)}`);

      const text = data.toString('latin1');
      const family = isIP(text);
      const c = peers.canonicalIp(text);
      if (family === 0) {
        if (c !== undefined) throw new Error(`canonicalIp(${JSON.stringify(text)}) = ${c} for a non-IP`);
        return;
      }
      if (c === undefined || isIP(c) === 0) throw new Error(`canonicalIp(${JSON.stringify(text)}) = ${c}`);
      if (peers.canonicalIp(c) !== c) throw new Error(`canonicalIp not idempotent: ${text} → ${c} → ${peers.canonicalIp(c)}`);
      if (family === 6) {
        // Independent reading of the same text (without a zone index, which
        // names an interface): the WHATWG URL parser.
        const host = new URL(`http://[${text.split('%')[0]}]/`).hostname.slice(1, -1);
        const bytes = new Uint8Array(16);
        const expanded = expand(host);
        expanded.forEach((g, i) => ((bytes[2 * i] = g >> 8), (bytes[2 * i + 1] = g & 0xff)));
        const want = ip.formatIp(bytes, 'ipv6');
        if (c !== want) throw new Error(`canonicalIp(${JSON.stringify(text)}) = ${c}, the bytes say ${want}`);
      }
    };
  },
};

function expand(host) {
  const [head, tail = undefined] = host.split('::');
  const h = head === '' ? [] : head.split(':').map((g) => parseInt(g, 16));
  const t = tail === undefined || tail === '' ? [] : tail.split(':').map((g) => parseInt(g, 16));
  return tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
}
