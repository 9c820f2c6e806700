// Where pods live in the cgroup v2 tree, for the probes that record pods
// only (flows, syscalls: bpf/pod_roots.bpf.h). The kubepods roots are found
// as the pod resolver finds them (../cgroup/kubepods.ts).
//
// PodRoots finds them and keeps every registered BPF object's pod_roots map
// (one array value: the roots' ids and levels) in step: at once when an
// object is added, on a timer (every 10 s), and shortly after a cgroup
// appears or goes at the top of the tree (inotify on the cgroup v2 mount,
// where kubelet puts kubepods on a standard node). Roots that disappear are
// removed, so stale ones never use up the slots. The kernel caches no
// answer, so a root applies from the next packet or syscall on.

import { watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { findKubepodsRoots } from '../cgroup/kubepods.js';
import type { BpfObjectHandle } from '../bpf/addon.js';
import type { Logger } from '../log.js';

export interface PodRoot {
  path: string;
  /** Depth below the cgroup v2 mount (the mount itself is level 0). */
  level: number;
  /** The cgroup id: the directory's inode number. */
  cgroupId: number;
}

/** How deep below the cgroup v2 root pod roots are looked for. */
export const MAX_POD_ROOT_LEVEL = 4;
/** Slots of struct kp_pod_roots (KP_MAX_WATCHED_ROOTS in bpf/pod_roots.h). */
export const MAX_WATCHED_ROOTS = 8;
/** struct kp_pod_roots: u64 id[8], then u32 level[8] (test/probes/pod-roots.test.ts checks it against the C). */
export const POD_ROOTS_LAYOUT = { size: 96, offsets: { id: 0, level: 64 } } as const;
export const DEFAULT_RESCAN_MS = 10_000;

/** Breadth-first to maxLevel, absolute paths; does not descend into a root once found. */
export function findPodRoots(cgroupfs: string, maxLevel: number): PodRoot[] {
  return findKubepodsRoots(cgroupfs, maxLevel).map((r) => ({ ...r, path: join(cgroupfs, r.path) }));
}

/** What PodRoots needs of an object: its pod_roots map (bpf/pod_roots.bpf.h). */
export type PodRootsTarget = Pick<BpfObjectHandle, 'mapUpdate'>;

/** For a probe whose programs hang below the pod roots (flows): told as roots come and go. */
export interface PodRootsListener {
  rootAdded(root: PodRoot): void;
  rootGone(root: PodRoot): void;
}

export interface PodRootsOptions {
  /** The cgroup v2 mount; without one there are no roots. */
  cgroupfs: string | undefined;
  log: Logger;
  /** Full rescan period (default 10 s). */
  rescanMs?: number;
  /** Rescan soon after a cgroup appears or goes at the top of the tree (default true). */
  watch?: boolean;
  maxLevel?: number;
}

/**
 * The value of the pod_roots map for these roots (at most MAX_WATCHED_ROOTS),
 * sorted by level: the kernel asks for a cgroup's ancestor once per level.
 */
export function podRootsValue(roots: Iterable<PodRoot>): Buffer {
  const value = Buffer.alloc(POD_ROOTS_LAYOUT.size);
  let slot = 0;
  for (const root of [...roots].sort((a, b) => a.level - b.level)) {
    if (slot === MAX_WATCHED_ROOTS) break;
    value.writeBigUInt64LE(BigInt(root.cgroupId), POD_ROOTS_LAYOUT.offsets.id + 8 * slot);
    value.writeUInt32LE(root.level, POD_ROOTS_LAYOUT.offsets.level + 4 * slot);
    slot++;
  }
  return value;
}

const ZERO_KEY = Buffer.alloc(4);

export class PodRoots {
  private readonly roots = new Map<number, PodRoot>();
  /** object → the probe's name (for logs) */
  private readonly targets = new Map<PodRootsTarget, string>();
  private readonly listeners = new Map<PodRootsTarget, PodRootsListener>();
  private readonly ignored = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private watcher: FSWatcher | undefined;
  private soon: NodeJS.Timeout | undefined;

  constructor(private readonly options: PodRootsOptions) {}

  /** Roots registered in the kernel now. */
  get size(): number {
    return this.roots.size;
  }

  list(): PodRoot[] {
    return [...this.roots.values()];
  }

  /** Keeps the object's pod_roots current from now on (until remove or stop). */
  add(name: string, object: PodRootsTarget, listener?: PodRootsListener): void {
    this.targets.set(object, name);
    this.write(object, name);
    if (listener) {
      this.listeners.set(object, listener);
      for (const root of this.roots.values()) this.tell(name, () => listener.rootAdded(root), root);
    }
    this.refresh();
    this.start();
  }

  remove(object: PodRootsTarget): void {
    this.targets.delete(object);
    this.listeners.delete(object);
    if (this.targets.size === 0) this.stop();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.soon) clearTimeout(this.soon);
    this.watcher?.close();
    this.timer = this.soon = this.watcher = undefined;
  }

  /** Scans the tree and brings every object's pod_roots in line with it. */
  refresh(): void {
    const { cgroupfs, log } = this.options;
    if (cgroupfs === undefined || this.targets.size === 0) return;
    const found = findPodRoots(cgroupfs, this.options.maxLevel ?? MAX_POD_ROOT_LEVEL);
    const present = new Set(found.map((r) => r.cgroupId));
    let changed = false;
    const gone: PodRoot[] = [];
    for (const [id, root] of this.roots) {
      if (present.has(id)) continue;
      this.roots.delete(id);
      gone.push(root);
      changed = true;
      log.info('pod root gone', { path: root.path });
    }
    for (const path of this.ignored) if (!found.some((r) => r.path === path)) this.ignored.delete(path);
    const added: PodRoot[] = [];
    for (const root of found) {
      if (this.roots.has(root.cgroupId)) continue;
      if (this.roots.size >= MAX_WATCHED_ROOTS) {
        if (!this.ignored.has(root.path)) log.warn(`more than ${MAX_WATCHED_ROOTS} pod roots; pods below this one are not recorded`, { ignored: root.path });
        this.ignored.add(root.path);
        continue;
      }
      this.roots.set(root.cgroupId, root);
      added.push(root);
      changed = true;
    }
    if (!changed) return;
    for (const [object, name] of this.targets) this.write(object, name);
    for (const root of added) log.info('pod root found', { path: root.path, depth: root.level, probes: [...this.targets.values()] });
    for (const [object, listener] of this.listeners) {
      const name = this.targets.get(object) ?? '';
      for (const root of gone) this.tell(name, () => listener.rootGone(root), root);
      for (const root of added) this.tell(name, () => listener.rootAdded(root), root);
    }
  }

  /** A listener that fails (the cgroup went meanwhile) is logged; the next scan settles it. */
  private tell(name: string, call: () => void, root: PodRoot): void {
    try {
      call();
    } catch (err) {
      this.options.log.warn('cannot follow pod root', { probe: name, path: root.path, error: (err as Error).message });
    }
  }

  /** The whole list in one update (a packet or syscall racing it may see the list half-written, once). */
  private write(object: PodRootsTarget, name: string): void {
    try {
      object.mapUpdate('pod_roots', ZERO_KEY, podRootsValue(this.roots.values()));
    } catch (err) {
      this.options.log.warn('cannot register pod roots', { probe: name, error: (err as Error).message });
    }
  }

  private start(): void {
    if (this.timer !== undefined || this.options.cgroupfs === undefined) return;
    this.timer = setInterval(() => this.refresh(), this.options.rescanMs ?? DEFAULT_RESCAN_MS);
    this.timer.unref();
    if (this.options.watch === false) return;
    try {
      this.watcher = watch(this.options.cgroupfs, { persistent: false }, () => this.refreshSoon());
      this.watcher.on('error', (err) => {
        this.options.log.debug('cgroup watch stopped; rescanning on the timer only', { error: err.message });
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (err) {
      this.options.log.debug('cannot watch the cgroup mount; rescanning on the timer only', { error: (err as Error).message });
    }
  }

  /** After a burst of events (mkdir -p of a whole pod tree), one scan. */
  private refreshSoon(): void {
    if (this.soon !== undefined) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      this.refresh();
    }, 100);
    this.soon.unref();
  }
}
