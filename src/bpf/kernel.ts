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
}

const CAP_NET_ADMIN = 12;
const CAP_SYS_ADMIN = 21;
const CAP_PERFMON = 38;
const CAP_BPF = 39;

/** Effective capabilities from the CapEff line of /proc/self/status. */
export function parseCapabilities(status: string): Capabilities {
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? '0';
  const caps = BigInt('0x' + hex);
  const has = (bit: number): boolean => (caps & (1n << BigInt(bit))) !== 0n;
  const sysAdmin = has(CAP_SYS_ADMIN);
  // Before CAP_BPF/CAP_PERFMON existed (5.8), CAP_SYS_ADMIN covered both.
  return { bpf: has(CAP_BPF) || sysAdmin, perfmon: has(CAP_PERFMON) || sysAdmin, netAdmin: has(CAP_NET_ADMIN), sysAdmin };
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
  };
}

/** Refuses to start where nothing could work, naming what is missing. */
export function preflight(kernel: KernelFeatures): void {
  if (!kernel.capabilities.bpf || !kernel.capabilities.perfmon)
    throw new UserError('cannot load BPF: operation not permitted (needs CAP_BPF and CAP_PERFMON, or root)');
  if (!kernel.btf)
    throw new UserError('cannot load BPF: the kernel has no BTF at /sys/kernel/btf/vmlinux (needs CONFIG_DEBUG_INFO_BTF)');
}

/** What the BPF side can do, probed by asking the kernel (needs CAP_BPF). */
export interface BpfFeatures {
  ringbuf: boolean;
}

export function probeBpf(addon: Addon): BpfFeatures {
  return { ringbuf: addon.probeMapType('ringbuf') };
}
