// PID + cgroup ID → pod, for a node that runs Kubernetes.
//
// Hot path: one cache lookup by cgroup ID (or, where the cgroup ID says
// nothing, by PID). A miss walks, in order:
//   1. the cgroup index (cgroup ID → container/pod), learning the process's
//      own cgroup from /proc/<tgid>/cgroup if the ID is new, and as a last
//      resort a rate-limited rescan of the kubepods subtrees;
//   2. the pod index (container ID → pod, else pod UID → pod).
// Every answer is cached, negative ones with a short TTL, so a flood of events
// from unknown processes costs at most one /proc read per process per TTL and
// one rescan per rescan interval.
//
// An unknown cgroup ID looked up while the rescan is rate-limited gets an
// uninformed "host": nothing has looked for the cgroup yet. That happens to
// every new container whose cgroup is first asked about without a live PID
// (DNS events carry none; flows and syscalls are read by cgroup ID at scrape
// time; the process may have exited). Such an answer is cached only until the
// next rescan may run, and the first later event of that cgroup that carries a
// PID asks /proc anyway (once: if that process has exited too, the answer
// stands until the rescan, so a flood costs one /proc read); otherwise the container's first connections would be
// labelled as the host for the whole negative TTL.
//
// When the cgroup ID says nothing: the kernel reports the cgroup v2 ID, which
// is the root cgroup for every process on a v1-only system, and on hybrid
// systems whose container runtime only uses the v1 hierarchies. Then the PID
// is used and /proc/<tgid>/cgroup's v1 lines name the container. The resolver
// notices the hybrid case by itself (a process whose v1 lines name a container
// that its v2 line does not) and from then on keys host answers by PID.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LRUCache } from 'lru-cache';
import { parseProcCgroup, type CgroupInfo, type ProcCgroup } from './cgroup-path.js';
import type { CgroupIndex } from './cgroup-index.js';
import { type IdentityCache, pidKey } from './identity-cache.js';
import type { Logger } from '../log.js';
import type { PodIndex } from './pod-index.js';
import { HOST_IDENTITY, type PodIdentity, type Resolver } from './resolver.js';

export interface PodResolverOptions {
  procfs: string;
  cgroups: CgroupIndex;
  pods: PodIndex;
  cache: IdentityCache;
  /** TTL of answers that may change soon: unknown process, cgroup or pod. */
  negativeTtlMs?: number;
  log: Logger;
}

export class PodResolver implements Resolver {
  private readonly procfs: string;
  private readonly cgroups: CgroupIndex;
  private readonly pods: PodIndex;
  private readonly cache: IdentityCache;
  private readonly negativeTtlMs: number;
  private readonly log: Logger;
  /** One shared identity per unknown pod UID, so consumers keying by identity object see few. */
  private readonly unknownPods = new LRUCache<string, PodIdentity>({ max: 4096 });
  /** True once the v2 cgroup ID is seen not to tell containers apart (hybrid, v1-only). */
  private v2Blind: boolean;
  /** cgroup IDs cached as an uninformed "host" (see above) that no event with a PID has asked about since. */
  private readonly unseen = new Set<number>();

  constructor(options: PodResolverOptions) {
    this.procfs = options.procfs;
    this.cgroups = options.cgroups;
    this.pods = options.pods;
    this.cache = options.cache;
    this.negativeTtlMs = options.negativeTtlMs ?? 5000;
    this.log = options.log;
    this.v2Blind = options.cgroups.mount === undefined;
    // A pod that appears, changes or goes invalidates what was cached for it.
    this.pods.onChange((uid) => {
      this.cache.purgePod(uid);
      this.unknownPods.delete(uid);
    });
  }

  resolve(tgid: number, cgroupId: number): PodIdentity {
    const hit = this.cache.get(this.usesCgroupId(cgroupId) ? cgroupId : pidKey(tgid));
    if (hit !== undefined) {
      // An uninformed "host" for a cgroup gets one second look when an event brings a PID.
      if (!(tgid > 0 && this.unseen.size !== 0 && hit === HOST_IDENTITY && this.unseen.delete(cgroupId))) return hit;
      this.cache.misses++;
      return this.resolveMiss(tgid, cgroupId, true);
    }
    this.cache.misses++;
    return this.resolveMiss(tgid, cgroupId, false);
  }

