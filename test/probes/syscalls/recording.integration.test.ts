// --syscalls-recording=on-demand on this machine's kernel: the sys_enter
// hook is not attached until recording is switched on through the API
// (bpftool shows no link for the program), a pod's syscalls are recorded
// while it is on, and once it is off the hook is gone again and a new pod's
// syscalls are not recorded, while what was recorded stays.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { startDaemon, type RunningDaemon } from '../../support/daemon.js';
import { needsPodCgroups, podCgroups, type PodCgroups } from '../../support/pod-cgroups.js';
import { needsBpf } from '../../support/privileges.js';
import { until } from '../../support/until.js';

const skipBpf = needsBpf().skip;
const skip = skipBpf !== false ? skipBpf : needsPodCgroups().skip;

function post(daemon: RunningDaemon, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(daemon.url(path), { method: 'POST' }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function programId(daemon: RunningDaemon): number {
  const attached = daemon.logs.find((l) => l.msg === 'probe attached' && l.probe === 'syscalls');
  const id = Object.values((attached?.programs ?? {}) as Record<string, number>)[0];
  if (id === undefined) throw new Error('no syscalls program in the logs');
  return id;
}

/** Whether a BPF link holds the program (attached), from bpftool. */
function linked(progId: number): boolean {
  const links = JSON.parse(execFileSync('bpftool', ['link', 'show', '-j'], { encoding: 'utf8' })) as Array<{ prog_id: number }>;
  return links.some((l) => l.prog_id === progId);
}

/** cgroup ids in the daemon's syscall_bits map. */
function recordedCgroups(progId: number): Set<number> {
  const prog = JSON.parse(execFileSync('bpftool', ['prog', 'show', 'id', String(progId), '-j'], { encoding: 'utf8' })) as { map_ids: number[] };
  for (const id of prog.map_ids) {
    const map = JSON.parse(execFileSync('bpftool', ['map', 'show', 'id', String(id), '-j'], { encoding: 'utf8' })) as { name: string };
    if (map.name !== 'syscall_bits') continue;
    const entries = JSON.parse(execFileSync('bpftool', ['map', 'dump', 'id', String(id), '-j'], { encoding: 'utf8' })) as Array<{ key: string[] }>;
    return new Set(entries.map((e) => Number(Buffer.from(e.key.map((h) => parseInt(h, 16))).readBigUInt64LE())));
  }
  throw new Error('no syscall_bits map');
}

function runIn(cgroups: PodCgroups, dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = cgroups.spawnIn(dir, ['/bin/true'], { stdio: 'ignore' });
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`/bin/true in ${dir} exited ${code}`))));
  });
}

t.test('on demand, the sys_enter hook is attached only while recording is on', { skip, timeout: 60_000 }, async (t) => {
  const cgroups = podCgroups(t);
  const before = cgroups.container(randomUUID(), randomBytes(32).toString('hex'));
  const during = cgroups.container(randomUUID(), randomBytes(32).toString('hex'));
  const after = cgroups.container(randomUUID(), randomBytes(32).toString('hex'));

  const daemon = await startDaemon(['--probes', 'syscalls', '--syscalls-recording', 'on-demand']);
  t.teardown(() => daemon.stop());
  await daemon.waitReady(30_000);
  const prog = programId(daemon);

  t.notOk(linked(prog), 'not attached at start');
  t.same(JSON.parse((await daemon.get('/api/v1/syscalls/recording')).body), { mode: 'on-demand', recording: false });
  await runIn(cgroups, before.dir);
  t.notOk(recordedCgroups(prog).has(before.cgroupId), 'a pod\'s syscalls are not recorded while off');

  const on = await post(daemon, '/api/v1/syscalls/recording?on=true');
  t.equal(on.status, 200);
  t.same(JSON.parse(on.body), { mode: 'on-demand', recording: true });
  t.ok(linked(prog), 'attached once switched on');
  await runIn(cgroups, during.dir);
  await until('the pod\'s syscalls recorded', () => recordedCgroups(prog).has(during.cgroupId), { timeoutMs: 5000, everyMs: 100 });
  t.pass('a pod\'s syscalls are recorded while on');
  t.match((await daemon.get('/metrics')).body, /^kubepulse_syscalls_recording 1$/m);

  const off = await post(daemon, '/api/v1/syscalls/recording?on=false');
  t.same(JSON.parse(off.body), { mode: 'on-demand', recording: false });
  t.notOk(linked(prog), 'detached once switched off');
  await runIn(cgroups, after.dir);
  const recorded = recordedCgroups(prog);
  t.notOk(recorded.has(after.cgroupId), 'nothing recorded after');
  t.ok(recorded.has(during.cgroupId), 'what was recorded stays');
  t.match((await daemon.get('/metrics')).body, /^kubepulse_syscalls_recording 0$/m);

  const bad = await post(daemon, '/api/v1/syscalls/recording?on=maybe');
  t.equal(bad.status, 400, 'a bad switch is refused');
  t.equal(bad.body, '?on= must be true or false, not "maybe"\n', 'with one line saying why');
  t.equal((await post(daemon, '/api/v1/syscalls')).status, 405, 'other routes still answer GET only');
});
