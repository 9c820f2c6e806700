// Builds ring-buffer batches as the addon hands them to JavaScript, so the
// decoders and collectors can be driven without a kernel.

import { DIRECTION_QUERY, DNS_EVENT_LAYOUT, DNS_EVENT_TYPE, TRANSPORT_TCP, TRANSPORT_UDP } from '../../src/probes/dns/event.js';
import { TCP_EVENT_LAYOUT, TCP_EVENT_TYPE } from '../../src/probes/tcp/event.js';

/** Frames records as the addon does: [u32 len][u32 0][bytes][pad to 8]. */
export function frame(records: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const r of records) {
    const head = Buffer.alloc(8);
    head.writeUInt32LE(r.length, 0);
    parts.push(head, r, Buffer.alloc(((r.length + 7) & ~7) - r.length));
  }
  return Buffer.concat(parts);
}

export interface TcpEventFields {
  tsNs?: bigint;
  cgroupId?: bigint;
  elapsedNs: bigint;
  tgid?: number;
  pid?: number;
  result: number;
  family?: number;
  dport?: number;
  /** The peer's address: 4 bytes (IPv4) or 16 (IPv6), as the kernel writes it. */
  daddr?: number[];
}

export function tcpRecord(f: TcpEventFields): Buffer {
  const o = TCP_EVENT_LAYOUT.offsets;
  const b = Buffer.alloc(TCP_EVENT_LAYOUT.size);
  b.writeUInt32LE(TCP_EVENT_TYPE, o.hdr);
  b.writeUInt32LE(TCP_EVENT_LAYOUT.size, o.hdr + 4);
  b.writeBigUInt64LE(f.tsNs ?? 1n, o.ts_ns);
  b.writeBigUInt64LE(f.cgroupId ?? 1n, o.cgroup_id);
  b.writeBigUInt64LE(f.elapsedNs, o.elapsed_ns);
  b.writeUInt32LE(f.tgid ?? 1, o.tgid);
  b.writeUInt32LE(f.pid ?? 1, o.pid);
  b.writeUInt32LE(f.result, o.result);
  b.writeUInt16LE(f.family ?? 2, o.family);
  b.writeUInt16LE(f.dport ?? 80, o.dport);
  Buffer.from(f.daddr ?? [10, 0, 0, 7]).copy(b, o.daddr);
  return b;
}

/** A DNS message with one question (QTYPE A unless given, class IN); flags 0x0100 is a query, 0x8180|rcode a response. */
export function dnsMessage(id: number, flags: number, name: string, qtype = 1): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(flags, 2);
  header.writeUInt16BE(1, 4);
  const labels = name.split('.').filter((l) => l !== '').flatMap((l) => [Buffer.from([l.length]), Buffer.from(l, 'latin1')]);
  return Buffer.concat([header, ...labels, Buffer.from([0, qtype >> 8, qtype & 0xff, 0, 1])]);
}

export interface DnsEventFields {
  direction: number;
  message: Buffer;
  tsNs?: bigint;
  cgroupId?: bigint;
  cookie?: bigint;
  tgid?: number;
  /** TCP: the message goes with its 2-byte length prefix (lengthPrefix overrides the value written). */
  tcp?: boolean;
  lengthPrefix?: number;
  /** The packet's DNS length on the wire; default: what the payload holds. */
  wireLength?: number;
  /** The server's address: 4 bytes (IPv4) or 16 (IPv6). */
  server?: number[];
}

/** A struct kp_dns_event record as the kernel writes it (bpf/dns.h). */
export function dnsRecord(f: DnsEventFields): Buffer {
  const o = DNS_EVENT_LAYOUT.offsets;
  let payload = f.message;
  if (f.tcp) {
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16BE(f.lengthPrefix ?? f.message.length);
    payload = Buffer.concat([prefix, f.message]);
  }
  const b = Buffer.alloc(o.payload + payload.length);
  b.writeUInt32LE(DNS_EVENT_TYPE, o.hdr);
  b.writeUInt32LE(b.length, o.hdr + 4);
  b.writeBigUInt64LE(f.tsNs ?? 1_000_000n, o.ts_ns);
  b.writeBigUInt64LE(f.cgroupId ?? 1n, o.cgroup_id);
  b.writeBigUInt64LE(f.cookie ?? 1n, o.socket_cookie);
  b.writeUInt32LE(f.tgid ?? 1, o.tgid);
  b.writeUInt8(f.direction, o.direction);
  b.writeUInt8(f.tcp ? TRANSPORT_TCP : TRANSPORT_UDP, o.transport);
  b.writeUInt16LE(f.server?.length === 16 ? 10 : 2, o.family);
  b.writeUInt16LE(f.direction === DIRECTION_QUERY ? 40000 : 53, o.sport);
  b.writeUInt16LE(f.direction === DIRECTION_QUERY ? 53 : 40000, o.dport);
  b.writeUInt16LE(payload.length, o.payload_len);
  b.writeUInt16LE(f.wireLength ?? payload.length, o.wire_len);
  Buffer.from(f.server ?? [10, 96, 0, 10]).copy(b, o.server);
  payload.copy(b, o.payload);
  return b;
}
