// Which syscalls each container makes, read from the kernel's per-cgroup
// bitmaps when asked (/api/v1/syscalls, scrape), for seccomp profiles.
// The kernel records pods only: PodRoots (../pod-roots.ts) keeps its list of
// pod roots (kubepods cgroups) current.

import { LRUCache } from 'lru-cache';
import { Gauge, type Registry } from 'prom-client';
import type { ContainerSyscalls, SyscallsSnapshot } from '../../api/v1.js';
import type { BpfObjectHandle } from '../../bpf/addon.js';
import type { SyscallsRecording } from '../../config.js';
import { UserError } from '../../errors.js';
import type { PodIndex } from '../../metadata/pod-index.js';
import type { Resolver } from '../../metadata/resolver.js';
import { nodeArch, syscallTable, type SyscallTable } from '../../policy/syscall-table.js';
import type { PodRoots } from '../pod-roots.js';

const WORDS = 8;

export function syscallNumbers(bits: Buffer): number[] {
  const out: number[] = [];
  for (let w = 0; w < WORDS; w++) {
    const lo = bits.readUInt32LE(w * 8);
    const hi = bits.readUInt32LE(w * 8 + 4);
    for (let b = 0; b < 32; b++) {
      if (lo & (1 << b)) out.push(w * 64 + b);
      if (hi & (1 << b)) out.push(w * 64 + 32 + b);
    }
  }
  return out.sort((a, b) => a - b);
}

/** A name for every number: the node architecture's table's, else syscall_<n> (newer than the table, or no table). */
export function syscallName(nr: number, table: SyscallTable | undefined): string {
  return table?.name(nr) ?? `syscall_${nr}`;
}

export interface SyscallsRecordingState {
  mode: SyscallsRecording;
  /** The sys_enter hook is attached now. */
  recording: boolean;
}

export class SyscallsCollector {
  private object: BpfObjectHandle | undefined;
  /** The programs of the hook plan that loaded, to attach again when recording starts. */
  private programs: string[] = [];
  private recording = false;
  /** Known pods' UID → their cgroups seen in the kernel map (to delete when the pod goes). */
  private readonly cgroupsOfPod = new Map<string, Set<number>>();
  /**
   * UIDs of pods deleted: a dying container's last syscalls (exit_group,
   * the runtime's clean-up in its cgroup) land in the kernel map after
   * podGone emptied it, and resolve as a pod no one knows. Without this
   * they would stay for good, and fill the map after 8,192 churned pods.
   */
  private readonly deletedPods = new LRUCache<string, true>({ max: 4096 });
  /**
   * The last read, kept until the event loop turns: one scrape asks twice
   * (the observed gauge and seccomp drift, both collected in the same
   * synchronous pass), and walking the map and naming every bit costs a few
   * ms with thousands of containers.
   */
  private lastRead: readonly ContainerSyscalls[] | undefined;
  /**
   * Each container's bits at the last read and their names: decoding 512
   * bits and naming each set one was most of a read (every scrape) with
   * ~150 containers, for names that had not changed.
   */
  private readonly named = new Map<number, { bits: Buffer; names: string[] }>();
  private readonly arch: string;
  private readonly table: SyscallTable | undefined;

  constructor(
    registry: Registry,
    private readonly resolver: Resolver,
    private readonly pods: PodIndex,
    private readonly options: {
      node: string;
      podRoots?: PodRoots;
      recording?: SyscallsRecording;
      /** uname -m of the node; default this machine's */
      arch?: string;
    },
  ) {
    // The numbers the kernel records are this node's architecture's.
    this.arch = options.arch ?? nodeArch();
    this.table = syscallTable(this.arch);
    const self = this;
    new Gauge({
      name: 'kubepulse_syscalls_observed',
      help: 'Distinct syscalls a container has made since it started (or since KubePulse did).',
      labelNames: ['namespace', 'workload', 'pod', 'container'],
      registers: [registry],
      collect() {
        this.reset();
        for (const c of self.read()) {
          if (c.pod) this.set({ namespace: c.namespace, workload: c.workload, pod: c.pod, container: c.container }, c.syscalls.length);
        }
      },
    });
    new Gauge({
      name: 'kubepulse_syscalls_recording',
      help: '1 while the syscalls probe\'s sys_enter hook is attached (recording), 0 while it is not (--syscalls-recording=on-demand).',
      registers: [registry],
      collect() {
        this.set(self.recordingState().recording ? 1 : 0);
      },
    });
    new Gauge({
      name: 'kubepulse_syscalls_pod_roots',
      help: 'cgroups under which syscalls are recorded (kubepods cgroups found).',
      registers: [registry],
      collect() {
        this.set(self.object ? (self.options.podRoots?.size ?? 0) : 0);
      },
    });
  }

