#!/usr/bin/env node
// BPF programs of two builds side by side on the same hits: each probe's programs from the
// before objects and from the after objects are attached at the same time, to the same hooks,
// so every TCP state change, packet and syscall runs both, under the same load and the same
// neighbours. Their run_time_ns / run_cnt (kernel.bpf_stats_enabled) are then comparable even
// on a busy shared machine, where separate runs are not.
//
//   node bench/program-ab.mjs --before DIR [--after build/bpf] [--seconds 3] [--rate 10000] [--bin bench/results/bin]
//
// Load: bench/results/bin/tcp-storm on loopback (connect/accept/close) from the host and from
// inside a pod-shaped cgroup, UDP DNS queries (dns-load against its own --serve responder on
// --dns-port, registered as the DNS port in both builds' objects) from the host and from the
// pod, then bench/results/bin/syscall-loop outside any pod and inside the pod cgroup (the pod
// root is registered in every object with a pod_roots map). The packets object (DNS and flows
// in one program per direction) is compared with the dns and flows objects of older builds:
// each build attaches the files it has. Prints one JSON object; needs root and `make build`
// (and the generators, built by bench/run.mjs).
import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { bpfDelta, bpfPrograms } from './lib/proc.mjs';
import { cgroup2Mount, podShapedCgroup } from './lib/syscall-bench.mjs';

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(BENCH, '..');
const { values: opt } = parseArgs({
  options: {
    before: { type: 'string' },
    after: { type: 'string', default: join(ROOT, 'build', 'bpf') },
    seconds: { type: 'string', default: '3' },
    rate: { type: 'string', default: '10000' },
    calls: { type: 'string', default: '1000000' },
    'dns-port': { type: 'string', default: '15353' },
    // Programs on one hook run in attach order, and the second finds the cache warm (about
    // 10–15 % fewer ns per hit here for identical programs): run once each way and average.
    first: { type: 'string', default: 'before' },
    bin: { type: 'string', default: join(BENCH, 'results', 'bin') },
  },
});
if (!opt.before) {
  process.stderr.write('program-ab: --before DIR (the BPF objects of the build to compare with)\n');
  process.exit(2);
}
const addon = createRequire(import.meta.url)(join(ROOT, 'build', 'Release', 'kubepulse.node'));
const BIN = resolve(opt.bin);
for (const b of ['tcp-storm', 'syscall-loop', 'dns-load'])
  if (!existsSync(join(BIN, b))) {
    process.stderr.write(`program-ab: ${join(BIN, b)} missing (bench/run.mjs builds it)\n`);
    process.exit(2);
  }

const mount = cgroup2Mount();
const pod = podShapedCgroup(mount);
const podRoot = dirname(dirname(dirname(pod.dir))); // …/kubepods.slice
const rootLevel = podRoot.slice(mount.length).split('/').filter(Boolean).length;
const rootId = statSync(podRoot).ino;

// Which programs of each object to attach, by build: the tp_btf TCP programs (the after build
// has two: socket storage and hash), the syscall tracepoint, the cgroup_skb programs.
const PROGRAMS = {
  'tcp.bpf.o': ['kp_tcp_state_sk', 'kp_tcp_state_btf'],
  'syscalls.bpf.o': ['kp_sys_enter_btf'],
  'dns.bpf.o': ['kp_dns_egress', 'kp_dns_ingress'],
  'flows.bpf.o': ['kp_flows_egress', 'kp_flows_ingress'],
  'packets.bpf.o': ['kp_packets_egress', 'kp_packets_ingress'],
};
const CGROUP = new Set(['kp_dns_egress', 'kp_dns_ingress', 'kp_flows_egress', 'kp_flows_ingress', 'kp_packets_egress', 'kp_packets_ingress']);
const DNS_PORT = Number(opt['dns-port']);

function registerRoot(object) {
  const maps = new Set(object.maps().map((m) => m.name));
  if (maps.has('pod_roots')) {
    const v = Buffer.alloc(96);
    v.writeBigUInt64LE(BigInt(rootId), 0);
    v.writeUInt32LE(rootLevel, 64);
    object.mapUpdate('pod_roots', Buffer.alloc(4), v);
  } else if (maps.has('watched_roots')) {
    const k = Buffer.alloc(8);
    k.writeBigUInt64LE(BigInt(rootId));
    const v = Buffer.alloc(4);
    v.writeUInt32LE(rootLevel);
    object.mapUpdate('watched_roots', k, v);
  }
}

