// Observed syscalls → seccomp profiles (the JSON a kubelet loads from
// localhost/, and optionally a Security Profiles Operator SeccompProfile).
//
// The runtime's start-up syscalls. A container runtime installs the filter
// inside its init process shortly before execve(2) of the container's
// command, so the syscalls it makes between loading the filter and that
// execve must be allowed too, or the container never starts. When the agent
// watches the container's cgroup from its creation those syscalls are
// observed anyway; when it is not (the agent started after the container, or
// the cgroup was learned late) they are missing from the observation. The
// profile therefore adds a small, named baseline: RUNC_BASELINE, the calls
// runc's init (libcontainer/standard_init_linux.go, runc 1.1-1.3) and the Go
// runtime under it can make after seccomp.InitSeccomp:
//   - with allowPrivilegeEscalation: false (NoNewPrivileges) the filter is
//     loaded last: close the sync/log pipes, reopen the exec fifo through
//     /proc/thread-self/fd (openat), write to it, close, getpid, close the
//     remaining fds (openat+getdents64+close on /proc/self/fd, or close_range),
//     then execve (execveat for runc-dmz);
//   - with privilege escalation allowed (the Kubernetes default) the filter is
//     loaded before finalizeNamespace: additionally capget/capset/prctl for
//     capabilities and the parent-death signal, setgroups/setgid/setuid,
//     chdir to the working directory, getppid, the PATH lookup
//     (newfstatat, faccessat/faccessat2);
//   - the Go runtime meanwhile: futex, nanosleep, sched_yield, signals for
//     goroutine preemption (tgkill, rt_sigreturn, rt_sigprocmask,
//     sigaltstack), heap (mmap, munmap, madvise), threads (clone, gettid,
//     exit), the poller for fds it closes (epoll_ctl, epoll_pwait), and
//     exit_group should init fail and have to report it.
// crun (C, no Go runtime) needs a subset. `baseline: []` drops it, for
// callers that can prove they observed container start-up.
import { compareStrings } from './labels.js';
import { canonicalArch, syscallTable } from './syscall-table.js';
import type { ContainerSyscalls, Labels, SyscallsReport } from './types.js';

export const RUNC_BASELINE: readonly string[] = [
  'capget', 'capset', 'chdir', 'clone', 'close', 'close_range', 'epoll_ctl', 'epoll_pwait', 'execve', 'execveat',
  'exit', 'exit_group', 'faccessat', 'faccessat2', 'fcntl', 'fstat', 'futex', 'getdents64', 'getpid', 'getppid',
  'gettid', 'madvise', 'mmap', 'munmap', 'nanosleep', 'newfstatat', 'openat', 'prctl', 'rt_sigprocmask',
  'rt_sigreturn', 'sched_yield', 'setgid', 'setgroups', 'setuid', 'sigaltstack', 'tgkill', 'write',
];

export const BASELINES: Readonly<Record<string, readonly string[]>> = { runc: RUNC_BASELINE, none: [] };

/** Seccomp architectures a profile lists for a node's architecture (native first, then its compat ABIs). */
const ARCHITECTURES: Readonly<Record<string, readonly string[]>> = {
  x86_64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  amd64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  aarch64: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
  arm64: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
};

export function seccompArchitectures(arch: string): readonly string[] {
  const a = ARCHITECTURES[arch];
  if (a === undefined) throw new Error(`unsupported architecture ${JSON.stringify(arch)} (known: ${Object.keys(ARCHITECTURES).join(', ')})`);
  return a;
}

export interface SeccompSyscallRule {
  names: string[];
  action: 'SCMP_ACT_ALLOW';
}

export interface SeccompProfile {
  defaultAction: 'SCMP_ACT_ERRNO';
  architectures: string[];
  syscalls: SeccompSyscallRule[];
}

export interface SeccompOptions {
  /** Node architectures the syscalls were observed on (x86_64, aarch64, …). Default x86_64. */
  arches?: readonly string[];
  /** Syscalls the runtime needs after loading the filter; default RUNC_BASELINE. */
  baseline?: readonly string[];
}

/**
 * A profile that denies (EPERM) everything but the given syscalls plus the
 * baseline. Names are deduplicated and sorted, so the output depends only on
 * the set of names.
 */
export function buildSeccompProfile(syscalls: Iterable<string>, opts: SeccompOptions = {}): SeccompProfile {
  const names = new Set<string>(syscalls);
  for (const s of opts.baseline ?? RUNC_BASELINE) names.add(s);
  const arches = new Set<string>();
  for (const a of [...(opts.arches ?? ['x86_64'])].sort(compareStrings)) for (const s of seccompArchitectures(a)) arches.add(s);
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    architectures: [...arches],
    syscalls: [{ names: [...names].sort(compareStrings), action: 'SCMP_ACT_ALLOW' }],
  };
}

export function renderSeccompJson(profile: SeccompProfile): string {
  return `${JSON.stringify(profile, null, 2)}\n`;
}

export interface SpoSeccompProfile {
  apiVersion: 'security-profiles-operator.x-k8s.io/v1beta1';
  kind: 'SeccompProfile';
  metadata: { name: string; namespace: string; labels: Labels; annotations: Labels };
  spec: SeccompProfile;
}

