// Builds ring-buffer batches as the addon hands them to JavaScript, so the
// decoders and collectors can be driven without a kernel.

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
  return b;
}
