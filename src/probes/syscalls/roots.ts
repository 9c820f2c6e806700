// Where pods live in the cgroup v2 tree: the kubepods cgroups that the
// syscalls probe records below. kubelet names them `kubepods.slice`
// (systemd driver) or `kubepods` (cgroupfs driver), at the top of the tree
// or nested (kind, k3s, kubelet.slice/kubelet-kubepods.slice).

import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface PodRoot {
  path: string;
  /** Depth below the cgroup v2 mount (the mount itself is level 0). */
  level: number;
  /** The cgroup id: the directory's inode number. */
  cgroupId: number;
}

const POD_ROOT_NAMES = new Set(['kubepods.slice', 'kubepods', 'kubelet-kubepods.slice']);

/** Breadth-first to maxLevel; does not descend into a root once found. */
export function findPodRoots(cgroupfs: string, maxLevel: number): PodRoot[] {
  const roots: PodRoot[] = [];
  let frontier = [cgroupfs];
  for (let level = 1; level <= maxLevel && frontier.length > 0; level++) {
    const next: string[] = [];
    for (const dir of frontier) {
      let names: string[];
      try {
        names = readdirSync(dir, { withFileTypes: true })
          .filter((d) => d.isDirectory())
          .map((d) => d.name);
      } catch {
        continue;
      }
      for (const name of names) {
        const path = join(dir, name);
        if (POD_ROOT_NAMES.has(name)) {
          try {
            roots.push({ path, level, cgroupId: statSync(path).ino });
          } catch {
            /* removed meanwhile */
          }
        } else {
          next.push(path);
        }
      }
    }
    frontier = next;
  }
  return roots;
}
