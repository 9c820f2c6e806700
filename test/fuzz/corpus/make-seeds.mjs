// Writes the hand-made seeds of the committed corpus (the captured ones come
// from test/probes/dns/fixtures/packets.json, dig and dnsmasq on this
// machine). Run once after changing it: node test/fuzz/corpus/make-seeds.mjs
// Each seed is small and shaped like what arrives in production.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const put = (target, name, bytes) => {
  mkdirSync(join(here, target), { recursive: true });
  writeFileSync(join(here, target, name), bytes);
};

// ── DNS messages ─────────────────────────────────────────────────────────
const u16 = (n) => [n >> 8, n & 0xff];
const name = (s) => [...s.split('.').filter(Boolean).flatMap((l) => [l.length, ...Buffer.from(l, 'latin1')]), 0];
const header = (id, flags, qd, an = 0, ns = 0, ar = 0) => [...u16(id), ...u16(flags), ...u16(qd), ...u16(an), ...u16(ns), ...u16(ar)];
const question = (n, type, cls = 1) => [...name(n), ...u16(type), ...u16(cls)];
const opt = (size, options = []) => [0, ...u16(41), ...u16(size), 0, 0, 0x80, 0, ...u16(options.length), ...options];
// EDNS client subnet (RFC 7871): 10.1.2.0/24
const ecs = [...u16(8), ...u16(7), ...u16(1), 24, 0, 10, 1, 2];
export const dnsSeeds = {
  'idn-query-xn--bcher-kva-de': [...header(0x1234, 0x0100, 1, 0, 0, 1), ...question('www.xn--bcher-kva.de', 1), ...opt(1232)],
  'edns-ecs-query': [...header(0x2222, 0x0100, 1, 0, 0, 1), ...question('api.example.com', 28), ...opt(4096, ecs)],
  'response-compressed-answers': [
    ...header(0x3333, 0x8180, 1, 2),
    ...question('svc.example.com', 1),
    0xc0, 12, ...u16(5), ...u16(1), 0, 0, 0, 60, ...u16(6), 3, 0x77, 0x77, 0x77, 0xc0, 16, // CNAME www.<example.com>
    0xc0, 45, ...u16(1), ...u16(1), 0, 0, 0, 60, ...u16(4), 10, 0, 0, 1,
  ],
  'response-tc-bit': [...header(0x4444, 0x8380, 1), ...question('big.example.org', 16)],
  'formerr-no-question': [...header(0x5555, 0x8181, 0)],
  'multi-question': [...header(0x6666, 0x0100, 2), ...question('a.example.net', 1), ...question('b.example.net', 28)],
  'pointer-loop-in-answer': [...header(0x7777, 0x8180, 1, 1), ...question('x.example.com', 1), 0xc0, 31, ...u16(1), ...u16(1)],
  'kube-search-path-query': [...header(0x0101, 0x0100, 1), ...question('redis.default.svc.cluster.local', 33)],
  'ptr-query': [...header(0x0202, 0x0100, 1), ...question('1.0.0.10.in-addr.arpa', 12)],
  'escaped-bytes-label': [...header(0x0303, 0x0100, 1), 5, 0x61, 0x2e, 0x20, 0x5c, 0xff, 3, 0x63, 0x6f, 0x6d, 0, ...u16(1), ...u16(1)],
  'label-63-octets': [...header(0x0404, 0x0100, 1), ...question(`${'a'.repeat(63)}.example.com`, 1)],
  'root-query-ns': [...header(0x0505, 0x0100, 1), 0, ...u16(2), ...u16(1)],
};
for (const [n, bytes] of Object.entries(dnsSeeds)) put('dns-wire', `seed-${n}`, Buffer.from(bytes));

// ── Query names for domain folding ───────────────────────────────────────
const names = [
  'www.api.google.com', 'a.b.example.co.uk', 'co.uk', 'bucket.s3.amazonaws.com', 'user.github.io',
  'redis.default.svc.cluster.local', 'kubernetes.default.svc.cluster.local.', '1.0.0.10.in-addr.arpa',
  'b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa', 'printer.local', 'localhost',
  'api.localhost', 'ip-10-0-0-1.ec2.internal', 'www.xn--bcher-kva.de', 'bücher.de', 'myhost', 'com', '.',
  'a\\.b.example.com', 'under_score.example.org', '-bad-.example.com', 'x.compute.amazonaws.com',
];
names.forEach((n, i) => put('dns-domain', `name-${String(i).padStart(2, '0')}`, Buffer.from(n, 'utf8')));

