// The flows probe on this machine's kernel counts pods' sockets only: the
// same loopback traffic from a kubelet-shaped pod cgroup and from a host
// cgroup, and the kernel's flows map (read with bpftool) holds the pod's
// flows and none of the host's. The pod roots are created after the daemon
// started, as a node's first pod would be:
//   - at the top of the tree: found at once (the mount is watched);
//   - nested deeper: found by the periodic rescan, and a cgroup whose
//     traffic the kernel passed over before its root was known is counted
//     once it is.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { FLOW_MAP_LAYOUT } from '../../../src/probes/flows/map.js';
import { startDaemon, type RunningDaemon } from '../../support/daemon.js';
import { needsPodCgroups, podCgroups, type PodCgroups } from '../../support/pod-cgroups.js';
import { needsBpf } from '../../support/privileges.js';
import { until } from '../../support/until.js';

const skipBpf = needsBpf().skip;
const skip = skipBpf !== false ? skipBpf : needsPodCgroups().skip;

interface KernelFlow {
  cgroupId: number;
  port: number;
  protocol: number;
}

/** The daemon's kernel map `name`, by the map ids of its flows programs. */
function mapId(daemon: RunningDaemon, name: string): number {
  const attached = daemon.logs.find((l) => l.msg === 'probe attached' && l.probe === 'flows');
  const progId = Object.values((attached?.programs ?? {}) as Record<string, number>)[0];
  if (progId === undefined) throw new Error('no flows program in the logs');
  const prog = JSON.parse(execFileSync('bpftool', ['prog', 'show', 'id', String(progId), '-j'], { encoding: 'utf8' })) as { map_ids: number[] };
  for (const id of prog.map_ids) {
    const map = JSON.parse(execFileSync('bpftool', ['map', 'show', 'id', String(id), '-j'], { encoding: 'utf8' })) as { name: string };
    if (map.name === name) return id;
  }
  throw new Error(`no map ${name} among ${prog.map_ids.join(', ')}`);
}

/** Ids of the BPF programs attached to this cgroup itself (not inherited). */
function attachedTo(cgroup: string): number[] {
  const out = execFileSync('bpftool', ['cgroup', 'show', cgroup, '-j'], { encoding: 'utf8' }).trim();
  return out ? (JSON.parse(out) as Array<{ id: number }>).map((p) => p.id) : [];
}

function dump(id: number): Array<Buffer[]> {
  const entries = JSON.parse(execFileSync('bpftool', ['map', 'dump', 'id', String(id), '-j'], { encoding: 'utf8', maxBuffer: 64 << 20 })) as Array<{ key: string[]; value: string[] }>;
  const bytes = (hex: string[]) => Buffer.from(hex.map((h) => parseInt(h, 16)));
  return entries.map((e) => [bytes(e.key), bytes(e.value)]);
}

function kernelFlows(daemon: RunningDaemon): KernelFlow[] {
  return dump(mapId(daemon, 'flows')).map(([k]) => ({
    cgroupId: Number(k!.readBigUInt64LE(FLOW_MAP_LAYOUT.key.cgroup_id)),
    port: k!.readUInt16LE(FLOW_MAP_LAYOUT.key.port),
    protocol: k!.readUInt8(FLOW_MAP_LAYOUT.key.protocol),
  }));
}

