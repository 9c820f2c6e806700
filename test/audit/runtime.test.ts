// Runtime truth: /proc/<pid>/status parsed; containers' processes found
// through their cgroups, on a fixture tree and on this machine's real
// cgroup v2 with real processes (the cost of a scan printed); a scanner
// that scans again reads only the status of processes that may have
// changed, with the same results.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseProcStatus, RuntimeScanner, scanContainers } from '../../src/audit/runtime.js';
import { containerCgroupPath, needsPodCgroups, podCgroups } from '../support/pod-cgroups.js';
import { buildSeccompExec, SLEEP_SYSCALLS } from '../support/seccomp.js';
import { until } from '../support/until.js';

const randomContainerId = (): string => (randomUUID() + randomUUID()).replaceAll('-', '');

const status = (name: string, uid: string, seccomp?: number) =>
  [`Name:\t${name}`, 'Umask:\t0022', 'State:\tS (sleeping)', `Uid:\t${uid}`, 'Gid:\t0\t0\t0\t0', ...(seccomp === undefined ? [] : [`Seccomp:\t${seccomp}`, 'Seccomp_filters:\t1']), ''].join('\n');

t.test('parseProcStatus', async (t) => {
  t.same(parseProcStatus(status('nginx', '101\t0\t0\t0', 0)), { name: 'nginx', effectiveUid: 0, seccomp: 0 }, 'effective UID is the second field');
  t.same(parseProcStatus(status('app', '0\t1000\t1000\t1000', 2)), { name: 'app', effectiveUid: 1000, seccomp: 2 });
  t.same(parseProcStatus(status('old', '5\t5\t5\t5')), { name: 'old', effectiveUid: 5, seccomp: undefined }, 'a kernel without seccomp');
  t.equal(parseProcStatus('Name:\tx\n'), undefined, 'no Uid line');
  t.same(parseProcStatus(readFileSync('/proc/self/status', 'utf8'))?.effectiveUid, process.geteuid?.());
});

t.test('scanContainers on a fixture tree', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'kubepulse-audit-runtime-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const cgroupfs = join(root, 'cgroup');
  const procfs = join(root, 'proc');
  const pod = randomUUID();
  const a = randomContainerId();
  const b = randomContainerId();
  const procs = (rel: string, pids: number[]) => {
    mkdirSync(join(cgroupfs, rel), { recursive: true });
    writeFileSync(join(cgroupfs, rel, 'cgroup.procs'), pids.map((p) => `${p}\n`).join(''));
  };
  // As in the kernel's /proc, the directory is owned by the effective UID.
  const proc = (pid: number, text: string) => {
    mkdirSync(join(procfs, String(pid)), { recursive: true });
    writeFileSync(join(procfs, String(pid), 'status'), text);
    const euid = parseProcStatus(text)!.effectiveUid;
    chownSync(join(procfs, String(pid)), euid, 0);
  };
  procs(containerCgroupPath(pod, a), [10, 11]);
  procs(join(containerCgroupPath(pod, a), 'container'), [12]); // crun's leaf: still container a
  procs(containerCgroupPath(pod, b), [20, 21]); // 21 exited before its status was read
  procs(join('kubepods.slice', 'kubepods-besteffort.slice', `kubepods-besteffort-pod${pod.replaceAll('-', '_')}.slice`), [30]); // the pod level: no container
  proc(10, status('app', '1000\t1000\t1000\t1000', 2));
  proc(11, status('helper', '1000\t1000\t1000\t1000', 0));
  proc(12, status('debug', '1000\t0\t0\t0', 2));
  proc(20, status('ok', '65534\t65534\t65534\t65534', 2));
  proc(30, status('pause', '0\t0\t0\t0', 0));
  const result = scanContainers({ cgroupfs, procfs });
  t.same(result.containers.get(a), { processes: 3, root: { pid: 12, command: 'debug' }, unconfined: { pid: 11, command: 'helper' } });
  t.same(result.containers.get(b), { processes: 1 });
  t.equal(result.containers.size, 2);
  t.equal(result.processes, 4);
});