  /**
   * Called once the programs are attached: the kernel learns the pod roots.
   * On demand, the hook is detached again at once: attached, sys_enter puts
   * every task of the node on the syscall slow path, pod or not.
   */
  attach(object: BpfObjectHandle): void {
    this.object = object;
    this.lastRead = undefined;
    this.recording = true;
    this.options.podRoots?.add('syscalls', object);
    if (this.options.recording === 'on-demand') this.setRecording(false);
  }

  /** Attaches or detaches the sys_enter hook; what was recorded stays. */
  setRecording(on: boolean): SyscallsRecordingState {
    if (!this.object) throw new UserError('the syscalls probe is not loaded');
    if (on !== this.recording) {
      if (on) for (const name of this.programs) this.object.attach(name);
      else {
        this.programs = Object.keys(this.object.programIds());
        this.object.detachAll();
      }
      this.recording = on;
    }
    return this.recordingState();
  }

  recordingState(): SyscallsRecordingState {
    return { mode: this.options.recording ?? 'always', recording: this.object !== undefined && this.recording };
  }

  stop(): void {
    if (this.object) this.options.podRoots?.remove(this.object);
  }

  /** The containers in the kernel map now; the same array for every call until the event loop turns. */
  read(): readonly ContainerSyscalls[] {
    if (this.lastRead === undefined) {
      this.lastRead = this.readMap();
      setImmediate(() => {
        this.lastRead = undefined;
      }).unref();
    }
    return this.lastRead;
  }

  private readMap(): ContainerSyscalls[] {
    if (!this.object) return [];
    const out: ContainerSyscalls[] = [];
    const present = new Set<number>();
    for (const [kb, vb] of this.object.mapEntries('syscall_bits')) {
      const cgroupId = kb.readUInt32LE(0) + kb.readUInt32LE(4) * 4294967296;
      const id = this.resolver.resolve(0, cgroupId);
      if (id.namespace === '' && id.podUid !== '' && this.deletedPods.has(id.podUid)) {
        this.object.mapDelete('syscall_bits', kb);
        continue;
      }
      if (id.podUid && id.namespace !== '') {
        let set = this.cgroupsOfPod.get(id.podUid);
        if (!set) this.cgroupsOfPod.set(id.podUid, (set = new Set()));
        set.add(cgroupId);
      }
      const pod = id.podUid ? this.pods.byUid(id.podUid) : undefined;
      out.push({
        namespace: id.namespace,
        pod: id.pod,
        workload: id.workload,
        workloadKind: pod?.workloadKind ?? '',
        container: id.container,
        podLabels: { ...(pod?.labels ?? {}) },
        cgroupId,
        syscalls: this.names(cgroupId, vb, present),
      });
    }
    // Containers gone from the map take their names along.
    for (const id of this.named.keys()) if (!present.has(id)) this.named.delete(id);
    return out;
  }

  /** A container's syscalls by name: the last read's when its bits are the same (they rarely change once it runs). */
  private names(cgroupId: number, bits: Buffer, seen: Set<number>): string[] {
    seen.add(cgroupId);
    const last = this.named.get(cgroupId);
    if (last !== undefined && last.bits.equals(bits)) return last.names;
    // Frozen: every read until the bits change hands out this same array.
    const names = Object.freeze(syscallNumbers(bits).map((nr) => syscallName(nr, this.table))) as string[];
    // A copy of the 64 bytes: bits is a view of the whole read's packed values, which a view kept here would keep alive.
    this.named.set(cgroupId, { bits: Buffer.from(bits), names });
    return names;
  }

  /**
   * For /api/v1/syscalls: containers of known pods only. A cgroup below the
   * kubepods roots whose pod this node does not know (yet) has no namespace
   * or workload to name a profile by, and the policy exporter rejects such
   * an answer as a whole.
   */
  snapshot(): SyscallsSnapshot {
    const containers = this.read().filter((c) => c.namespace !== '' && c.pod !== '');
    return { node: this.options.node, arch: this.arch, containers };
  }

  podGone(uid: string): void {
    this.deletedPods.set(uid, true);
    this.lastRead = undefined;
    const cgroups = this.cgroupsOfPod.get(uid);
    this.cgroupsOfPod.delete(uid);
    if (!cgroups || !this.object) return;
    for (const id of cgroups) {
      const key = Buffer.alloc(8);
      key.writeBigUInt64LE(BigInt(id));
      this.object.mapDelete('syscall_bits', key);
    }
  }
}
