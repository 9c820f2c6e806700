// The kernel's record of cgroup births (bpf/cgroups.bpf.c) on this machine's
// real kernel and cgroup v2: a cgroup made after load is found by its id,
// with its path, also after it has been removed; the decoder is held to the
// C layout.
import t from 'tap';
import { mkdirSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadAddon } from '../../src/bpf/addon.js';
import { detectKernel } from '../../src/bpf/kernel.js';
import { loadContext, loadProbe } from '../../src/bpf/probe.js';
import { CGROUP_BIRTH_SIZE, cgroupBirthsSpec, decodeBirth, KernelCgroupBirths } from '../../src/metadata/cgroup-births.js';
import { parseCgroupPath } from '../../src/metadata/cgroup-path.js';
import { cgroup2Mount, needsPodCgroups } from '../support/pod-cgroups.js';
import { needsBpf } from '../support/privileges.js';
import { ROOT } from '../support/daemon.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

t.test('decodeBirth', async (t) => {
  const value = Buffer.alloc(CGROUP_BIRTH_SIZE);
  value.writeUInt32LE(4, 0);
  value.write('/a/b', 8);
  t.equal(decodeBirth(value), '/a/b');
  value.writeUInt32LE(1, 4);
  t.equal(decodeBirth(value), null, 'a path the kernel cut short is not trusted');
  t.throws(() => decodeBirth(Buffer.alloc(16)), RangeError);
});

const bpf = needsBpf();
const skip = bpf.skip !== false ? bpf : needsPodCgroups();

t.test('a cgroup made after load resolves by id, also once removed', skip, async (t) => {
  const mount = cgroup2Mount()!;
  const kernel = detectKernel({ procfs: '/proc', sysfs: '/sys', cgroupfs: mount });
  const ctx = loadContext({ attach: 'auto', bpfObjectDir: join(ROOT, 'build', 'bpf'), ringBufferBytes: 1 << 16 }, kernel, loadAddon(), silent);
  const probe = loadProbe(cgroupBirthsSpec, ctx);
  t.teardown(() => probe.object.close());
  t.equal(probe.hook, 'tp_btf/cgroup_mkdir', 'attached by BTF where the kernel has it');
  const births = new KernelCgroupBirths(probe.object);

  const base = `/kubepulse-births-${randomBytes(4).toString('hex')}`;
  const uid = '0b6c1c38-8d6a-4b5e-9a55-3f1f6a2e9c11';
  const container = 'a'.repeat(64);
  const relative = `${base}/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uid.replaceAll('-', '_')}.slice/cri-containerd-${container}.scope`;
  mkdirSync(join(mount, relative), { recursive: true });
  const id = statSync(join(mount, relative)).ino;
  const dirs = relative.split('/').slice(1).map((_, i, all) => join(mount, '/' + all.slice(0, i + 1).join('/')));
  t.teardown(() => {
    for (const d of dirs.reverse()) {
      try {
        rmdirSync(d);
      } catch {
        // removed already
      }
    }
  });

  t.equal(births.pathOf(id), relative, 'the path, relative to the cgroup v2 root');
  t.same(parseCgroupPath(births.pathOf(id)!), { containerId: container, podUid: uid, runtime: 'containerd', qos: 'besteffort' });
  rmdirSync(join(mount, relative));
  t.equal(births.pathOf(id), relative, 'still known after the directory is gone');
  t.equal(births.pathOf(statSync(mount).ino), undefined, 'a cgroup made before load is not recorded');

  // The fallback for kernels without BTF tracing: the raw tracepoint.
  const raw = loadProbe({ ...cgroupBirthsSpec, plans: [cgroupBirthsSpec.plans[1]!] }, ctx);
  t.teardown(() => raw.object.close());
  t.equal(raw.hook, 'raw_tp/cgroup_mkdir');
  const other = join(mount, base, 'other');
  mkdirSync(other);
  dirs.push(other);
  t.equal(new KernelCgroupBirths(raw.object).pathOf(statSync(other).ino), `${base}/other`, 'records births the same way');
});
