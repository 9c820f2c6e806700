// Reading the kernel's little-endian u64 fields and per-CPU counters: one
// place, imported by every decoder (a leaf module: it imports nothing).

/**
 * A u64 field as a JS number. Exact below 2^53: cgroup ids always are, and
 * monotonic nanosecond timestamps are for the first 104 days of uptime;
 * after that they round to a few ns, harmless for the latencies user space
 * derives from them (the kernel computes TCP latencies itself).
 */
export function readU64(view: DataView, offset: number): number {
  return view.getUint32(offset, true) + view.getUint32(offset + 4, true) * 4294967296;
}

/** The same, from a Buffer (map keys and values). */
export function bufferU64(b: Buffer, offset: number): number {
  return b.readUInt32LE(offset) + b.readUInt32LE(offset + 4) * 4294967296;
}

/** A u64 map key (a cgroup id) as the kernel lays it out. */
export function u64Key(value: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(value));
  return b;
}

/** The sum of a per-CPU u64 map value (one 8-byte slot per possible CPU). */
export function sumPerCpu(value: Buffer | null, numCpus: number): number {
  if (!value) return 0;
  let total = 0;
  for (let cpu = 0; cpu < numCpus && cpu * 8 + 8 <= value.length; cpu++) total += Number(value.readBigUInt64LE(cpu * 8));
  return total;
}
