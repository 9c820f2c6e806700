import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chargesMemlock, detectKernel, parseCapabilities, parseMemlock, preflight, type KernelFeatures } from '../../src/bpf/kernel.js';

t.test('capabilities from CapEff', async (t) => {
  t.same(parseCapabilities('Name:\tx\nCapEff:\t000001ffffffffff\n'), { bpf: true, perfmon: true, netAdmin: true, sysAdmin: true, sysResource: true });
  // CAP_BPF (39) + CAP_PERFMON (38) + CAP_NET_ADMIN (12) only.
  t.same(parseCapabilities('CapEff:\t000000c000001000\n'), { bpf: true, perfmon: true, netAdmin: true, sysAdmin: false, sysResource: false });
  t.same(parseCapabilities('CapEff:\t0000000000000000\n'), { bpf: false, perfmon: false, netAdmin: false, sysAdmin: false, sysResource: false });
  // CAP_SYS_ADMIN alone stands in for CAP_BPF/CAP_PERFMON on kernels before 5.8.
  t.same(parseCapabilities('CapEff:\t0000000000200000\n'), { bpf: true, perfmon: true, netAdmin: false, sysAdmin: true, sysResource: false });
  // CAP_SYS_RESOURCE (24) alone.
  t.same(parseCapabilities('CapEff:\t0000000001000000\n').sysResource, true);
});

t.test('RLIMIT_MEMLOCK and the kernels that charge maps to it', async (t) => {
  t.equal(parseMemlock('Max locked memory         8388608              8388608              bytes     \n'), 8388608);
  t.equal(parseMemlock('Max locked memory         unlimited            unlimited            bytes     \n'), Infinity);
  t.equal(parseMemlock(''), Infinity, 'unreadable: nothing to refuse on');
  t.same(['4.19.0', '5.4.0-150-generic', '5.10.0-30-amd64', '5.11.0', '6.1.0-18-amd64', 'junk'].map(chargesMemlock), [true, true, true, false, false, false]);
});

t.test('a fixture tree of /proc and /sys', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'kp-kernel-'));
  const proc = join(root, 'proc');
  const sys = join(root, 'sys');
  mkdirSync(join(proc, 'self'), { recursive: true });
  mkdirSync(join(proc, 'sys', 'kernel'), { recursive: true });
  mkdirSync(join(sys, 'kernel', 'btf'), { recursive: true });
  mkdirSync(join(sys, 'bus', 'event_source', 'devices', 'kprobe'), { recursive: true });
  writeFileSync(join(proc, 'self', 'mounts'), 'cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n');
  writeFileSync(join(proc, 'self', 'status'), 'CapEff:\t000000c000001000\n');
  writeFileSync(join(proc, 'sys', 'kernel', 'osrelease'), '6.1.0-test\n');
  writeFileSync(join(sys, 'kernel', 'btf', 'vmlinux'), '');
  writeFileSync(join(sys, 'bus', 'event_source', 'devices', 'kprobe', 'type'), '6\n');
  const k = detectKernel({ procfs: proc, sysfs: sys });
  t.equal(k.release, '6.1.0-test');
  t.equal(k.btf, true);
  t.equal(k.kprobes, true);
  t.equal(k.cgroup2, '/sys/fs/cgroup');
  t.equal(k.tracefs, undefined);
  t.equal(k.capabilities.bpf, true);
  t.equal(k.capabilities.sysAdmin, false);
  // An explicit --path.cgroupfs wins.
  t.equal(detectKernel({ procfs: proc, sysfs: sys, cgroupfs: '/elsewhere' }).cgroup2, '/elsewhere');
  // ...and on a hybrid host, where it names the tmpfs of v1 hierarchies, the cgroup2 below it.
  writeFileSync(join(proc, 'self', 'mounts'), 'tmpfs /host/cg tmpfs ro 0 0\ncgroup2 /host/cg/unified cgroup2 ro 0 0\n');
  t.equal(detectKernel({ procfs: proc, sysfs: sys, cgroupfs: '/host/cg' }).cgroup2, '/host/cg/unified');
});

t.test('this machine: what uname, findmnt and the BTF file say', async (t) => {
  const k = detectKernel({ procfs: '/proc', sysfs: '/sys' });
  t.equal(k.release, execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim());
  const cgroup2 = spawnSync('findmnt', ['-n', '-t', 'cgroup2', '-o', 'TARGET'], { encoding: 'utf8' });
  t.equal(k.cgroup2, cgroup2.status === 0 ? cgroup2.stdout.split('\n')[0] : undefined, 'the first cgroup2 mount');
  t.equal(k.btf, existsSync('/sys/kernel/btf/vmlinux'));
  if (process.getuid?.() === 0) t.ok(k.capabilities.bpf && k.capabilities.perfmon, 'root has CAP_BPF and CAP_PERFMON');
});

const kernel = (over: Partial<KernelFeatures>, caps: Partial<KernelFeatures['capabilities']> = {}): KernelFeatures => ({
  release: '6.1.0',
  btf: true,
  kprobes: false,
  tracefs: undefined,
  cgroup2: '/sys/fs/cgroup',
  capabilities: { bpf: true, perfmon: true, netAdmin: true, sysAdmin: false, sysResource: false, ...caps },
  memlockBytes: 8 << 20,
  ...over,
});

t.test('preflight names what is missing, one line', async (t) => {
  t.doesNotThrow(() => preflight(kernel({})));
  t.throws(() => preflight(kernel({}, { bpf: false, perfmon: false })), { message: 'cannot load BPF: operation not permitted (needs CAP_BPF and CAP_PERFMON, or root)' });
  t.throws(() => preflight(kernel({}, { bpf: false })), { message: 'cannot load BPF: operation not permitted (needs CAP_BPF, or root)' });
  t.throws(() => preflight(kernel({}, { perfmon: false })), { message: 'cannot load BPF: operation not permitted (needs CAP_PERFMON, or root)' });
  // Before 5.11 the maps count against RLIMIT_MEMLOCK, which only CAP_SYS_RESOURCE may raise.
  t.throws(() => preflight(kernel({ release: '5.10.0-30-amd64' })), {
    message: 'cannot load BPF: kernel 5.10.0-30-amd64 charges BPF maps to RLIMIT_MEMLOCK (8388608 bytes here) and raising it needs CAP_SYS_RESOURCE (kernels before 5.11; or a memlock ulimit of unlimited)',
  });
  t.doesNotThrow(() => preflight(kernel({ release: '5.10.0-30-amd64' }, { sysResource: true })));
  t.doesNotThrow(() => preflight(kernel({ release: '5.10.0-30-amd64', memlockBytes: Infinity })), 'an unlimited memlock needs no raising');
  t.doesNotThrow(() => preflight(kernel({ release: '5.11.0' })), 'from 5.11 the memory cgroup is charged instead');
  t.throws(() => preflight(kernel({ btf: false })), { message: /no BTF at \/sys\/kernel\/btf\/vmlinux \(needs CONFIG_DEBUG_INFO_BTF\)/ });
});