t.test('scanContainers on real cgroups with real processes', needsPodCgroups(), async (t) => {
  const cgroups = podCgroups(t, 'kubepulse-audit-runtime');
  const rootId = randomContainerId();
  const userId = randomContainerId();
  const pod = randomUUID();
  const asRoot = cgroups.spawnIn(cgroups.container(pod, rootId).dir, ['sleep', '60'], { stdio: 'ignore' });
  const asUser = cgroups.spawnIn(cgroups.container(pod, userId).dir, ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'sleep', '60'], { stdio: 'ignore' });
  await until('both execs done', () => readFileSync(`/proc/${asUser.pid}/comm`, 'utf8').trim() === 'sleep' && readFileSync(`/proc/${asRoot.pid}/comm`, 'utf8').trim() === 'sleep');
  const began = performance.now();
  const result = scanContainers({ cgroupfs: cgroups.mount, procfs: '/proc' });
  const ms = performance.now() - began;
  t.same(result.containers.get(rootId), { processes: 1, root: { pid: asRoot.pid, command: 'sleep' }, unconfined: { pid: asRoot.pid, command: 'sleep' } });
  t.same(result.containers.get(userId), { processes: 1, unconfined: { pid: asUser.pid, command: 'sleep' } }, 'UID 65534: not root; no filter');
  t.comment(`one scan: ${ms.toFixed(2)} ms for ${result.dirs} cgroup directories and ${result.processes} processes in ${result.containers.size} containers`);
});

t.test('RuntimeScanner reads a status only where a stat cannot answer (fixture tree)', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'kubepulse-audit-rescan-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const cgroupfs = join(root, 'cgroup');
  const procfs = join(root, 'proc');
  const pod = randomUUID();
  const id = randomContainerId();
  const dir = join(cgroupfs, containerCgroupPath(pod, id));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'cgroup.procs'), '10\n11\n12\n');
  // As in the kernel's /proc: the directory is owned by the effective UID.
  const proc = (pid: number, text: string) => {
    mkdirSync(join(procfs, String(pid)), { recursive: true });
    writeFileSync(join(procfs, String(pid), 'status'), text);
    chownSync(join(procfs, String(pid)), parseProcStatus(text)!.effectiveUid, 0);
  };
  // Another process with the same PID: made beside the old directory, so its inode number differs (the kernel's always does).
  const replace = (pid: number, text: string) => {
    proc(pid + 1_000_000, text);
    rmSync(join(procfs, String(pid)), { recursive: true });
    renameSync(join(procfs, String(pid + 1_000_000)), join(procfs, String(pid)));
  };
  proc(10, status('app', '1000\t1000\t1000\t1000', 2)); // filtered: read once
  proc(11, status('helper', '1000\t1000\t1000\t1000', 2));
  proc(12, status('sidecar', '1000\t1000\t1000\t1000', 0)); // unconfined: read until it is not
  const scanner = new RuntimeScanner({ cgroupfs, procfs });
  const first = scanner.scan();
  t.same(first.containers.get(id), { processes: 3, unconfined: { pid: 12, command: 'sidecar' } });
  t.same(scanner.statusRead, [10, 11, 12], 'first scan: every status');
  t.same(scanner.scan().containers.get(id), first.containers.get(id), 'same result');
  t.same(scanner.statusRead, [12], 'again: only the unconfined one (a filter may have come since)');

  // 11 becomes root (a setuid exec): its directory's owner says so; the status is read for its name.
  proc(11, status('su', '1000\t0\t0\t0', 2));
  t.same(scanner.scan().containers.get(id), { processes: 3, root: { pid: 11, command: 'su' }, unconfined: { pid: 12, command: 'sidecar' } });
  t.same(scanner.statusRead, [11, 12]);

  // 12 installs a filter: seen at once, and not read again.
  proc(12, status('sidecar', '1000\t1000\t1000\t1000', 2));
  t.same(scanner.scan().containers.get(id), { processes: 3, root: { pid: 11, command: 'su' } });
  t.same(scanner.scan().containers.get(id), { processes: 3, root: { pid: 11, command: 'su' } });
  t.same(scanner.statusRead, [11], 'only for the root process\'s name');

  // 10 exits and its PID comes back as another process without a filter: a new inode, read.
  replace(10, status('again', '1000\t1000\t1000\t1000', 0));
  t.same(scanner.scan().containers.get(id), { processes: 3, root: { pid: 11, command: 'su' }, unconfined: { pid: 10, command: 'again' } });

  // Gone: counted nowhere.
  rmSync(join(procfs, '10'), { recursive: true });
  t.same(scanner.scan().containers.get(id), { processes: 2, root: { pid: 11, command: 'su' } });
});

t.test('wantPod: the cgroups of pods the audit does not know are not read', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'kubepulse-audit-want-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const cgroupfs = join(root, 'cgroup');
  const procfs = join(root, 'proc');
  const [known, unknown] = [randomUUID(), randomUUID()];
  const [a, b] = [randomContainerId(), randomContainerId()];
  for (const [pod, id, pid] of [[known, a, 10], [unknown, b, 20]] as const) {
    mkdirSync(join(cgroupfs, containerCgroupPath(pod, id)), { recursive: true });
    writeFileSync(join(cgroupfs, containerCgroupPath(pod, id), 'cgroup.procs'), `${pid}\n`);
    mkdirSync(join(procfs, String(pid)), { recursive: true });
    writeFileSync(join(procfs, String(pid), 'status'), status('sh', '0\t0\t0\t0', 0));
  }
  const scanner = new RuntimeScanner({ cgroupfs, procfs, wantPod: (uid) => uid === known });
  const result = scanner.scan();
  t.same([...result.containers.keys()], [a]);
  t.same(scanner.statusRead, [10]);
});

