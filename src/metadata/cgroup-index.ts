// cgroup v2 ID → the pod and container that cgroup belongs to.
//
// The kernel's cgroup ID (bpf_get_current_cgroup_id) is the inode number of
// the cgroup's directory in the cgroup v2 file system. Events carry it, so an
// event whose process has already exited still resolves, as long as its
// cgroup was seen while it existed. The index learns cgroups two ways:
// - from a live process: /proc/<pid>/cgroup names the path, stat gives the ID;
// - by rescanning the kubepods subtrees of the cgroup v2 mount, rate-limited,
//   which also finds containers whose processes were never looked up.
// Entries are kept after their directory disappears: kernfs does not reuse
// inode numbers in practice, and late events of a just-exited container must
// still resolve. A deleted pod's go once its in-flight events are no longer
// its own (forgetPod, from the resolver), others when the LRU bound pushes
// them out.
import { join } from 'node:path';
import { LRUCache } from 'lru-cache';
import { findKubepodsRoots, subdirs } from '../cgroup/kubepods.js';
import { cgroupIdOf, findCgroup2Mount } from '../cgroup/mounts.js';
import type { CgroupPathSource } from './cgroup-births.js';
import { parseCgroupPath, type CgroupInfo } from './cgroup-path.js';
import type { Logger } from '../log.js';

export interface CgroupIndexOptions {
  /** Where /proc is (the host's, e.g. /host/proc, in a container). */
  procfs: string;
  /** The cgroup v2 mount point; found from <procfs>/mounts when absent. */
  cgroupfs?: string | undefined;
  /** Bound on remembered cgroups. */
  maxEntries?: number;
  /** Minimum time between two rescans of the kubepods subtrees. */
  rescanIntervalMs?: number;
  /** Minimum time between two searches for kubepods subtrees below the mount. */
  rootRefreshMs?: number;
  /** How deep below the mount kubepods subtrees are looked for (kind, DinD nest them). */
  rootSearchDepth?: number;
  /** Bound on directories visited by one rescan. */
  maxScanDirs?: number;
  now?: () => number;
  log: Logger;
}

/** A known cgroup: its pod and container, or null for a cgroup outside any pod. */
export type CgroupEntry = CgroupInfo | null;

export class CgroupIndex {
  /** The cgroup v2 mount point, undefined when the system has none. */
  readonly mount: string | undefined;
  /** The ID of the mount's root cgroup, which every unplaced process shares. */
  readonly rootId: number | undefined;

  private readonly entries: LRUCache<number, { entry: CgroupEntry }>;
  private readonly rescanIntervalMs: number;
  private readonly rootRefreshMs: number;
  private readonly rootSearchDepth: number;
  private readonly maxScanDirs: number;
  private readonly now: () => number;
  private readonly log: Logger;
  private roots: string[] = [];
  private lastRootSearch = -Infinity;
  private lastRescan = -Infinity;
  private warnedTruncated = false;
  private births: CgroupPathSource | undefined;
  /** Number of rescans done, for tests and debugging. */
  rescans = 0;

