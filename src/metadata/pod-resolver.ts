// PID + cgroup ID → pod, for a node that runs Kubernetes.
//
// Hot path: one cache lookup by cgroup ID (or, where the cgroup ID says
// nothing, by PID). A miss walks, in order:
//   1. the cgroup index (cgroup ID → container/pod), learning a new ID from
//      the kernel's record of cgroup births (exact, also for a cgroup already
//      removed), else from the process's /proc/<tgid>/cgroup, and as a last
//      resort from a rate-limited rescan of the kubepods subtrees;
//   2. the pod index (container ID → pod, else pod UID → pod: a container
//      too new to be in its pod's status is attributed to its pod at once,
//      its container label filled in when the status names it).
//
// A cgroup that names a pod the watch does not know yet (the kubelet made
// the cgroup before our watch delivered the pod): inside an event dispatch
// the resolver throws EventHold, so the stream holds that event and the later
// ones of its cgroup until the pod arrives, at most holdMs after the UID's
// first event reached user space (bounded, counted:
// kubepulse_events_held_total). From its arrival, not from when the resolver
// first saw it: where cgroups cannot be told apart (v1-only nodes, one key)
// an event can wait behind another pod's hold first, and holds must still
// run side by side, not one after the other. Holding rather than
// relabelling later, because a count once exposed under one label set cannot
// move to another (host counters would go down), and because holding keeps
// a DNS query ahead of its response. A UID still unknown after holdMs (a
// pod of another kubelet, a watch that is down) resolves without waiting,
// counted as unattributed{reason="pod_unknown"}. The hold does not depend on
// who asked first: readers outside a dispatch (flows and syscalls are read
// from kernel maps, at scrape time and by the live stream's flow ticker each
// second) get "pod unknown" at once, but it is cached only once no event may
// wait for that pod any more -- a cached answer is what a held event's next
// retry would take, ending its hold before the pod arrived.
//
// A pod deleted while its last events waited in the kernel's rings (the
// daemon was behind, and the watch's DELETED came first): events the kernel
// saw before the deletion reached the pod index are still the pod's (by the
// event's kernel time, PodIndex.departedBefore); what its cgroup does after
// is no one's (pod_unknown, not held: a deleted pod does not come back).
// Those answers are not cached, since the next event may be a later one.
//
// Every answer is cached, negative ones with a short TTL, so a flood of events
// from unknown processes costs at most one /proc read per process per TTL and
// one rescan per rescan interval.
//
// Without the births record (its program could not attach), an unknown
// cgroup ID looked up while the rescan is rate-limited gets an uninformed
// answer (unattributed, cgroup_unknown): nothing has looked for the cgroup
// yet. That happens to every new container whose cgroup is first asked about without a live PID
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
import { EventHold, holdable, waitedMs } from '../bpf/event-hold.js';
import { parseProcCgroup, type CgroupInfo, type ProcCgroup } from './cgroup-path.js';
import type { CgroupIndex } from './cgroup-index.js';
import { type IdentityCache, pidKey } from './identity-cache.js';
import type { Logger } from '../log.js';
import type { PodIndex } from './pod-index.js';
import { HOST_IDENTITY, PROCESS_GONE, UNKNOWN_CGROUP, type PodIdentity, type Resolver } from './resolver.js';

export interface PodResolverOptions {
  procfs: string;
  cgroups: CgroupIndex;
  pods: PodIndex;
  cache: IdentityCache;
  /** TTL of answers that may change soon: unknown process, cgroup or pod. */
  negativeTtlMs?: number;
  /** How long events of a pod UID the watch does not know yet may be held (0: never). */
  holdMs?: number;
  now?: () => number;
  log: Logger;
}

const HOLD_FOR_POD = new EventHold('pod not yet known');

export class PodResolver implements Resolver {
  private readonly procfs: string;
  private readonly cgroups: CgroupIndex;
  private readonly pods: PodIndex;
  private readonly cache: IdentityCache;
  private readonly negativeTtlMs: number;
  private readonly holdMs: number;
  private readonly now: () => number;
  private readonly log: Logger;
  /** Pod UIDs the watch did not know when first seen in a cgroup → when (for the hold bound). */
  private readonly firstSeenUnknown = new LRUCache<string, number>({ max: 4096 });
  /** One shared identity per unknown pod UID, so consumers keying by identity object see few. */
  private readonly unknownPods = new LRUCache<string, PodIdentity>({ max: 4096 });
  /** True once the v2 cgroup ID is seen not to tell containers apart (hybrid, v1-only). */
  private v2Blind: boolean;
  /** cgroup IDs cached as an uninformed "host" (see above) that no event with a PID has asked about since. */
  private readonly unseen = new Set<number>();
  /** Pods removed, oldest first, whose cgroups the index still holds (see forgetDepartedCgroups). */
  private readonly removed: Array<{ uids: string[]; atMs: number }> = [];

