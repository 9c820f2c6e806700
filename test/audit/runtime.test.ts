// Runtime truth: /proc/<pid>/status parsed; containers' processes found
// through their cgroups, on a fixture tree and on this machine's real
// cgroup v2 with real processes (the cost of a scan printed).
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseProcStatus, scanContainers } from '../../src/audit/runtime.js';
import { containerCgroupPath, needsPodCgroups, podCgroups } from '../support/pod-cgroups.js';
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
  const proc = (pid: number, text: string) => {
    mkdirSync(join(procfs, String(pid)), { recursive: true });
    writeFileSync(join(procfs, String(pid), 'status'), text);
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