// ── Ring-buffer batches (bpf/events.h framing, struct kp_dns_event, kp_tcp_event) ──
const frame = (record) => {
  const padded = Buffer.alloc(8 + ((record.length + 7) & ~7));
  padded.writeUInt32LE(record.length, 0);
  record.copy(padded, 8);
  return padded;
};
// Addresses as the events hold them: 16 bytes, an IPv4 one in the first 4.
const v4 = (...octets) => Buffer.concat([Buffer.from(octets), Buffer.alloc(12)]);
const v6 = (hex) => Buffer.from(hex, 'hex');
const dnsEvent = ({ ts, cgroup = 4242, cookie, tgid = 1000, direction, transport = 1, payload, wireLen, server = v4(10, 96, 0, 10), family = 2 }) => {
  const r = Buffer.alloc(64 + payload.length);
  r.writeUInt32LE(2, 0);
  r.writeUInt32LE(r.length, 4);
  r.writeBigUInt64LE(BigInt(ts), 8);
  r.writeBigUInt64LE(BigInt(cgroup), 16);
  r.writeBigUInt64LE(BigInt(cookie), 24);
  r.writeUInt32LE(tgid, 32);
  r.writeUInt8(direction, 36);
  r.writeUInt8(transport, 37);
  r.writeUInt16LE(family, 38);
  r.writeUInt16LE(40000, 40);
  r.writeUInt16LE(53, 42);
  r.writeUInt16LE(payload.length, 44);
  r.writeUInt16LE(wireLen ?? payload.length, 46);
  server.copy(r, 48);
  payload.copy(r, 64);
  return r;
};
const tcpEvent = ({ result, elapsed = 250_000, daddr = v4(10, 244, 1, 7), family = 2 }) => {
  const r = Buffer.alloc(64);
  r.writeUInt32LE(1, 0);
  r.writeUInt32LE(64, 4);
  r.writeBigUInt64LE(1_000_000n, 8);
  r.writeBigUInt64LE(4242n, 16);
  r.writeBigUInt64LE(BigInt(elapsed), 24);
  r.writeUInt32LE(1000, 32);
  r.writeUInt32LE(1000, 36);
  r.writeUInt32LE(result, 40);
  r.writeUInt16LE(family, 44);
  r.writeUInt16LE(443, 46);
  daddr.copy(r, 48);
  return r;
};
const batch = (...records) => Buffer.concat(records.map(frame));
const q = Buffer.from(dnsSeeds['kube-search-path-query']);
const resp = Buffer.from(q);
resp[2] = 0x81;
resp[3] = 0x83; // NXDOMAIN
const tcpPrefixed = (m) => Buffer.concat([Buffer.from(u16(m.length)), m]);
put('event-batch', 'udp-query-response', batch(dnsEvent({ ts: 1e9, cookie: 7, direction: 1, payload: q }), dnsEvent({ ts: 1.002e9, cookie: 7, direction: 2, payload: resp })));
put('event-batch', 'tcp-query-response', batch(
  dnsEvent({ ts: 2e9, cookie: 9, direction: 1, transport: 2, payload: tcpPrefixed(q), wireLen: q.length + 2, server: v6('fd00001000960000000000000000000a'), family: 10 }),
  dnsEvent({ ts: 2.01e9, cookie: 9, direction: 2, transport: 2, payload: tcpPrefixed(resp), wireLen: resp.length + 2, server: v6('fd00001000960000000000000000000a'), family: 10 }),
));
put('event-batch', 'query-timeout-then-late-response', batch(dnsEvent({ ts: 1e9, cookie: 11, direction: 1, payload: Buffer.from(dnsSeeds['edns-ecs-query']) }), dnsEvent({ ts: 9e9, cookie: 11, direction: 2, payload: Buffer.from(dnsSeeds['response-compressed-answers']) })));
put('event-batch', 'malformed-dns-and-tcp', batch(dnsEvent({ ts: 1e9, cookie: 12, direction: 1, payload: Buffer.from(dnsSeeds['pointer-loop-in-answer']).subarray(0, 20) }), tcpEvent({ result: 1 }), tcpEvent({ result: 2, daddr: v6('00000000000000000000ffff7f000001'), family: 10 }), tcpEvent({ result: 6, daddr: v6('20010db8000000000000000000000001'), family: 10 })));

// ── Kubernetes list bodies and watch streams (kube-stream) ───────────────
// The first byte picks the chunk size the body is fed in (1 + byte % 97).
const pod = (name, rv) => ({
  metadata: { name, namespace: 'shop', uid: `5f1a2b3c-4d5e-6f70-8192-a3b4c5d6e7${rv.toString(16).padStart(2, '0')}`, resourceVersion: String(rv), labels: { app: 'web', note: 'a "quoted" ] } { value ✓' } },
  spec: { nodeName: 'node-1', containers: [{ name: 'web', image: 'nginx', args: ['[', '{', '\\'] }] },
  status: { phase: 'Running', podIP: '10.0.1.7', containerStatuses: [{ name: 'web', containerID: 'containerd://0f1e2d3c' }] },
});
const body = (size, value) => Buffer.concat([Buffer.from([size - 1]), Buffer.from(value)]);
put('kube-stream', 'pod-list-page', body(7, JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '812', continue: 'eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ', remainingItemCount: 3 }, items: [pod('web-a', 1), pod('web-b', 2)] })));
put('kube-stream', 'service-list-indented', body(64, JSON.stringify({ kind: 'ServiceList', apiVersion: 'v1', metadata: { resourceVersion: '90' }, items: [{ metadata: { name: 'db', namespace: 'shop' }, spec: { clusterIP: '10.96.0.12', ports: [{ port: 5432 }] } }] }, null, 2)));
put('kube-stream', 'watch-events', body(13, `${[
  { type: 'ADDED', object: pod('web-c', 3) },
  { type: 'MODIFIED', object: pod('web-c', 4) },
  { type: 'BOOKMARK', object: { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: '95' } } },
  { type: 'DELETED', object: pod('web-c', 5) },
].map((e) => JSON.stringify(e)).join('\n')}\n`));
put('kube-stream', 'watch-expired', body(1, `${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'too old resource version: 5 (812)', reason: 'Expired', code: 410 } })}\r\n`));
