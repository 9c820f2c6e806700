// Cgroup births: the path of every cgroup v2 directory created since the
// daemon attached bpf/cgroups.bpf.c, by cgroup id, from the kernel.
//
// Why the kernel: a brand-new container's first events (a Job's one DNS
// query and connect) often reach user space after the container has exited
// and the runtime has removed its cgroup. /proc/<pid>/cgroup is gone by then,
// a rescan of the kubepods tree no longer finds the directory, and a cgroup
// v2 file handle (open_by_handle_at with the id) fails with ESTALE once the
// directory is removed (measured on this machine: 24 µs per call while it
// exists). The cgroup_mkdir tracepoint records the path at creation, before
// the container's first instruction, and the LRU map keeps it after the
// directory is gone. User space reads it only on a resolver miss: one map
// lookup (a bpf() syscall) per new cgroup, nothing per event of a known one.
import type { BpfObjectHandle } from '../bpf/addon.js';
import type { ProbeSpec } from '../bpf/probe.js';

/** KP_CGROUP_PATH_MAX in bpf/cgroups.h. */
export const CGROUP_PATH_MAX = 512;
/** sizeof(struct kp_cgroup_birth). */
export const CGROUP_BIRTH_SIZE = 8 + CGROUP_PATH_MAX;

/** How the births program attaches, in order of preference. */
export const cgroupBirthsSpec: ProbeSpec = {
  name: 'cgroup_births',
  objectFile: 'cgroups.bpf.o',
  plans: [
    {
      hook: 'tp_btf/cgroup_mkdir',
      mode: 'any',
      programs: [{ name: 'kp_cgroup_mkdir_btf' }],
      unavailable: (k) => (k.btf ? undefined : 'needs kernel BTF (CONFIG_DEBUG_INFO_BTF)'),
    },
    {
      hook: 'raw_tp/cgroup_mkdir',
      mode: 'any',
      programs: [{ name: 'kp_cgroup_mkdir_raw' }],
      unavailable: () => undefined,
    },
  ],
};

/** Where the resolver asks for the path of a cgroup id it has never seen. */
export interface CgroupPathSource {
  /** The path (relative to the cgroup v2 root, leading '/'), undefined if not known; null if known but cut short. */
  pathOf(cgroupId: number): string | null | undefined;
}

/** Decodes one struct kp_cgroup_birth; null when the kernel had to cut the path. */
export function decodeBirth(value: Buffer): string | null {
  if (value.length < CGROUP_BIRTH_SIZE) throw new RangeError(`cgroup birth record of ${value.length} bytes, expected ${CGROUP_BIRTH_SIZE}`);
  if (value.readUInt32LE(4) !== 0) return null;
  const length = Math.min(value.readUInt32LE(0), CGROUP_PATH_MAX - 1);
  return value.toString('utf8', 8, 8 + length);
}

/** The births map of a loaded cgroups.bpf.o. */
export class KernelCgroupBirths implements CgroupPathSource {
  /** Lookups made (one per cgroup id the resolver had never seen), for the bench and tests. */
  lookups = 0;
  private readonly key = Buffer.alloc(8);

  constructor(private readonly object: Pick<BpfObjectHandle, 'mapLookup'>) {}

  pathOf(cgroupId: number): string | null | undefined {
    this.lookups++;
    this.key.writeBigUInt64LE(BigInt(cgroupId));
    const value = this.object.mapLookup('cgroup_births', this.key);
    return value === null ? undefined : decodeBirth(value);
  }
}
