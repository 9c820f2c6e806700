// Seccomp drift: syscalls a container made that its seccomp profile does
// not allow. The profile is the container's Localhost one (pod or
// container securityContext.seccompProfile, type Localhost, a path below
// the kubelet's seccomp root, --path.seccomp) and, when --drift.seccomp-
// profiles points at a `kubepulse policy seccomp --output` directory, the
// one exported for its workload there (NS/WORKLOAD/CONTAINER.json).
// A profile in log mode (SCMP_ACT_LOG) lets such calls through; under an
// enforcing profile they failed (EPERM) — both are drift.
//
// Computed when asked (scrape, /api/v1/drift) from the syscalls probe's
// per-cgroup bitmaps: no work per syscall. What the probe saw is what is
// judged: with --syscalls-recording=on-demand, only calls made while
// recording was on. Profiles are read again when their file changes
// (size or mtime); a profile that cannot be read or parsed is logged once
// and judges nothing.

import { readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { Gauge, type Registry } from 'prom-client';
import type { SeccompDrift } from '../api/audit.js';
import type { ContainerSyscalls } from '../api/v1.js';
import type { Logger } from '../log.js';
import type { PodIndex, PodRecord } from '../metadata/pod-index.js';
import { parseSeccompProfile, type ParsedSeccompProfile } from './seccomp-profile.js';

export interface SeccompDriftOptions {
  registry: Registry;
  pods: PodIndex;
  /** The kubelet's seccomp root. */
  seccompRoot: string;
  /** A `kubepulse policy seccomp` output directory, or undefined. */
  exportedProfiles: string | undefined;
  /** uname -m of the node: the names the probe reports are its. */
  arch: string;
  log: Logger;
  /** The syscalls probe's current observation. */
  containers: () => readonly ContainerSyscalls[];
}

interface CachedProfile {
  stamp: string;
  profile: ParsedSeccompProfile | undefined;
}

/** A path below root, or undefined when the relative path leaves it. */
function below(root: string, path: string): string | undefined {
  const full = resolve(root, path);
  const rel = relative(resolve(root), full);
  if (rel === '' || rel.startsWith('..') || rel.split(sep).includes('..')) return undefined;
  return full;
}

export class SeccompDriftTracker {
  private readonly cache = new Map<string, CachedProfile>();

  constructor(private readonly options: SeccompDriftOptions) {
    const self = this;
    new Gauge({
      name: 'kubepulse_seccomp_drift_syscalls',
      help: "1 for each syscall a container made that its seccomp profile (Localhost, or the one exported with --drift.seccomp-profiles) does not allow.",
      labelNames: ['namespace', 'workload', 'pod', 'container', 'syscall'] as const,
      registers: [options.registry],
      collect() {
        this.reset();
        const seen = new Set<string>();
        for (const d of self.list()) {
          for (const syscall of d.syscalls) {
            const key = `${d.namespace}/${d.pod}/${d.container}/${syscall}`;
            if (seen.has(key)) continue;
            seen.add(key);
            this.set({ namespace: d.namespace, workload: d.workload, pod: d.pod, container: d.container, syscall }, 1);
          }
        }
      },
    });
  }

  /** One entry per container and profile that it drifts from. */
  list(): SeccompDrift[] {
    const byName = new Map<string, PodRecord>();
    for (const r of this.options.pods.all()) byName.set(`${r.namespace}/${r.name}`, r);
    const out: SeccompDrift[] = [];
    for (const c of this.options.containers()) {
      if (c.namespace === '' || c.pod === '' || c.container === '') continue;
      const record = byName.get(`${c.namespace}/${c.pod}`);
      for (const [label, path] of this.profilesOf(c, record)) {
        const profile = this.load(path);
        if (profile === undefined) continue;
        const denied = c.syscalls.filter((s) => !profile.allows(s));
        if (denied.length === 0) continue;
        out.push({ namespace: c.namespace, pod: c.pod, workload: c.workload, container: c.container, profile: label, syscalls: denied.sort() });
      }
    }
    return out;
  }

  /** [label, file] of each profile the container is judged against. */
  private profilesOf(c: ContainerSyscalls, record: PodRecord | undefined): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    const localhost = record?.localhostProfiles.get(c.container);
    if (localhost !== undefined) {
      const file = below(this.options.seccompRoot, localhost);
      if (file === undefined) this.warnOnce(`bad:${localhost}`, 'Localhost seccomp profile path leaves the seccomp root; not judged', { profile: localhost });
      else out.push([localhost, file]);
    }
    const dir = this.options.exportedProfiles;
    if (dir !== undefined && c.workload !== '') {
      const file = below(dir, join(c.namespace, c.workload, `${c.container}.json`));
      if (file !== undefined && statOrUndefined(file) !== undefined) out.push([file, file]);
    }
    return out;
  }

  private load(file: string): ParsedSeccompProfile | undefined {
    const st = statOrUndefined(file);
    if (st === undefined) {
      this.warnOnce(`missing:${file}`, 'seccomp profile not found; its container is not judged', { file });
      return undefined;
    }
    const stamp = `${st.size}:${st.mtimeMs}`;
    const cached = this.cache.get(file);
    if (cached?.stamp === stamp) return cached.profile;
    let profile: ParsedSeccompProfile | undefined;
    try {
      profile = parseSeccompProfile(readFileSync(file, 'utf8'), this.options.arch);
    } catch (err) {
      this.options.log.warn('seccomp profile unreadable; its container is not judged', { file, error: (err as Error).message });
    }
    this.cache.set(file, { stamp, profile });
    return profile;
  }

  private readonly warned = new Set<string>();
  private warnOnce(key: string, msg: string, fields: Record<string, unknown>): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.options.log.warn(msg, fields);
  }
}

function statOrUndefined(file: string): { size: number; mtimeMs: number } | undefined {
  try {
    const st = statSync(file);
    return st.isFile() ? st : undefined;
  } catch {
    return undefined;
  }
}