  private usesCgroupId(cgroupId: number): boolean {
    return cgroupId > 0 && cgroupId !== this.cgroups.rootId && !this.v2Blind;
  }

  private resolveMiss(tgid: number, cgroupId: number, secondLook: boolean): PodIdentity {
    let proc: ProcCgroup | undefined | null = null; // null: not read yet
    const readProc = (): ProcCgroup | undefined => {
      if (proc === null) proc = this.readProc(tgid);
      return proc;
    };

    if (this.usesCgroupId(cgroupId)) {
      let entry = this.cgroups.lookup(cgroupId);
      let rescanned = false;
      if (entry === undefined) {
        const unified = readProc()?.unifiedPath;
        if (unified !== undefined) this.cgroups.learnPath(unified);
        entry = this.cgroups.lookup(cgroupId);
        if (entry === undefined && (rescanned = this.cgroups.rescan())) entry = this.cgroups.lookup(cgroupId);
      }
      if (entry === undefined) {
        if (!rescanned) {
          // Not looked for yet (the rescan is rate-limited): "host" until the
          // next rescan may run, or until an event with a PID asks again.
          this.cache.set(cgroupId, HOST_IDENTITY, '', Math.max(1, Math.min(this.negativeTtlMs, this.cgroups.msUntilRescan())));
          if ((tgid <= 0 || proc === undefined) && !secondLook) {
            if (this.unseen.size >= 4096) this.unseen.clear();
            this.unseen.add(cgroupId);
          }
          return HOST_IDENTITY;
        }
        // Gone before we saw it, or outside the kubepods subtrees (a host
        // process that exited). Ask again after a short while.
        this.unseen.delete(cgroupId);
        this.cache.set(cgroupId, HOST_IDENTITY, '', this.negativeTtlMs);
        return HOST_IDENTITY;
      }
      this.unseen.delete(cgroupId);
      if (entry !== null) return this.cacheAnswer(cgroupId, entry);

      // A cgroup outside any pod. On a hybrid system the container may still
      // be named by the process's v1 lines.
      const current = readProc();
      if (current?.pod === undefined || current.podSource !== 'v1') {
        this.cache.set(cgroupId, HOST_IDENTITY, '');
        return HOST_IDENTITY;
      }
      this.v2Blind = true;
      this.cache.clear();
      this.log.info('cgroup v2 IDs do not identify containers here (hybrid cgroups); resolving by process ID', {
        pid: tgid,
        unifiedPath: current.unifiedPath,
      });
    }

    const current = readProc();
    if (current === undefined) {
      this.cache.set(pidKey(tgid), HOST_IDENTITY, '', this.negativeTtlMs);
      return HOST_IDENTITY;
    }
    if (current.pod === undefined) {
      this.cache.set(pidKey(tgid), HOST_IDENTITY, '');
      return HOST_IDENTITY;
    }
    return this.cacheAnswer(pidKey(tgid), current.pod);
  }

  private cacheAnswer(key: number, info: CgroupInfo): PodIdentity {
    const byContainer = info.containerId === '' ? undefined : this.pods.byContainerId(info.containerId);
    if (byContainer !== undefined) {
      this.cache.set(key, byContainer, info.podUid);
      return byContainer;
    }
    const record = this.pods.byUid(info.podUid);
    if (record !== undefined) {
      // The sandbox, or a container not yet in the pod's status; the pod's
      // next change purges this entry.
      this.cache.set(key, record.identity, info.podUid);
      return record.identity;
    }
    const unknown = this.unknownPod(info.podUid);
    this.cache.set(key, unknown, info.podUid, this.negativeTtlMs);
    return unknown;
  }

  private unknownPod(podUid: string): PodIdentity {
    let identity = this.unknownPods.get(podUid);
    if (identity === undefined) {
      identity = Object.freeze({ ...HOST_IDENTITY, podUid });
      this.unknownPods.set(podUid, identity);
    }
    return identity;
  }

  private readProc(tgid: number): ProcCgroup | undefined {
    if (!Number.isInteger(tgid) || tgid <= 0) return undefined;
    try {
      return parseProcCgroup(readFileSync(join(this.procfs, String(tgid), 'cgroup'), 'utf8'));
    } catch {
      return undefined; // exited
    }
  }
}
