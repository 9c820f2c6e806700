// Where pods live in the cgroup v2 tree, for the probes that record pods
// only (flows, syscalls: bpf/pod_roots.bpf.h). The kubepods roots are found
// as the pod resolver finds them (../cgroup/kubepods.ts).
//
// PodRoots finds them and keeps every registered BPF object's watched_roots
// map in step: at once when an object is added, on a timer (every 10 s), and
// shortly after a cgroup appears or goes at the top of the tree (inotify on
// the cgroup v2 mount, where kubelet puts kubepods on a standard node).
// Roots that disappear are removed, so stale ones never use up the map.
// Registering a root deletes the kernel's cached "not a pod" answers, so a
// cgroup seen before its root was known is looked at again.

import { watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { u64Key } from '../bytes.js';
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

/** How deep below the cgroup v2 root pod roots are looked for (at most KP_ROOT_LEVEL_LIMIT, 6). */
export const MAX_POD_ROOT_LEVEL = 4;
/** Entries of the kernel's watched_roots map (KP_MAX_WATCHED_ROOTS in bpf/pod_roots.h). */
export const MAX_WATCHED_ROOTS = 8;
export const DEFAULT_RESCAN_MS = 10_000;

/** Breadth-first to maxLevel, absolute paths; does not descend into a root once found. */
export function findPodRoots(cgroupfs: string, maxLevel: number): PodRoot[] {
  return findKubepodsRoots(cgroupfs, maxLevel).map((r) => ({ ...r, path: join(cgroupfs, r.path) }));
}

/** For a probe's configure(): the level limit the kernel walks to (the object's max_root_level). */
export function configureRootLevel(object: Pick<BpfObjectHandle, 'setConst'>, maxLevel = MAX_POD_ROOT_LEVEL): void {
  const level = Buffer.alloc(4);
  level.writeUInt32LE(maxLevel);
  object.setConst('max_root_level', level);
}

/** What PodRoots needs of an object: its watched_roots and cgroup_verdicts maps (bpf/pod_roots.bpf.h). */
export type PodRootsTarget = Pick<BpfObjectHandle, 'mapUpdate' | 'mapDelete' | 'mapEntries'>;

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

export class PodRoots {
  private readonly roots = new Map<number, PodRoot>();
  /** object → the probe's name (for logs) */
  private readonly targets = new Map<PodRootsTarget, string>();
  private readonly ignored = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private watcher: FSWatcher | undefined;
  private soon: NodeJS.Timeout | undefined;
  /** Cached "no" verdicts may predate the last root added: delete them again next time. */
  private verdictsSuspect = false;

  constructor(private readonly options: PodRootsOptions) {}

  /** Roots registered in the kernel now. */
  get size(): number {
    return this.roots.size;
  }

  list(): PodRoot[] {
    return [...this.roots.values()];
  }

  /** Keeps the object's watched_roots current from now on (until remove or stop). */
  add(name: string, object: PodRootsTarget): void {
    this.targets.set(object, name);
    for (const root of this.roots.values()) this.write(object, name, root);
    // Programs run from their attach on: they may have cached answers already.
    forgetNegativeVerdicts(object);
    this.refresh();
    this.verdictsSuspect = true;
    this.start();
  }

  remove(object: PodRootsTarget): void {
    this.targets.delete(object);
    if (this.targets.size === 0) this.stop();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.soon) clearTimeout(this.soon);
    this.watcher?.close();
    this.timer = this.soon = this.watcher = undefined;
  }

  /** Scans the tree and brings every object's watched_roots in line with it. */
  refresh(): void {
    const { cgroupfs, log } = this.options;
    if (cgroupfs === undefined || this.targets.size === 0) return;
    const found = findPodRoots(cgroupfs, this.options.maxLevel ?? MAX_POD_ROOT_LEVEL);
    const present = new Set(found.map((r) => r.cgroupId));
    for (const [id, root] of this.roots) {
      if (present.has(id)) continue;
      for (const object of this.targets.keys()) {
        try {
          object.mapDelete('watched_roots', u64Key(id));
        } catch {
          /* not there */
        }
      }
      this.roots.delete(id);
      log.info('pod root gone', { path: root.path });
    }
    for (const path of this.ignored) if (!found.some((r) => r.path === path)) this.ignored.delete(path);
    let added = false;
    for (const root of found) {
      if (this.roots.has(root.cgroupId)) continue;
      if (this.roots.size >= MAX_WATCHED_ROOTS) {
        if (!this.ignored.has(root.path)) log.warn(`more than ${MAX_WATCHED_ROOTS} pod roots; pods below this one are not recorded`, { ignored: root.path });
        this.ignored.add(root.path);
        continue;
      }
      let ok = true;
      for (const [object, name] of this.targets) ok = this.write(object, name, root) && ok;
      if (!ok) continue;
      this.roots.set(root.cgroupId, root);
      added = true;
      log.info('pod root found', { path: root.path, depth: root.level, probes: [...this.targets.values()] });
    }
    if (added || this.verdictsSuspect) {
      // A verdict computed while the root was being registered can land
      // after this sweep: sweep once more at the next refresh.
      this.verdictsSuspect = added;
      for (const object of this.targets.keys()) forgetNegativeVerdicts(object);
    }
  }

  private write(object: PodRootsTarget, name: string, root: PodRoot): boolean {
    const level = Buffer.alloc(4);
    level.writeUInt32LE(root.level);
    try {
      object.mapUpdate('watched_roots', u64Key(root.cgroupId), level);
      return true;
    } catch (err) {
      this.options.log.warn('cannot register pod root', { probe: name, path: root.path, error: (err as Error).message });
      return false;
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

/** Deletes the cached "not a pod" verdicts (value 0): recomputed on the next packet or syscall. */
function forgetNegativeVerdicts(object: PodRootsTarget): void {
  let entries: Array<[Buffer, Buffer]>;
  try {
    entries = object.mapEntries('cgroup_verdicts');
  } catch {
    return;
  }
  for (const [key, value] of entries) {
    if (value[0] !== 0) continue;
    try {
      object.mapDelete('cgroup_verdicts', key);
    } catch {
      /* evicted meanwhile */
    }
  }
}
