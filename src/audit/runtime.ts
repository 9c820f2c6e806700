// Runtime truth for the posture audit: what each container's processes are,
// whatever its spec says. A container's processes are those in its cgroup
// (and the cgroups below it: crun's leaf, a systemd inside), read from
// cgroup.procs under the kubepods subtrees; for each, /proc/<pid>/status
// gives the effective UID (second field of `Uid:`) and the seccomp mode
// (`Seccomp:` 0 = none, 1 = strict, 2 = filter).
//
// UIDs are as this process sees them: in the host's user namespace, so root
// inside a user-namespaced pod (hostUsers: false) is its mapped UID, not 0 —
// which is the truth that matters to the node.
//
// Cost of one scan: a readdir per cgroup below kubepods, a read of
// cgroup.procs per container cgroup, a stat of /proc/<pid> per process, and
// a read of /proc/<pid>/status only where the stat cannot answer (measured
// in test/audit/runtime.test.ts). The daemon scans every 30 s; reading every
// process's status each time cost it 138–446 ms of event loop per scan with
// ~400 processes on a loaded node.
//
// Why a stat answers most of it: the owner of the /proc/<pid> directory is
// the task's effective UID, always (the kernel's task_dump_owner: ps reads
// it so), refreshed at every lookup. The seccomp mode is in status only, but
// a filter once installed is never removed: a process (a /proc/<pid> inode:
// a reused PID is a new inode) seen filtered needs no second look. So status
// is read for a container's processes only until one without a filter is
// found (re-read: it may have installed one since), and for the name of the
// first root process.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { findKubepodsRoots, subdirs } from '../cgroup/kubepods.js';
import { parseCgroupPath } from '../metadata/cgroup-path.js';

export interface ProcessFact {
  readonly pid: number;
  /** The Name: line (the command, 15 characters at most). */
  readonly command: string;
}

export interface ContainerRuntimeFacts {
  /** Processes seen in the container's cgroups. */
  readonly processes: number;
  /** The first process seen with effective UID 0. */
  readonly root?: ProcessFact;
  /** The first process seen without a seccomp filter (Seccomp: 0). */
  readonly unconfined?: ProcessFact;
}

export interface ProcStatus {
  name: string;
  effectiveUid: number;
  /** undefined when the kernel has no seccomp (no Seccomp: line). */
  seccomp: number | undefined;
}

/** The lines of /proc/<pid>/status the audit reads; undefined when they are not there. */
export function parseProcStatus(text: string): ProcStatus | undefined {
  let name = '';
  let effectiveUid: number | undefined;
  let seccomp: number | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('Name:')) name = line.slice(5).trim();
    else if (line.startsWith('Uid:')) {
      const e = line.slice(4).trim().split(/\s+/)[1];
      if (e !== undefined && /^\d+$/.test(e)) effectiveUid = Number(e);
    } else if (line.startsWith('Seccomp:')) {
      const m = /^\d+$/.exec(line.slice(8).trim());
      if (m) seccomp = Number(m[0]);
    }
  }
  return effectiveUid === undefined ? undefined : { name, effectiveUid, seccomp };
}

export interface ScanOptions {
  /** The cgroup v2 mount. */
  cgroupfs: string;
  /** The host's /proc. */
  procfs: string;
  /** Bound on cgroup directories visited per scan. */
  maxDirs?: number;
  /**
   * Whether a pod's cgroups are worth a look (the audit evaluates the pods it
   * knows only); by default every pod's. A pod left out costs one readdir.
   */
  wantPod?: (podUid: string) => boolean;
}

export interface ScanResult {
  /** Container ID → what its processes are. */
  readonly containers: Map<string, ContainerRuntimeFacts>;
  readonly dirs: number;
  readonly processes: number;
}

function readPids(dir: string): number[] {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map(Number);
  } catch {
    return []; // gone meanwhile
  }
}

/** One pass over the kubepods subtrees: every container's processes, with their UIDs and seccomp modes. */
export function scanContainers(options: ScanOptions): ScanResult {
  return new RuntimeScanner(options).scan();
}

/** A process as the last status read found it. */
interface KnownProcess {
  /** The inode of /proc/<pid> then: another process with the same PID has another. */
  readonly ino: number;
  readonly seccomp: number | undefined;
}

function readStatus(dir: string): ProcStatus | undefined {
  try {
    return parseProcStatus(readFileSync(join(dir, 'status'), 'utf8'));
  } catch {
    return undefined; // exited between the stat and the read
  }
}

/** Scans again and again, reading a process's status only when a stat cannot answer (see the top of this file). */
export class RuntimeScanner {
  private known = new Map<number, KnownProcess>();
  /** The PIDs whose status the last scan read (for tests and the cost). */
  statusRead: number[] = [];

  constructor(private readonly options: ScanOptions) {}

  scan(): ScanResult {
    const { options } = this;
    const maxDirs = options.maxDirs ?? 50_000;
    const budget = { dirs: maxDirs };
    const pidsOf = new Map<string, number[]>();
    const walk = (relative: string): void => {
      if (budget.dirs-- <= 0) return;
      const full = join(options.cgroupfs, relative);
      const info = parseCgroupPath(`/${relative}`);
      const id = info?.containerId ?? '';
      if (info !== undefined && id === '' && options.wantPod !== undefined && !options.wantPod(info.podUid)) return;
      if (id !== '') {
        const pids = readPids(full);
        if (pids.length > 0) pidsOf.set(id, [...(pidsOf.get(id) ?? []), ...pids]);
      }
      for (const name of subdirs(full)) walk(`${relative}/${name}`);
    };
    for (const root of findKubepodsRoots(options.cgroupfs, 4, maxDirs)) walk(root.path);

    const known = new Map<number, KnownProcess>();
    const containers = new Map<string, ContainerRuntimeFacts>();
    let processes = 0;
    this.statusRead = [];
    for (const [id, pids] of pidsOf) {
      let root: ProcessFact | undefined;
      let unconfined: ProcessFact | undefined;
      let seen = 0;
      for (const pid of pids) {
        const dir = join(options.procfs, String(pid));
        const proc = statSync(dir, { throwIfNoEntry: false });
        if (proc === undefined) continue; // exited meanwhile
        let last = this.known.get(pid);
        if (last !== undefined && last.ino !== proc.ino) last = undefined;
        const wantSeccomp = unconfined === undefined && (last === undefined || last.seccomp === 0 || last.seccomp === undefined);
        const wantName = root === undefined && proc.uid === 0;
        let status: ProcStatus | undefined;
        if (wantSeccomp || wantName) {
          this.statusRead.push(pid);
          status = readStatus(dir);
          if (status === undefined) continue;
          last = { ino: proc.ino, seccomp: status.seccomp };
        }
        if (last !== undefined) known.set(pid, last);
        seen++;
        const effectiveUid = status?.effectiveUid ?? proc.uid;
        if (root === undefined && effectiveUid === 0 && status !== undefined) root = { pid, command: status.name };
        if (unconfined === undefined && status?.seccomp === 0) unconfined = { pid, command: status.name };
      }
      processes += seen;
      if (seen > 0) containers.set(id, { processes: seen, ...(root ? { root } : {}), ...(unconfined ? { unconfined } : {}) });
    }
    // Only processes still present are remembered.
    this.known = known;
    return { containers, dirs: maxDirs - Math.max(budget.dirs, 0), processes };
  }
}