const loaded = [];
const ids = new Map(); // prog id → "build program"
const builds = [['before', resolve(opt.before)], ['after', resolve(opt.after)]];
if (opt.first === 'after') builds.reverse();
else if (opt.first !== 'before') {
  process.stderr.write('program-ab: --first before|after\n');
  process.exit(2);
}
for (const [build, dir] of builds) {
  for (const [file, wanted] of Object.entries(PROGRAMS)) {
    if (!existsSync(join(dir, file))) continue;
    const object = new addon.BpfObject(join(dir, file));
    const present = new Set(object.programs().map((p) => p.name));
    const mine = wanted.filter((p) => present.has(p));
    for (const p of object.programs()) object.setAutoload(p.name, mine.includes(p.name));
    if (file === 'dns.bpf.o' || file === 'packets.bpf.o') {
      const ports = Buffer.alloc(16);
      ports.writeUInt16LE(DNS_PORT, 0);
      object.setConst('dns_ports', ports);
    }
    object.load();
    for (const p of mine) object.attach(p, CGROUP.has(p) ? { cgroup: mount } : undefined);
    registerRoot(object);
    for (const [name, id] of Object.entries(object.programIds())) ids.set(id, `${build} ${name}`);
    loaded.push(object);
  }
}
// The rings must be read, or a full ring makes the programs cheaper (reserve fails).
const rings = loaded.filter((o) => o.maps().some((m) => m.name === 'events'));
const poller = new addon.EventPoller(rings.map((o) => [o, 'events']), () => {}, { flushIntervalMs: 100 });
poller.start();

const stats = '/proc/sys/kernel/bpf_stats_enabled';
const oldStats = readFileSync(stats, 'utf8').trim();
writeFileSync(stats, '1');
const out = { rootLevel, first: opt.first, phases: {} };
try {
  const measure = (name, cmd, args) => {
    const before = bpfPrograms(process.pid);
    const res = JSON.parse(execFileSync(cmd, args, { encoding: 'utf8' }).trim().split('\n').pop());
    const delta = bpfDelta(before, bpfPrograms(process.pid), ids);
    out.phases[name] = {
      workload: res,
      programs: delta.filter((p) => p.runCnt > 0).map((p) => ({ name: p.name.replace(/ \w+$/, ''), nsPerHit: +p.nsPerHit.toFixed(1), hits: p.runCnt })),
    };
  };
  const inPod = (bin, args) => ['sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', pod.dir, bin, ...args]];
  const tcpArgs = ['--rate', opt.rate, '--duration', opt.seconds, '--threads', '2', '--label', 'ab'];
  const dnsArgs = ['--port', String(DNS_PORT), '--rate', opt.rate, '--duration', opt.seconds, '--grace', '0.3'];
  measure('tcp', join(BIN, 'tcp-storm'), tcpArgs);
  measure('tcp in a pod', ...inPod(join(BIN, 'tcp-storm'), tcpArgs));
  const responder = spawn(join(BIN, 'dns-load'), ['--serve', '1', '--port', String(DNS_PORT), '--duration', String(4 * Number(opt.seconds) + 10)], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 300));
    measure('dns', join(BIN, 'dns-load'), dnsArgs);
    measure('dns in a pod', ...inPod(join(BIN, 'dns-load'), dnsArgs));
  } finally {
    responder.kill();
  }
  measure('syscalls outside any pod', join(BIN, 'syscall-loop'), ['--calls', opt.calls, '--rounds', '3']);
  measure('syscalls in a pod', join(BIN, 'syscall-loop'), ['--calls', opt.calls, '--rounds', '3', '--cgroup', pod.dir]);
} finally {
  writeFileSync(stats, oldStats);
  poller.stop();
  for (const o of loaded) o.close();
  pod.remove();
}
process.stdout.write(JSON.stringify(out, null, 1) + '\n');
