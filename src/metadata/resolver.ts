// The contract between pod metadata and the rest of the daemon.
//
// Every kernel event carries the thread group ID and the cgroup v2 ID of the
// task that caused it; `Resolver.resolve(tgid, cgroupId)` turns those into
// the pod the event is labelled with. It is called once per event on the hot
// path, so implementations answer from memory in the common case and return
// shared, frozen objects (callers must not mutate them).
//
// Meaning of the fields:
// - all '' (HOST_IDENTITY): a host process, or anything that cannot be
//   attributed (the process is gone and its cgroup unknown), or every process
//   when the daemon runs without Kubernetes;
// - `podUid` set but `pod` '': a process in a pod's cgroup whose pod this
//   node's watch does not (yet, or any more) know;
// - `pod` set, `container` '': the pod is known but not which of its
//   containers (the sandbox, a container too new to be in the pod's status).
//
// An answer that carries `unattributed` is labelled like the host but is not
// known to be the host: the event could not be attributed, and why
// (kubepulse_unattributed_events_total{probe,reason} counts them).

export interface PodIdentity {
  readonly namespace: string;
  readonly pod: string;
  /** Owning controller: Deployment, StatefulSet, DaemonSet, Job, CronJob, …; the pod name for bare pods. */
  readonly workload: string;
  readonly container: string;
  readonly podUid: string;
  /** Set when the event could not be attributed (see UnattributedReason); absent for pods and the host. */
  readonly unattributed?: UnattributedReason;
}

/**
 * Why an event could not be attributed to a pod:
 * - cgroup_unknown: its cgroup was never seen (gone before any means found it);
 * - pod_unknown: its cgroup names a pod UID the pod watch did not know in time;
 * - process_gone: resolution needed the process (no usable cgroup id) and it had exited.
 */
export type UnattributedReason = 'cgroup_unknown' | 'pod_unknown' | 'process_gone';

export interface Resolver {
  /**
   * eventTimeNs: when the kernel saw the event (bpf_ktime_get_ns), for
   * events read per event; it lets an event produced before its pod was
   * deleted, but read after the deletion, keep its pod.
   */
  resolve(tgid: number, cgroupId: number, eventTimeNs?: number): PodIdentity;
}

export const HOST_IDENTITY: PodIdentity = Object.freeze({
  namespace: '',
  pod: '',
  workload: '',
  container: '',
  podUid: '',
});

/** Labelled as the host, counted as unattributed: the cgroup was never seen. */
export const UNKNOWN_CGROUP: PodIdentity = Object.freeze({ ...HOST_IDENTITY, unattributed: 'cgroup_unknown' });

/** Labelled as the host, counted as unattributed: the process had exited and its cgroup id says nothing. */
export const PROCESS_GONE: PodIdentity = Object.freeze({ ...HOST_IDENTITY, unattributed: 'process_gone' });

/** The resolver of a daemon that runs without Kubernetes: everything is the host. */
export const hostResolver: Resolver = {
  resolve(): PodIdentity {
    return HOST_IDENTITY;
  },
};