  constructor(options: PodResolverOptions) {
    this.procfs = options.procfs;
    this.cgroups = options.cgroups;
    this.pods = options.pods;
    this.cache = options.cache;
    this.negativeTtlMs = options.negativeTtlMs ?? 5000;
    this.holdMs = options.holdMs ?? 1000;
    this.now = options.now ?? (() => performance.now());
    this.log = options.log;
    this.v2Blind = options.cgroups.mount === undefined;
    // A pod that appears, changes or goes invalidates what was cached for it.
    this.pods.onChange((uid, record) => {
      // A static pod's cgroups name its own UID, not its mirror's: what was
      // answered for that UID before the mirror came goes too.
      for (const u of record?.staticUid ? [uid, record.staticUid] : [uid]) {
        this.cache.purgePod(u);
        this.unknownPods.delete(u);
        this.firstSeenUnknown.delete(u);
      }
      if (record === undefined) {
        const staticUid = this.pods.departedBefore(uid, -1)?.staticUid;
        this.removed.push({ uids: staticUid ? [uid, staticUid] : [uid], atMs: this.now() });
      }
      this.forgetDepartedCgroups();
    });
  }

  resolve(tgid: number, cgroupId: number, eventTimeNs?: number): PodIdentity {
    const hit = this.cache.get(this.usesCgroupId(cgroupId) ? cgroupId : pidKey(tgid));
    if (hit !== undefined) {
      // An unknown pod may be one deleted after this (older) event was made: look again.
      if (hit.unattributed === 'pod_unknown' && eventTimeNs !== undefined && this.pods.departedBefore(hit.podUid, eventTimeNs) !== undefined) {
        this.cache.misses++;
        return this.resolveMiss(tgid, cgroupId, false, eventTimeNs);
      }
      // An uninformed "host" for a cgroup gets one second look when an event brings a PID.
      if (!(tgid > 0 && this.unseen.size !== 0 && hit === UNKNOWN_CGROUP && this.unseen.delete(cgroupId))) return hit;
      this.cache.misses++;
      return this.resolveMiss(tgid, cgroupId, true, eventTimeNs);
    }
    this.cache.misses++;
    return this.resolveMiss(tgid, cgroupId, false, eventTimeNs);
  }

  /** The identity of a pod removed after eventTimeNs (see above), undefined if none. */
  private departedAnswer(podUid: string, containerId: string, eventTimeNs: number): PodIdentity | undefined {
    const record = this.pods.departedBefore(podUid, eventTimeNs);
    if (record === undefined) return undefined;
    return (containerId === '' ? undefined : record.containers.get(containerId)) ?? record.identity;
  }

  private usesCgroupId(cgroupId: number): boolean {
    return cgroupId > 0 && cgroupId !== this.cgroups.rootId && !this.v2Blind;
  }

