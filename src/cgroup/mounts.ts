// The cgroup v2 mount from a mount table, and cgroup ids. One reading of
// /proc/<pid>/mounts for the kernel probe, the resolver and the probes.

import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Mount fields escape space, tab, newline and backslash as \ooo (octal). */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** The first mount of the given filesystem type in a /proc/<pid>/mounts text. */
export function findMount(mounts: string, fsType: string): string | undefined {
  for (const line of mounts.split('\n')) {
    const fields = line.split(' ');
    if (fields[2] === fsType && fields[1]) return unescapeMountField(fields[1]);
  }
  return undefined;
}

/** The first cgroup2 mount point listed in <procfs>/mounts (throws when it cannot be read). */
export function findCgroup2Mount(procfs: string): string | undefined {
  return findMount(readFileSync(join(procfs, 'mounts'), 'utf8'), 'cgroup2');
}

/**
 * The cgroup v2 mount a --path.cgroupfs stands for. A host's /sys/fs/cgroup
 * mounted into the container is cgroup2 itself on a unified host; on a
 * hybrid one it is a tmpfs of v1 hierarchies with cgroup2 below it (at
 * `unified`), and the DaemonSet mounts the same host path either way, so a
 * cgroup2 mount strictly below the path is taken when the path is none.
 */
export function cgroup2At(mounts: string, path: string): string {
  const cgroup2 = mounts
    .split('\n')
    .map((line) => line.split(' '))
    .filter((f) => f[2] === 'cgroup2' && f[1])
    .map((f) => unescapeMountField(f[1]!));
  const base = path.replace(/\/+$/, '');
  if (cgroup2.includes(base) || cgroup2.includes(path)) return path;
  return cgroup2.find((m) => m.startsWith(`${base}/`)) ?? path;
}

/** The inode number of a cgroup v2 directory, which is the kernel's cgroup ID. */
export function cgroupIdOf(dir: string): number {
  return statSync(dir).ino;
}
