#!/usr/bin/env node
// The cost of a new cgroup's first event (issue 18), on the real kernel: the
// births program (bpf/cgroups.bpf.c) is attached, N kubelet-shaped container
// cgroups are made and removed again (the worst case: gone before their first
// event is decoded), and the daemon's resolver (from dist/) resolves each one's
// first event, then a later one (a known cgroup: the per-event cost, which the
// births record must leave alone). For comparison, what the old way costs:
// a rescan of the kubepods tree holding the same N cgroups.
//
//   node bench/new-cgroup.mjs [--cgroups 500]      (root; after `make build`)
// Prints one JSON object.
import { mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => pathToFileURL(join(ROOT, 'dist', p)).href;
const { values: opt } = parseArgs({ options: { cgroups: { type: 'string', default: '500' } } });
const N = Math.min(5000, Math.max(10, Number(opt.cgroups)));

const { loadAddon } = await import(dist('src/bpf/addon.js'));
const { detectKernel } = await import(dist('src/bpf/kernel.js'));
const { loadContext, loadProbe } = await import(dist('src/bpf/probe.js'));
const { cgroupBirthsSpec, KernelCgroupBirths } = await import(dist('src/metadata/cgroup-births.js'));
const { CgroupIndex } = await import(dist('src/metadata/cgroup-index.js'));
const { findCgroup2Mount } = await import(dist('src/cgroup/mounts.js'));
const { IdentityCache } = await import(dist('src/metadata/identity-cache.js'));
const { PodIndex } = await import(dist('src/metadata/pod-index.js'));
const { PodResolver } = await import(dist('src/metadata/pod-resolver.js'));

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const mount = findCgroup2Mount('/proc');
if (mount === undefined) throw new Error('no cgroup2 mount in /proc/mounts');
const kernel = detectKernel({ procfs: '/proc', sysfs: '/sys', cgroupfs: mount });
const ctx = loadContext({ attach: 'auto', bpfObjectDir: join(ROOT, 'build', 'bpf'), ringBufferBytes: 1 << 16 }, kernel, loadAddon(), silent);
const probe = loadProbe(cgroupBirthsSpec, ctx);

const base = `/kubepulse-bench-${randomBytes(4).toString('hex')}`;
const pods = new PodIndex();
const made = []; // { id, dir }
try {
  for (let i = 0; i < N; i++) {
    const uid = randomUUID();
    const containerId = (randomUUID() + randomUUID()).replaceAll('-', '');
    pods.upsert({
      metadata: { name: `job-${i}`, namespace: 'bench', uid, resourceVersion: '1', ownerReferences: [{ kind: 'Job', name: 'bench', controller: true, apiVersion: 'batch/v1', uid: randomUUID() }] },
      spec: { nodeName: 'bench', containers: [{ name: 'main' }] },
      status: { containerStatuses: [] },
    });
    const podDir = `${base}/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uid.replaceAll('-', '_')}.slice`;
    const dir = join(mount, podDir, `cri-containerd-${containerId}.scope`);
    mkdirSync(dir, { recursive: true });
    made.push({ id: statSync(dir).ino, dir });
  }

  // The old way, for comparison: one rescan of the kubepods tree (N containers, N pods).
  const scanIndex = new CgroupIndex({ procfs: '/proc', cgroupfs: join(mount, base), log: silent, rescanIntervalMs: 0 });
  const r0 = performance.now();
  scanIndex.rescan();
  const rescanMs = performance.now() - r0;

  for (const m of made) rmdirSync(m.dir); // gone before their first event

  const cgroups = new CgroupIndex({ procfs: '/proc', cgroupfs: mount, log: silent });
  const births = new KernelCgroupBirths(probe.object);
  cgroups.useBirths(births);
  const cache = new IdentityCache({ max: 65536, ttlMs: 60000 });
  const resolver = new PodResolver({ procfs: '/proc', cgroups, pods, cache, log: silent });

  const first = [];
  let attributed = 0;
  for (const m of made) {
    const t0 = process.hrtime.bigint();
    const id = resolver.resolve(0, m.id);
    first.push(Number(process.hrtime.bigint() - t0));
    if (id.pod !== '') attributed++;
  }
  const lookupsAfterFirst = births.lookups;
  // Known cgroups: the per-event path, many times over.
  const ROUNDS = 200;
  const h0 = process.hrtime.bigint();
  let sink = 0;
  for (let r = 0; r < ROUNDS; r++) for (const m of made) sink += resolver.resolve(0, m.id).pod.length;
  const hitNs = Number(process.hrtime.bigint() - h0) / (ROUNDS * made.length);

  // The births lookup alone (the bpf() syscall and decode).
  const lookups = made.map((m) => {
    const l0 = process.hrtime.bigint();
    births.pathOf(m.id);
    return Number(process.hrtime.bigint() - l0);
  });
  lookups.sort((a, b) => a - b);
  const lookupUs = lookups[lookups.length >> 1] / 1000;

  first.sort((a, b) => a - b);
  const q = (p) => first[Math.min(first.length - 1, Math.floor(first.length * p))] / 1000;
  process.stdout.write(
    JSON.stringify({
      cgroups: N,
      hook: probe.hook,
      attributed,
      firstEventUs: { median: q(0.5), p90: q(0.9), max: q(1) },
      birthsLookupMedianUs: lookupUs,
      knownCgroupNsPerEvent: hitNs,
      birthsLookupsForKnown: births.lookups - lookupsAfterFirst - made.length,
      oldWayRescanMs: rescanMs,
      sink: sink > 0,
    }) + '\n',
  );
} finally {
  probe.object.close();
  removeTree(join(mount, base));
}

/** Removes a directory tree of empty cgroups, deepest first. */
function removeTree(dir) {
  let names = [];
  try {
    names = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return;
  }
  for (const name of names) removeTree(join(dir, name));
  try {
    rmdirSync(dir);
  } catch {
    /* gone */
  }
}