/** One TCP connect and one UDP datagram to 127.0.0.1, from a process in the cgroup from its start. */
function trafficFrom(cgroups: PodCgroups, dir: string, tcpPort: number, udpPort: number): Promise<void> {
  const script = `
    const net = require('node:net'), dgram = require('node:dgram');
    const s = net.connect(${tcpPort}, '127.0.0.1', () => {
      s.end();
      const u = dgram.createSocket('udp4');
      u.send('x', ${udpPort}, '127.0.0.1', () => u.close());
    });
    s.on('error', (e) => { console.error(e.message); process.exit(1); });`;
  return new Promise((resolve, reject) => {
    const child = cgroups.spawnIn(dir, [process.execPath, '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`traffic from ${dir} failed (${code}): ${stderr}`))));
  });
}

/** Polls every 100 ms. */
const poll = (timeoutMs: number) => ({ timeoutMs, everyMs: 100 });

t.test('the kernel counts pods\' flows only; roots created after start are found', { skip, timeout: 60_000 }, async (t) => {
  const servers: Server[] = [];
  const listen = async (): Promise<number> => {
    const s = createServer((c) => c.on('error', () => {}).end());
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    return (s.address() as { port: number }).port;
  };
  t.teardown(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));
  const udp = createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
  t.teardown(() => udp.close());
  const udpPort = udp.address().port;
  const podPort = await listen();
  const hostPort = await listen();
  const latePort = await listen();

  const daemon = await startDaemon(['--probes', 'flows']);
  t.teardown(() => daemon.stop());
  await daemon.waitReady(30_000);

  // Created after the daemon started, in one go (mkdir -p), like a first pod.
  const cgroups = podCgroups(t);
  const pod = cgroups.container(randomUUID(), randomBytes(32).toString('hex')).dir;
  const podRoot = join(cgroups.base, 'kubepods.slice');
  const host = cgroups.mkdir('system.slice', 'host-daemon.service');
  const rootFound = (path: string) => () => daemon.logs.some((l) => l.msg === 'pod root found' && l.path === path);
  await until('the new pod root registered (the mount is watched)', rootFound(podRoot), poll(5000));
  const attached = daemon.logs.find((l) => l.msg === 'probe attached' && l.probe === 'flows');
  const progIds = Object.values((attached?.programs ?? {}) as Record<string, number>);
  t.equal(progIds.length, 2, 'two flows programs');
  t.same(attachedTo(podRoot).filter((id) => progIds.includes(id)).sort(), [...progIds].sort(), 'both hang below the pod root');
  t.same(attachedTo(cgroups.mount).filter((id) => progIds.includes(id)), [], 'none on the cgroup v2 root: host packets never run them');

  await trafficFrom(cgroups, pod, podPort, udpPort);
  await trafficFrom(cgroups, host, hostPort, udpPort);
  const podId = statSync(pod).ino;
  const hostId = statSync(host).ino;
  const flows = await until('the pod\'s flows in the kernel map', () => {
    const all = kernelFlows(daemon);
    return all.some((f) => f.cgroupId === podId && f.port === podPort) && all.some((f) => f.cgroupId === podId && f.port === udpPort) && all;
  }, poll(5000));
  t.ok(flows.some((f) => f.cgroupId === podId && f.port === podPort && f.protocol === 6), 'the pod\'s TCP flow is counted');
  t.ok(flows.some((f) => f.cgroupId === podId && f.port === udpPort && f.protocol === 17), 'the pod\'s UDP flow is counted');
  t.same(flows.filter((f) => f.cgroupId === hostId), [], 'the host cgroup\'s traffic is not counted');
  t.same(flows.filter((f) => f.port === hostPort), [], 'nor the host listener\'s side of it');
  const rootId = statSync(cgroups.mount).ino;
  t.same(flows.filter((f) => f.cgroupId === rootId), [], 'nor the cgroup v2 root\'s (this test\'s own sockets)');

  // A root nested below a cgroup that already existed: no event at the top,
  // so the periodic rescan (10 s) finds it. Traffic before that is not a
  // pod's to the kernel; after it, it is.
  const late = join(cgroups.base, 'late', 'kubepods');
  const lateCtr = cgroups.mkdir('late', 'kubepods', `pod${randomUUID()}`, 'ctr');
  await trafficFrom(cgroups, lateCtr, latePort, udpPort);
  const lateId = statSync(lateCtr).ino;
  t.same(kernelFlows(daemon).filter((f) => f.cgroupId === lateId), [], 'not counted before its root is known');
  await until('the nested pod root registered by the rescan', rootFound(late), poll(15_000));
  await trafficFrom(cgroups, lateCtr, latePort, udpPort);
  await until('the late pod\'s flow counted', () => kernelFlows(daemon).some((f) => f.cgroupId === lateId && f.port === latePort), poll(5000));
  t.pass('counted once its root is known');
});
