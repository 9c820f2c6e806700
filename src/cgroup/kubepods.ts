// Where kubelet puts pods in the cgroup v2 tree. kubelet names the cgroup
// that holds them after its --cgroup-root: `kubepods` (cgroupfs driver) or
// `kubepods.slice` (systemd driver) at the top, `<root>-kubepods.slice` below
// a systemd cgroup root (kind: `kubelet.slice/kubelet-kubepods.slice`), and
// the whole tree may sit inside a node container (kind, k3d:
// `system.slice/docker-<id>.scope/...`). The pod resolver and the probes that
// record pods only both find the roots here, so they never disagree.

import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface KubepodsRoot {
  /** Relative to the mount, without a leading '/'. */
  path: string;
  /** Depth below the cgroup v2 mount (the mount itself is level 0). */
  level: number;
  /** The cgroup id: the directory's inode number. */
  cgroupId: number;
}

/** Whether a cgroup's own name says it holds kubelet's pods. */
export function isKubepodsRoot(name: string): boolean {
  return name === 'kubepods' || name === 'kubepods.slice' || name.endsWith('-kubepods.slice');
}

/** A cgroup's child cgroups (directories); none when it is gone or unreadable. */
export function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch {
    return [];
  }
}

/**
 * Breadth-first to maxLevel, sorted by path; does not descend into a root
 * once found. maxDirs bounds the directories looked at (a node with
 * thousands of host cgroups).
 */
export function findKubepodsRoots(mount: string, maxLevel: number, maxDirs = 50_000): KubepodsRoot[] {
  const roots: KubepodsRoot[] = [];
  let frontier = [''];
  let visited = 0;
  for (let level = 1; level <= maxLevel && frontier.length > 0; level++) {
    const next: string[] = [];
    for (const dir of frontier) {
      for (const name of subdirs(join(mount, dir)).sort()) {
        if (++visited > maxDirs) return roots;
        const path = dir === '' ? name : `${dir}/${name}`;
        if (!isKubepodsRoot(name)) {
          next.push(path);
          continue;
        }
        try {
          roots.push({ path, level, cgroupId: statSync(join(mount, path)).ino });
        } catch {
          /* removed meanwhile */
        }
      }
    }
    frontier = next;
  }
  return roots;
}