  private resolveMiss(tgid: number, cgroupId: number, secondLook: boolean, eventTimeNs: number | undefined): PodIdentity {
    let proc: ProcCgroup | undefined | null = null; // null: not read yet
    const readProc = (): ProcCgroup | undefined => {
      if (proc === null) proc = this.readProc(tgid);
      return proc;
    };

    if (this.usesCgroupId(cgroupId)) {
      let entry = this.cgroups.lookup(cgroupId);
      let rescanned = false;
      if (entry === undefined) entry = this.cgroups.learnBorn(cgroupId);
      if (entry === undefined) {
        const unified = readProc()?.unifiedPath;
        if (unified !== undefined) this.cgroups.learnPath(unified);
        entry = this.cgroups.lookup(cgroupId);
        if (entry === undefined && !this.cgroups.recordsBirths && (rescanned = this.cgroups.rescan())) entry = this.cgroups.lookup(cgroupId);
      }
      if (entry === undefined && this.cgroups.recordsBirths) {
        // Births are recorded and the kubepods subtrees were scanned at start:
        // a cgroup neither knows was made before the daemon, outside the
        // pods -- a host cgroup (a service whose process has exited).
        this.cache.set(cgroupId, HOST_IDENTITY, '', this.negativeTtlMs);
        return HOST_IDENTITY;
      }
      if (entry === undefined) {
        if (!rescanned) {
          // Not looked for yet (the rescan is rate-limited): unattributed
          // until the next rescan may run, or until an event with a PID asks again.
          this.cache.set(cgroupId, UNKNOWN_CGROUP, '', Math.max(1, Math.min(this.negativeTtlMs, this.cgroups.msUntilRescan())));
          if ((tgid <= 0 || proc === undefined) && !secondLook) {
            if (this.unseen.size >= 4096) this.unseen.clear();
            this.unseen.add(cgroupId);
          }
          return UNKNOWN_CGROUP;
        }
        // Gone before we saw it, or outside the kubepods subtrees (a host
        // process that exited). Ask again after a short while.
        this.unseen.delete(cgroupId);
        this.cache.set(cgroupId, UNKNOWN_CGROUP, '', this.negativeTtlMs);
        return UNKNOWN_CGROUP;
      }
      this.unseen.delete(cgroupId);
      if (entry !== null) return this.cacheAnswer(cgroupId, entry, eventTimeNs);

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
      this.cache.set(pidKey(tgid), PROCESS_GONE, '', this.negativeTtlMs);
      return PROCESS_GONE;
    }
    if (current.pod === undefined) {
      this.cache.set(pidKey(tgid), HOST_IDENTITY, '');
      return HOST_IDENTITY;
    }
    return this.cacheAnswer(pidKey(tgid), current.pod, eventTimeNs);
  }

  private cacheAnswer(key: number, info: CgroupInfo, eventTimeNs: number | undefined): PodIdentity {
    const byContainer = info.containerId === '' ? undefined : this.pods.byContainerId(info.containerId);
    if (byContainer !== undefined) {
      this.cache.set(key, byContainer, byContainer.podUid);
      return byContainer;
    }
    const record = this.pods.byUid(info.podUid);
    if (record !== undefined) {
      // The sandbox, or a container not yet in the pod's status; the pod's
      // next change purges this entry (indexed by the pod's own UID, which
      // for a static pod is not the one in its cgroup path).
      this.cache.set(key, record.identity, record.uid);
      return record.identity;
    }
    if (eventTimeNs !== undefined) {
      const departed = this.departedAnswer(info.podUid, info.containerId, eventTimeNs);
      if (departed !== undefined) return departed;
    }
    // Not cached while held: the retry must ask again.
    if (this.holdMs > 0 && holdable() && !this.pods.isDeparted(info.podUid) && this.mayHold(info.podUid)) throw HOLD_FOR_POD;
    const unknown = this.unknownPod(info.podUid);
    // Outside a dispatch, while events of this pod may still be held: not
    // cached (see above). Asked again, it costs a lookup in the cgroup index.
    if (this.holdMs > 0 && !holdable() && !this.holdOver(info.podUid)) return unknown;
    this.cache.set(key, unknown, info.podUid, this.negativeTtlMs);
    return unknown;
  }

  /**
   * A removed pod's cgroups stay in the index through the departed window,
   * for its events still in the rings; after it they answer no one, and
   * kept, they filled the index by a few hundred bytes per churned pod up
   * to its 65,536 bound. Runs on every pod change (churn drives it).
   */
  private forgetDepartedCgroups(): void {
    const now = this.now();
    while (this.removed.length > 0 && now - this.removed[0]!.atMs > this.pods.departedMs) {
      for (const uid of this.removed.shift()!.uids) if (this.pods.byUid(uid) === undefined) this.cgroups.forgetPod(uid);
    }
  }

  /** Whether events of this pod UID were held once and may not be any more (its bound has passed). */
  private holdOver(podUid: string): boolean {
    const first = this.firstSeenUnknown.get(podUid);
    return first !== undefined && this.now() - first >= this.holdMs;
  }

  /** True while a pod UID unknown to the watch is younger than holdMs (from the arrival of its first event). */
  private mayHold(podUid: string): boolean {
    const now = this.now();
    let first = this.firstSeenUnknown.get(podUid);
    if (first === undefined) {
      first = now - waitedMs();
      this.firstSeenUnknown.set(podUid, first);
    }
    if (now - first < this.holdMs) return true;
    this.log.debug('events of a pod the watch does not know: no longer held', { podUid, heldMs: Math.round(now - first) });
    return false;
  }

  private unknownPod(podUid: string): PodIdentity {
    let identity = this.unknownPods.get(podUid);
    if (identity === undefined) {
      identity = Object.freeze({ ...HOST_IDENTITY, podUid, unattributed: 'pod_unknown' as const });
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
