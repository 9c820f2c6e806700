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

export interface PodIdentity {
  readonly namespace: string;
  readonly pod: string;
  /** Owning controller: Deployment, StatefulSet, DaemonSet, Job, CronJob, …; the pod name for bare pods. */
  readonly workload: string;
  readonly container: string;
  readonly podUid: string;
}

export interface Resolver {
  resolve(tgid: number, cgroupId: number): PodIdentity;
}

export const HOST_IDENTITY: PodIdentity = Object.freeze({
  namespace: '',
  pod: '',
  workload: '',
  container: '',
  podUid: '',
});

/** The resolver of a daemon that runs without Kubernetes: everything is the host. */
export const hostResolver: Resolver = {
  resolve(): PodIdentity {
    return HOST_IDENTITY;
  },
};