  constructor(options: CgroupIndexOptions) {
    this.log = options.log;
    this.now = options.now ?? (() => performance.now());
    this.rescanIntervalMs = options.rescanIntervalMs ?? 1000;
    this.rootRefreshMs = options.rootRefreshMs ?? 30_000;
    this.rootSearchDepth = options.rootSearchDepth ?? 4;
    this.maxScanDirs = options.maxScanDirs ?? 50_000;
    this.entries = new LRUCache({ max: options.maxEntries ?? 65_536 });

    let mount = options.cgroupfs;
    if (mount === undefined) {
      try {
        mount = findCgroup2Mount(options.procfs);
      } catch (err) {
        this.log.warn('cannot read the mount table; cgroup IDs will not be resolved', {
          path: join(options.procfs, 'mounts'),
          error: String(err),
        });
      }
    }
    let rootId: number | undefined;
    if (mount !== undefined) {
      try {
        rootId = cgroupIdOf(mount);
      } catch (err) {
        this.log.warn('cgroup v2 mount point is not accessible; cgroup IDs will not be resolved', { mount, error: String(err) });
        mount = undefined;
      }
    } else {
      this.log.info('no cgroup v2 mount; pods are resolved by process ID only', { procfs: options.procfs });
    }
    this.mount = mount;
    this.rootId = rootId;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cgroup with this ID: its pod/container, null if outside any pod, undefined if never seen. */
  lookup(cgroupId: number): CgroupEntry | undefined {
    return this.entries.get(cgroupId)?.entry;
  }

  /** Forgets the cgroups of a pod (deleted, past its departed window); returns how many. */
  forgetPod(podUid: string): number {
    const ids: number[] = [];
    for (const [id, value] of this.entries.entries()) if (value.entry?.podUid === podUid) ids.push(id);
    for (const id of ids) this.entries.delete(id);
    return ids.length;
  }

  /**
   * Records of cgroup births from now on (attached before the first rescan,
   * so no cgroup falls between the two). See learnBorn.
   */
  useBirths(births: CgroupPathSource): void {
    this.births = births;
  }

  /** Whether cgroup births are recorded: then an ID neither they nor a rescan know predates the daemon and lies outside the pods. */
  get recordsBirths(): boolean {
    return this.births !== undefined;
  }

  /**
   * Learns a cgroup from the kernel's record of its birth (its path, kept
   * after the directory is gone). Returns its entry, or undefined when the
   * record has no such cgroup (made before the daemon, or pushed out).
   */
  learnBorn(cgroupId: number): CgroupEntry | undefined {
    const path = this.births?.pathOf(cgroupId);
    if (path === undefined || path === null) return undefined; // null: cut short; a live process's /proc may still name it
    const entry = parseCgroupPath(path) ?? null;
    this.entries.set(cgroupId, { entry });
    return entry;
  }

  /**
   * Learns the cgroup at a path from /proc/<pid>/cgroup (relative to the
   * mount). Returns its ID, or undefined when it cannot be stat'ed (gone, or a
   * path relative to another cgroup namespace; the rescan finds those).
   */
  learnPath(unifiedPath: string): number | undefined {
    if (this.mount === undefined || unifiedPath.split('/').includes('..')) return undefined;
    let id: number;
    try {
      id = cgroupIdOf(join(this.mount, unifiedPath));
    } catch {
      return undefined;
    }
    this.entries.set(id, { entry: parseCgroupPath(unifiedPath) ?? null });
    return id;
  }

  /**
   * Walks the kubepods subtrees and learns every cgroup in them, unless the
   * last rescan was less than rescanIntervalMs ago. Returns whether it ran.
   */
  rescan(): boolean {
    if (this.mount === undefined) return false;
    const now = this.now();
    if (now - this.lastRescan < this.rescanIntervalMs) return false;
    this.lastRescan = now;
    this.rescans++;
    if (this.roots.length === 0 || now - this.lastRootSearch >= this.rootRefreshMs) {
      this.lastRootSearch = now;
      this.roots = this.findRoots(this.mount);
    }
    const budget = { dirs: this.maxScanDirs };
    for (const root of this.roots) this.walk(root, budget);
    if (budget.dirs <= 0 && !this.warnedTruncated) {
      this.warnedTruncated = true;
      this.log.warn('cgroup rescan stopped at its directory bound; some containers may not resolve after they exit', {
        maxScanDirs: this.maxScanDirs,
      });
    }
    return true;
  }

  /** Milliseconds until rescan() may run again (0: now). */
  msUntilRescan(): number {
    return Math.max(0, this.rescanIntervalMs - (this.now() - this.lastRescan));
  }

  /** Paths (relative to the mount, leading '/') of the kubepods subtrees found by the last search. */
  kubepodsRoots(): readonly string[] {
    return this.roots;
  }

  private findRoots(mount: string): string[] {
    return findKubepodsRoots(mount, this.rootSearchDepth, this.maxScanDirs).map((r) => `/${r.path}`);
  }

  private walk(path: string, budget: { dirs: number }): void {
    if (budget.dirs-- <= 0 || this.mount === undefined) return;
    const full = join(this.mount, path);
    let id: number;
    try {
      id = cgroupIdOf(full);
    } catch {
      return; // removed while we looked
    }
    this.entries.set(id, { entry: parseCgroupPath(path) ?? null });
    for (const name of subdirs(full)) this.walk(`${path}/${name}`, budget);
  }
}
