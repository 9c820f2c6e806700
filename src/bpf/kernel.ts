// What the running kernel and this process can do, read without loading
// anything: the facts the attach plans are chosen from and that
// `kubepulse check` prints.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroup2At, findMount } from '../cgroup/mounts.js';
import { UserError } from '../errors.js';
import type { Addon } from './addon.js';

export interface Capabilities {
  bpf: boolean;
  perfmon: boolean;
  netAdmin: boolean;
  sysAdmin: boolean;
  sysResource: boolean;
}

export interface KernelFeatures {
  release: string;
  /** /sys/kernel/btf/vmlinux: needed for CO-RE and tp_btf. */
  btf: boolean;
  /** kprobe perf PMU or tracefs kprobe_events: CONFIG_KPROBES (+ KPROBE_EVENTS). */
  kprobes: boolean;
  /** tracefs mount (for classic tracepoints), if any. */
  tracefs: string | undefined;
  /** cgroup v2 mount point in this process's mount namespace, if any. */
  cgroup2: string | undefined;
  capabilities: Capabilities;
  /** The soft RLIMIT_MEMLOCK in bytes (Infinity: unlimited); before 5.11 BPF maps are charged to it. */
  memlockBytes: number;
}

const CAP_NET_ADMIN = 12;
const CAP_SYS_ADMIN = 21;
const CAP_SYS_RESOURCE = 24;
const CAP_PERFMON = 38;
const CAP_BPF = 39;

/** Effective capabilities from the CapEff line of /proc/self/status. */
export function parseCapabilities(status: string): Capabilities {
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? '0';
  const caps = BigInt('0x' + hex);
  const has = (bit: number): boolean => (caps & (1n << BigInt(bit))) !== 0n;
  const sysAdmin = has(CAP_SYS_ADMIN);
  // Before CAP_BPF/CAP_PERFMON existed (5.8), CAP_SYS_ADMIN covered both.
  return {
    bpf: has(CAP_BPF) || sysAdmin,
    perfmon: has(CAP_PERFMON) || sysAdmin,
    netAdmin: has(CAP_NET_ADMIN),
    sysAdmin,
    sysResource: has(CAP_SYS_RESOURCE),
  };
}

/** The soft RLIMIT_MEMLOCK from a /proc/<pid>/limits text, in bytes; Infinity when unlimited or unreadable. */
export function parseMemlock(limits: string): number {
  const soft = /^Max locked memory\s+(\S+)/m.exec(limits)?.[1];
  return soft === undefined || soft === 'unlimited' ? Infinity : Number(soft);
}

/**
 * Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK rather than to the
 * memory cgroup; libbpf raises the limit to unlimited there, which needs
 * CAP_SYS_RESOURCE. From 5.11 on the limit plays no part.
 */
export function chargesMemlock(release: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major < 5 || (major === 5 && minor < 11);
}

export function detectKernel(paths: { procfs: string; sysfs: string; cgroupfs?: string | undefined }): KernelFeatures {
  const read = (p: string): string => {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      return '';
    }
  };
  // Our own mount namespace: these are the paths we open.
  const mounts = read(join(paths.procfs, 'self', 'mounts'));
  const tracefs =
    findMount(mounts, 'tracefs') ??
    [join(paths.sysfs, 'kernel', 'tracing'), join(paths.sysfs, 'kernel', 'debug', 'tracing')].find((p) =>
      existsSync(join(p, 'events')),
    );
  const kprobes =
    existsSync(join(paths.sysfs, 'bus', 'event_source', 'devices', 'kprobe', 'type')) ||
    (tracefs !== undefined && existsSync(join(tracefs, 'kprobe_events')));
  return {
    release: read(join(paths.procfs, 'sys', 'kernel', 'osrelease')).trim(),
    btf: existsSync(join(paths.sysfs, 'kernel', 'btf', 'vmlinux')),
    kprobes,
    tracefs,
    cgroup2: paths.cgroupfs !== undefined ? cgroup2At(mounts, paths.cgroupfs) : findMount(mounts, 'cgroup2'),
    capabilities: parseCapabilities(read(join(paths.procfs, 'self', 'status'))),
    memlockBytes: parseMemlock(read(join(paths.procfs, 'self', 'limits'))),
  };
}

/** Refuses to start where nothing could work, naming what is missing. */
export function preflight(kernel: KernelFeatures): void {
  const caps = kernel.capabilities;
  const missing = [caps.bpf ? '' : 'CAP_BPF', caps.perfmon ? '' : 'CAP_PERFMON'].filter(Boolean);
  if (missing.length > 0) throw new UserError(`cannot load BPF: operation not permitted (needs ${missing.join(' and ')}, or root)`);
  if (!kernel.btf)
    throw new UserError('cannot load BPF: the kernel has no BTF at /sys/kernel/btf/vmlinux (needs CONFIG_DEBUG_INFO_BTF)');
  if (chargesMemlock(kernel.release) && Number.isFinite(kernel.memlockBytes) && !caps.sysResource && !caps.sysAdmin)
    throw new UserError(
      `cannot load BPF: kernel ${kernel.release} charges BPF maps to RLIMIT_MEMLOCK (${kernel.memlockBytes} bytes here) and raising it needs CAP_SYS_RESOURCE (kernels before 5.11; or a memlock ulimit of unlimited)`,
    );
}

/** What the BPF side can do, probed by asking the kernel (needs CAP_BPF). */
export interface BpfFeatures {
  ringbuf: boolean;
}

export function probeBpf(addon: Addon): BpfFeatures {
  return { ringbuf: addon.probeMapType('ringbuf') };
}
