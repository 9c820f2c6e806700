// Kubelet-shaped cgroups on this machine's real cgroup v2, for tests that
// need the kernel (or the daemon) to see "pods" without a kubelet.
//
//   <cgroup2 mount>/<prefix>-<random>/kubepods.slice/
//     kubepods-besteffort.slice/kubepods-besteffort-pod<uid with _>.slice/
//       cri-containerd-<64 hex>.scope
//
// (the systemd cgroup driver's spelling; Burstable pods go below
// kubepods-burstable.slice, Guaranteed ones straight below kubepods.slice).
// The cgroup2 mount is the one named in /proc/mounts. Every tree lives below
// a directory of its own, so tests never touch each other's cgroups or the
// machine's, and is removed in a t.teardown: the processes the test started
// are killed, anything still in the tree is killed and moved to the root
// cgroup, and the directories are removed bottom-up, also when the test
// failed or threw half-way.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupIdOf, findCgroup2Mount } from '../../src/cgroup/mounts.js';

export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

/** The cgroup v2 mount named in <procfs>/mounts, undefined without one (or without a readable mount table). */
export function cgroup2Mount(procfs = '/proc'): string | undefined {
  try {
    return findCgroup2Mount(procfs);
  } catch {
    return undefined;
  }
}

/** Why pod cgroups cannot be made here (not root, no cgroup2), undefined when they can. */
export function podCgroupsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to create cgroups and move processes into them';
  if (cgroup2Mount() === undefined) return 'no cgroup2 mount in /proc/mounts';
  return undefined;
}

/** tap options that skip a test, with the reason printed, where pod cgroups cannot be made. */
export function needsPodCgroups(): { skip: string | false } {
  const reason = podCgroupsUnavailable();
  if (reason !== undefined) process.stdout.write(`# skipping: ${reason}\n`);
  return { skip: reason ?? false };
}

/** A pod's cgroup below the kubepods root, as kubelet's systemd driver names it (relative path). */
export function podCgroupPath(podUid: string, qos: QosClass = 'BestEffort'): string {
  const uid = podUid.replaceAll('-', '_');
  if (qos === 'Guaranteed') return join('kubepods.slice', `kubepods-pod${uid}.slice`);
  const q = qos.toLowerCase();
  return join('kubepods.slice', `kubepods-${q}.slice`, `kubepods-${q}-pod${uid}.slice`);
}

/** A container's cgroup (containerd, systemd driver), relative to the tree. */
export function containerCgroupPath(podUid: string, containerId: string, qos: QosClass = 'BestEffort'): string {
  return join(podCgroupPath(podUid, qos), `cri-containerd-${containerId}.scope`);
}

export interface ContainerCgroup {
  /** Absolute path of the container's cgroup directory. */
  readonly dir: string;
  /** Its cgroup ID (the directory's inode number), what BPF programs see. */
  readonly cgroupId: number;
}

/** Moves a running process into a cgroup below mount; throws unless the kernel says it is there. */
export function moveIntoCgroup(dir: string, pid: number, mount = cgroup2Mount()): void {
  if (mount === undefined) throw new Error('no cgroup2 mount in /proc/mounts');
  writeFileSync(join(dir, 'cgroup.procs'), String(pid));
  const relative = dir.slice(mount.length);
  const own = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  if (!own.split('\n').includes(`0::${relative}`)) throw new Error(`process ${pid} not in ${relative}: ${own}`);
}