t.test('RuntimeScanner on real processes: filtered ones are read once, the owner of /proc/<pid> is the effective UID', needsPodCgroups(), async (t) => {
  const loader = buildSeccompExec();
  if (!loader.ok) {
    t.plan(0, `skipped: ${loader.skip}`);
    return;
  }
  const cgroups = podCgroups(t, 'kubepulse-audit-rescan');
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-audit-rescan-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const allow = join(dir, 'allow');
  writeFileSync(allow, `${SLEEP_SYSCALLS.join('\n')}\n`);
  chmodSync(dir, 0o755); // seccomp-exec reads it as UID 65534
  const pod = randomUUID();
  const [confinedId, setuidId, rootId] = [randomContainerId(), randomContainerId(), randomContainerId()];
  const confined = cgroups.spawnIn(cgroups.container(pod, confinedId).dir, ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', loader.path, allow, 'sleep', '60'], { stdio: 'ignore' });
  // Effective UID 65534, real UID 0: undumpable, and still its /proc directory is 65534's.
  const setuid = cgroups.spawnIn(cgroups.container(pod, setuidId).dir, ['setpriv', '--euid=65534', '--clear-groups', loader.path, allow, 'sleep', '60'], { stdio: 'ignore' });
  const asRoot = cgroups.spawnIn(cgroups.container(pod, rootId).dir, ['sleep', '60'], { stdio: 'ignore' });
  const ready = (pid: number | undefined, uid: number, seccomp: number): boolean => {
    const s = parseProcStatus(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return s?.name === 'sleep' && s.effectiveUid === uid && s.seccomp === seccomp;
  };
  await until('the execs are done', () => ready(confined.pid, 65534, 2) && ready(setuid.pid, 65534, 2) && ready(asRoot.pid, 0, 0), { retryErrors: true });
  t.same([confined.pid, setuid.pid, asRoot.pid].map((pid) => statSync(`/proc/${pid}`).uid), [65534, 65534, 0], 'each /proc/<pid> is owned by its effective UID');

  const scanner = new RuntimeScanner({ cgroupfs: cgroups.mount, procfs: '/proc' });
  const mine = (r: ReturnType<RuntimeScanner['scan']>) => [confinedId, setuidId, rootId].map((id) => r.containers.get(id));
  const ours = (reads: number[]) => [confined.pid, setuid.pid, asRoot.pid].filter((pid) => reads.includes(pid!));
  const cpu0 = process.cpuUsage();
  const first = scanner.scan();
  const cpu1 = process.cpuUsage(cpu0);
  const firstReads = scanner.statusRead;
  t.same(mine(first), [{ processes: 1 }, { processes: 1 }, { processes: 1, root: { pid: asRoot.pid, command: 'sleep' }, unconfined: { pid: asRoot.pid, command: 'sleep' } }]);
  t.same(ours(firstReads), [confined.pid, setuid.pid, asRoot.pid], 'first scan: every status read');
  const cpu2 = process.cpuUsage();
  const second = scanner.scan();
  const cpu3 = process.cpuUsage(cpu2);
  t.same(mine(second), mine(first), 'the same facts');
  t.same(ours(scanner.statusRead), [asRoot.pid], 'again: only the root, unconfined one');
  t.comment(`scans of ${first.processes} processes on this machine: first ${((cpu1.user + cpu1.system) / 1000).toFixed(2)} ms CPU, ${firstReads.length} status reads; again ${((cpu3.user + cpu3.system) / 1000).toFixed(2)} ms CPU, ${scanner.statusRead.length} status reads`);
});

t.test('the owner of /proc/<pid> follows a change of effective UID at once (no exec)', needsPodCgroups(), async (t) => {
  // python3 (a build package): drops to effective UID 65534 keeping 0 as saved UID, then takes it back on SIGUSR1.
  const script = 'import os,signal,sys,time\nos.setresuid(0,65534,0)\nsignal.signal(signal.SIGUSR1, lambda *a: os.seteuid(0))\nsys.stdout.write("ready\\n"); sys.stdout.flush()\ntime.sleep(60)\n';
  const child = spawn('python3', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => child.kill('SIGKILL'));
  await new Promise((r) => child.stdout!.once('data', r));
  t.equal(statSync(`/proc/${child.pid}`).uid, 65534, 'dropped');
  child.kill('SIGUSR1');
  await until('root again', () => parseProcStatus(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.effectiveUid === 0);
  t.equal(statSync(`/proc/${child.pid}`).uid, 0, 'root again: the stat says so, no status needed');
});