export interface ContainerProfile {
  namespace: string;
  workload: string;
  container: string;
  profile: SeccompProfile;
}

/** Object names are DNS subdomains; container names are DNS labels. */
export function spoProfileName(workload: string, container: string): string {
  return `${workload}-${container}`.slice(0, 253).replace(/[-.]+$/, '');
}

export function renderSpoSeccompProfile(cp: ContainerProfile): SpoSeccompProfile {
  return {
    apiVersion: 'security-profiles-operator.x-k8s.io/v1beta1',
    kind: 'SeccompProfile',
    metadata: {
      name: spoProfileName(cp.workload, cp.container),
      namespace: cp.namespace,
      labels: { 'app.kubernetes.io/managed-by': 'kubepulse' },
      annotations: { 'kubepulse.io/workload': cp.workload, 'kubepulse.io/container': cp.container },
    },
    spec: { defaultAction: cp.profile.defaultAction, architectures: cp.profile.architectures, syscalls: cp.profile.syscalls },
  };
}

/** The agent's name for a syscall number missing from its table (src/probes/syscalls/collector.ts). */
export const UNNAMED_SYSCALL = /^syscall_[0-9]+$/;

export function isUnnamedSyscall(name: string): boolean {
  return UNNAMED_SYSCALL.test(name);
}

const compareNumbered = (a: string, b: string): number => Number(a.slice(8)) - Number(b.slice(8));

export interface SeccompGenerateOptions {
  baseline?: readonly string[];
  namespace?: string;
  workload?: string;
  container?: string;
}

export interface SeccompGenerateResult {
  profiles: ContainerProfile[];
  warnings: string[];
}

/**
 * One profile per (namespace, workload, container): the union of what every
 * pod of the workload was seen doing, on every agent's node.
 */
export function generateSeccompProfiles(reports: readonly SyscallsReport[], opts: SeccompGenerateOptions = {}): SeccompGenerateResult {
  const groups = new Map<string, { c: ContainerSyscalls; names: Set<string>; arches: Set<string>; namesByArch: Map<string, Set<string>> }>();
  const warnings: string[] = [];
  for (const r of reports) {
    seccompArchitectures(r.arch);
    const arch = canonicalArch(r.arch);
    for (const c of r.containers) {
      if (opts.namespace !== undefined && c.namespace !== opts.namespace) continue;
      if (opts.workload !== undefined && c.workload !== opts.workload) continue;
      if (opts.container !== undefined && c.container !== opts.container) continue;
      const key = `${c.namespace}/${c.workload}/${c.container}`;
      let g = groups.get(key);
      if (g === undefined) groups.set(key, (g = { c, names: new Set(), arches: new Set(), namesByArch: new Map() }));
      let ofArch = g.namesByArch.get(arch);
      if (ofArch === undefined) g.namesByArch.set(arch, (ofArch = new Set()));
      for (const s of c.syscalls) {
        g.names.add(s);
        ofArch.add(s);
      }
      g.arches.add(arch);
    }
  }
  const profiles: ContainerProfile[] = [];
  for (const key of [...groups.keys()].sort(compareStrings)) {
    const g = groups.get(key)!;
    // The agent names a number its table does not know syscall_<n>: true in
    // the API, but no seccomp loader accepts it. Left out (so denied), said.
    const unnamed = [...g.names].filter(isUnnamedSyscall).sort(compareNumbered);
    for (const n of unnamed) g.names.delete(n);
    if (unnamed.length > 0) {
      warnings.push(
        `${key}: left out ${unnamed.length} syscall(s) the agent has no name for, which libseccomp cannot load: ${unnamed.join(', ')}; ` +
          'the profile denies them (add their names by hand if the container needs them)',
      );
    }
    if (g.names.size === 0) {
      warnings.push(
        unnamed.length > 0
          ? `${key}: no named syscalls observed; no profile written`
          : `${key}: no syscalls observed; no profile written (one allowing only the baseline would stop it from starting)`,
      );
      continue;
    }
    // Each node named its numbers with its own architecture's table; a name
    // another table lacks is normal across architectures (arm64 has no open),
    // but one unknown to the table of the node that reported it is not.
    for (const arch of [...g.arches].sort(compareStrings)) {
      const table = syscallTable(arch);
      if (table === undefined) continue;
      const unknown = [...(g.namesByArch.get(arch) ?? [])].filter((n) => !isUnnamedSyscall(n) && table.number(n) === undefined).sort(compareStrings);
      if (unknown.length > 0) warnings.push(`${key}: syscall name(s) not in the ${arch} table, kept as observed: ${unknown.join(', ')}`);
    }
    const seccompOpts: SeccompOptions = { arches: [...g.arches] };
    if (opts.baseline !== undefined) seccompOpts.baseline = opts.baseline;
    profiles.push({ namespace: g.c.namespace, workload: g.c.workload, container: g.c.container, profile: buildSeccompProfile(g.names, seccompOpts) });
  }
  if (profiles.length === 0 && warnings.length === 0) {
    const filter = [opts.namespace, opts.workload, opts.container].filter((x) => x !== undefined).join('/');
    warnings.push(`no containers with observed syscalls${filter === '' ? '' : ` match ${filter}`}; no profile written`);
  }
  return { profiles, warnings };
}