/** What the cleanup needs of a tap test. */
interface Teardown {
  teardown(fn: () => unknown): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class PodCgroups {
  /** The cgroup v2 mount. */
  readonly mount: string;
  /** This test's own tree, directly below the mount; it stands for the node's cgroup root. */
  readonly base: string;
  private readonly children = new Set<ChildProcess>();
  private readonly killNow = () => {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };

  /** Use podCgroups(t, …), which registers the cleanup. */
  constructor(prefix = 'kubepulse-test', mount = cgroup2Mount()) {
    if (mount === undefined) throw new Error('no cgroup2 mount in /proc/mounts');
    this.mount = mount;
    this.base = join(mount, `${prefix}-${randomBytes(4).toString('hex')}`);
    process.once('exit', this.killNow);
  }

  /** A directory below the tree (mkdir -p), for cgroups of other shapes; its absolute path. */
  mkdir(...relative: string[]): string {
    const dir = join(this.base, ...relative);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** A kubelet-shaped container cgroup (its pod's cgroup too, if new), with nothing in it yet. */
  container(podUid: string, containerId: string, qos: QosClass = 'BestEffort'): ContainerCgroup {
    const dir = this.mkdir(containerCgroupPath(podUid, containerId, qos));
    return { dir, cgroupId: cgroupIdOf(dir) };
  }

  /** Moves a running process into a cgroup; throws unless the kernel says it is there. */
  moveIn(dir: string, pid: number): void {
    moveIntoCgroup(dir, pid, this.mount);
  }

  /** Spawns argv and moves it into the cgroup; it is killed in cleanup. Its first instructions run outside. */
  spawnMoved(dir: string, argv: readonly string[], options: SpawnOptions = {}): ChildProcess {
    const child = this.track(spawn(argv[0]!, argv.slice(1), options));
    if (child.pid === undefined) throw new Error(`cannot start ${argv[0]}`);
    this.moveIn(dir, child.pid);
    return child;
  }

  /**
   * Runs argv inside the cgroup from its first instruction: a shell moves
   * itself in, then execs argv, so every socket and syscall of it is the
   * cgroup's. It is killed in cleanup.
   */
  spawnIn(dir: string, argv: readonly string[], options: SpawnOptions = {}): ChildProcess {
    return this.track(spawn('sh', ['-c', 'echo $$ > "$0" && exec "$@"', join(dir, 'cgroup.procs'), ...argv], options));
  }

  /** Kills this process in cleanup (and when the test process exits). */
  track<C extends ChildProcess>(child: C): C {
    this.children.add(child);
    return child;
  }

  /**
   * Kills the tracked processes, then removes the tree bottom-up; anything
   * else still in it (their children) is killed and moved to the root
   * cgroup. Idempotent; does everything it can before it throws.
   */
  async cleanup(): Promise<void> {
    await Promise.all([...this.children].map((c) => killAndWait(c)));
    this.children.clear();
    process.off('exit', this.killNow);
    await this.remove(this.base);
  }

  /** Removes a directory of the tree and everything below it (as the runtime removes a stopped container's cgroup). */
  async remove(root: string): Promise<void> {
    if (!existsSync(root)) return;
    const dirs: string[] = [];
    const walk = (dir: string): void => {
      dirs.push(dir);
      let subdirs: string[] = [];
      try {
        subdirs = readdirSync(dir, { withFileTypes: true })
          .filter((d) => d.isDirectory())
          .map((d) => d.name);
      } catch {
        return;
      }
      for (const name of subdirs) walk(join(dir, name));
    };
    walk(root);
    const errors: unknown[] = [];
    for (const dir of dirs.reverse()) {
      for (let attempt = 0; ; attempt++) {
        let pids: string[];
        try {
          pids = readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
        } catch {
          break; // gone
        }
        for (const pid of pids) {
          try {
            process.kill(Number(pid), 'SIGKILL'); // only this test's processes can be in its tree
          } catch {
            // exited meanwhile
          }
          try {
            writeFileSync(join(this.mount, 'cgroup.procs'), pid); // out of the way, should it linger
          } catch {
            // exited meanwhile
          }
        }
        try {
          rmdirSync(dir);
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') break;
          if (attempt >= 100) {
            errors.push(new Error(`cannot remove ${dir}: ${String(err)}`));
            break;
          }
          await sleep(50);
        }
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, errors.map(String).join('; '));
  }
}

/** A tree of pod cgroups for this test, removed (with the processes in it) in t.teardown. */
export function podCgroups(t: Teardown, prefix = 'kubepulse-test'): PodCgroups {
  const cgroups = new PodCgroups(prefix);
  t.teardown(() => cgroups.cleanup());
  return cgroups;
}

/** SIGKILL, resolved once the process has exited (at once if it has). */
export async function killAndWait(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}
