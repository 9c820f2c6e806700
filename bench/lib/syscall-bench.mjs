// The syscall microbenchmark: what the syscalls probe costs every syscall of the node, for a
// process inside a pod-shaped cgroup and one outside any pod, without the daemon and with it
// (and with older BPF objects when asked). bench/syscall-loop.c does the timing; this runs it.
//
// Attaching anything to sys_enter puts every task on the syscall slow path, so the figure that
// matters is ns per getppid() with ÷ without, not the program's run_time_ns.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';

import { median } from './stats.mjs';

/** The cgroup v2 mount from /proc/mounts (never hard-coded), or undefined. */
export function cgroup2Mount() {
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[2] === 'cgroup2') return f[1];
  }
  return undefined;
}

/**
 * A kubelet-shaped container cgroup (systemd driver) below a directory of the bench's own:
 * <mount>/kubepulse-bench-<rand>/kubepods.slice/…/cri-containerd-<id>.scope.
 * remove() takes the tree down bottom-up once its processes are gone.
 */
export function podShapedCgroup(mount) {
  const base = join(mount, `kp-bench-syscalls-${randomBytes(4).toString('hex')}`);
  const uid = randomUUID().replaceAll('-', '_');
  const parts = ['kubepods.slice', 'kubepods-besteffort.slice', `kubepods-besteffort-pod${uid}.slice`, `cri-containerd-${randomBytes(32).toString('hex')}.scope`];
  const dirs = [base];
  for (const p of parts) dirs.push(join(dirs[dirs.length - 1], p));
  for (const d of dirs) mkdirSync(d);
  return {
    dir: dirs[dirs.length - 1],
    /** Makes the tree again if something on the shared machine removed it meanwhile. */
    ensure() {
      mkdirSync(dirs[dirs.length - 1], { recursive: true });
    },
    remove() {
      for (const d of [...dirs].reverse()) {
        try {
          rmdirSync(d);
        } catch {
          /* still busy or gone */
        }
      }
    },
  };
}

/**
 * For each condition (no daemon, then each tool): the loop outside any pod and inside the pod
 * cgroup, `reps` times alternating. startTool(condition) → {stop()} or null for "without".
 */
export async function measureSyscalls({ conditions, startTool, runJson, loopBin, reps, calls, log }) {
  const mount = cgroup2Mount();
  if (!mount) return { error: 'no cgroup2 mount in /proc/mounts' };
  const pod = podShapedCgroup(mount);
  const runs = [];
  try {
    for (let rep = 1; rep <= reps; rep++) {
      for (const condition of conditions) {
        const tool = await startTool(condition);
        try {
          for (const where of ['outside', 'pod']) {
            // many short rounds: on a shared machine the least disturbed of 200 rounds of a few
            // ms is far closer to the truth than the least disturbed of a few long ones
            const args = ['--calls', String(calls), '--rounds', '200', '--label', `${condition}/${where}`];
            if (where === 'pod') {
              pod.ensure();
              args.push('--cgroup', pod.dir);
            }
            const r = await runJson(loopBin, args, 120000);
            runs.push({ condition, where, rep, nsMin: r.ns_per_call_min, nsMedian: r.ns_per_call_median });
          }
        } finally {
          await tool?.stop();
        }
      }
      log(`  syscalls rep ${rep}: ${runs.filter((r) => r.rep === rep).map((r) => `${r.condition}/${r.where} ${r.nsMin.toFixed(0)} ns`).join(', ')}`);
    }
  } finally {
    pod.remove();
  }
  // Per condition and place: the median over reps of each rep's least disturbed round, and
  // the ratio to "without" in the same rep and place (pair by pair, as the loads are).
  const out = { calls, reps, conditions: {} };
  for (const condition of conditions) {
    out.conditions[condition] = {};
    for (const where of ['outside', 'pod']) {
      const mine = runs.filter((r) => r.condition === condition && r.where === where);
      const ratios = mine.map((r) => {
        const base = runs.find((b) => b.condition === conditions[0] && b.where === where && b.rep === r.rep);
        return base ? r.nsMin / base.nsMin : null;
      });
      const added = mine.map((r) => {
        const base = runs.find((b) => b.condition === conditions[0] && b.where === where && b.rep === r.rep);
        return base ? r.nsMin - base.nsMin : null;
      });
      out.conditions[condition][where] = { nsPerCall: median(mine.map((r) => r.nsMin)), ratio: median(ratios), addedNs: median(added) };
    }
  }
  out.runs = runs;
  return out;
}
