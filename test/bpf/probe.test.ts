// Which plans --attach lets each probe try (the kernel matrix then loads
// every one of them on a real kernel: test/kernels/matrix.test.ts).
//
// src/bpf/probe.ts: choosing a hook plan, with a fake addon whose objects
// record what was asked of them and fail where the test says, as the real
// addon's errors do (Error with .code).
import t from 'tap';
import { type AttachMode, type LoadContext, loadProbe, planAllowed, type ProbeSpec } from '../../src/bpf/probe.js';
import { packetsProbe } from '../../src/probes/packets.js';
import { syscallsProbe } from '../../src/probes/syscalls/probe.js';
import { tcpProbe } from '../../src/probes/tcp/probe.js';
import type { Addon, MapInfo, ProgramInfo } from '../../src/bpf/addon.js';
import type { KernelFeatures } from '../../src/bpf/kernel.js';
import { UserError } from '../../src/errors.js';

const allowed = (spec: { plans: Array<Parameters<typeof planAllowed>[0]> }, mode: AttachMode) =>
  spec.plans.filter((p) => planAllowed(p, mode)).map((p) => p.hook);

t.test('each mode narrows the plans in their order of preference', async (t) => {
  t.same(allowed(tcpProbe, 'auto'), ['kprobe/tcp_connect+kprobe/tcp_set_state', 'tp_btf/inet_sock_set_state', 'tracepoint/sock/inet_sock_set_state']);
  t.same(allowed(tcpProbe, 'kprobe'), ['kprobe/tcp_connect+kprobe/tcp_set_state']);
  t.same(allowed(tcpProbe, 'tracepoint'), ['tp_btf/inet_sock_set_state', 'tracepoint/sock/inet_sock_set_state']);
  t.same(allowed(tcpProbe, 'classic'), ['tracepoint/sock/inet_sock_set_state']);
  t.same(allowed(syscallsProbe(), 'tracepoint'), ['tp_btf/sys_enter', 'raw_tracepoint/sys_enter']);
  t.same(allowed(syscallsProbe(), 'classic'), ['raw_tracepoint/sys_enter']);
  t.same(allowed(packetsProbe({ probes: ['dns', 'flows'], dnsPorts: [53] }), 'classic'), ['cgroup_skb/egress+cgroup_skb/ingress'], 'cgroup hooks serve every mode');
});

interface FakeObject {
  path: string;
  autoload: Map<string, boolean>;
  maxEntries: Map<string, number>;
  attached: Array<[string, string | undefined]>;
  loaded: boolean;
  closed: boolean;
}

function errno(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

function fakeAddon(programs: string[], failAttach: Record<string, Error> = {}, maps = ['events', 'dropped']) {
  const objects: FakeObject[] = [];
  class BpfObject {
    readonly state: FakeObject;
    constructor(path: string) {
      this.state = { path, autoload: new Map(), maxEntries: new Map(), attached: [], loaded: false, closed: false };
      objects.push(this.state);
    }
    programs(): ProgramInfo[] {
      return programs.map((name) => ({ name, section: `sec/${name}`, autoload: true }));
    }
    maps(): MapInfo[] {
      return maps.map((name) => ({ name, type: 0, maxEntries: 1, keySize: 4, valueSize: 8 }));
    }
    setAutoload(p: string, on: boolean) {
      this.state.autoload.set(p, on);
    }
    setMapMaxEntries(m: string, n: number) {
      this.state.maxEntries.set(m, n);
    }
    load() {
      this.state.loaded = true;
    }
    attach(p: string, o?: { cgroup?: string }) {
      const err = failAttach[p];
      if (err) throw err;
      this.state.attached.push([p, o?.cgroup]);
    }
    programIds() {
      return {};
    }
    close() {
      this.state.closed = true;
    }
  }
  return { addon: { BpfObject } as unknown as Addon, objects };
}

const KERNEL: KernelFeatures = {
  release: '6.1.0',
  btf: true,
  kprobes: false,
  tracefs: '/sys/kernel/tracing',
  cgroup2: '/sys/fs/cgroup',
  capabilities: { bpf: true, perfmon: true, netAdmin: true, sysAdmin: false, sysResource: false },
  memlockBytes: Infinity,
};

const SPEC: ProbeSpec = {
  name: 'tcp',
  objectFile: 'tcp.bpf.o',
  plans: [
    { hook: 'kprobe/tcp_connect', mode: 'kprobe', programs: [{ name: 'kp_connect' }], unavailable: (k) => (k.kprobes ? undefined : 'needs CONFIG_KPROBES') },
    { hook: 'tp_btf/inet_sock_set_state', mode: 'tracepoint', programs: [{ name: 'btf_state' }], unavailable: () => undefined },
    { hook: 'tracepoint/sock/inet_sock_set_state', mode: 'tracepoint', programs: [{ name: 'tp_state' }], unavailable: () => undefined },
  ],
};

function context(addon: Addon, attach: AttachMode = 'auto', kernel = KERNEL) {
  const logs: Array<[string, string, Record<string, unknown> | undefined]> = [];
  const rec = (level: string) => (msg: string, fields?: Record<string, unknown>) => void logs.push([level, msg, fields]);
  const ctx: LoadContext = { addon, kernel, attach, bpfObjectDir: '/objects', ringBufferBytes: 1 << 20, log: { debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error') } };
  return { ctx, logs };
}

t.test('auto: an unavailable plan is skipped; only the chosen plan\'s programs load', async (t) => {
  const { addon, objects } = fakeAddon(['kp_connect', 'btf_state', 'tp_state']);
  const { ctx } = context(addon);
  const probe = loadProbe(SPEC, ctx);
  t.match(probe, { name: 'tcp', hook: 'tp_btf/inet_sock_set_state', streams: true });
  t.equal(objects.length, 1, 'no object opened for the unavailable kprobe plan');
  t.equal(objects[0]!.path, '/objects/tcp.bpf.o');
  t.same([...objects[0]!.autoload], [['kp_connect', false], ['btf_state', true], ['tp_state', false]]);
  t.same([...objects[0]!.maxEntries], [['events', 1 << 20]], 'the ring buffer takes --ring-buffer-bytes');
  t.same(objects[0]!.attached, [['btf_state', undefined]]);
});

t.test('without --ring-buffer-bytes each probe has a ring of its own size', async (t) => {
  const { addon, objects } = fakeAddon(['kp_connect', 'btf_state', 'tp_state']);
  const { ctx } = context(addon);
  loadProbe({ ...SPEC, ringBufferBytes: 1 << 19 }, { ...ctx, ringBufferBytes: undefined });
  t.same([...objects[0]!.maxEntries], [['events', 1 << 19]]);
  loadProbe({ ...SPEC, ringBufferBytes: 1 << 19 }, ctx);
  t.same([...objects[1]!.maxEntries], [['events', 1 << 20]], 'the flag wins');
});

t.test('the probes\' own rings: a power of two that takes their rate', async (t) => {
  for (const spec of [tcpProbe, packetsProbe({ probes: ['dns'], dnsPorts: [53] })]) {
    const bytes = spec.ringBufferBytes!;
    t.ok(bytes >= 4096 && (bytes & (bytes - 1)) === 0, `${spec.name}: ${bytes}`);
  }
  t.equal(tcpProbe.ringBufferBytes, 1024 * 1024, 'tcp: 200k records/s of 72 bytes, four 10 ms drain steps');
  t.equal(packetsProbe({ probes: ['dns'], dnsPorts: [53] }).ringBufferBytes, 2 * 1024 * 1024, 'dns: 340k messages/s of 136 bytes');
});

t.test('a plan the kernel refuses at attach falls back to the next, closing the first object', async (t) => {
  const { addon, objects } = fakeAddon(['kp_connect', 'btf_state', 'tp_state'], { btf_state: errno('cannot attach btf_state: No such file or directory', 'ENOENT') });
  const { ctx, logs } = context(addon);
  const probe = loadProbe(SPEC, ctx);
  t.equal(probe.hook, 'tracepoint/sock/inet_sock_set_state');
  t.same(objects.map((o) => o.closed), [true, false]);
  const warn = logs.find(([level]) => level === 'warn');
  t.match(warn?.[2], { probe: 'tcp', hook: 'tp_btf/inet_sock_set_state', error: 'cannot attach btf_state: No such file or directory' });
});

t.test('EPERM is not a reason to try another plan: one line naming the capabilities', async (t) => {
  const { addon, objects } = fakeAddon(['kp_connect', 'btf_state', 'tp_state'], { btf_state: errno('cannot attach btf_state: Operation not permitted', 'EPERM') });
  const { ctx } = context(addon);
  t.throws(() => loadProbe(SPEC, ctx), new UserError('cannot load the tcp probe: cannot attach btf_state: Operation not permitted (needs CAP_BPF and CAP_PERFMON (CAP_NET_ADMIN for cgroup hooks), or root)'));
  t.equal(objects.length, 1, 'no second plan tried');
  t.equal(objects[0]!.closed, true);
});

t.test('--attach narrows the plans, and says what each lacked', async (t) => {
  const { addon } = fakeAddon(['kp_connect', 'btf_state', 'tp_state']);
  t.throws(() => loadProbe(SPEC, context(addon, 'kprobe').ctx), new UserError('cannot attach the tcp probe with --attach=kprobe: kprobe/tcp_connect needs CONFIG_KPROBES'));
  t.equal(loadProbe(SPEC, context(addon, 'kprobe', { ...KERNEL, kprobes: true }).ctx).hook, 'kprobe/tcp_connect');
  t.equal(loadProbe(SPEC, context(addon, 'tracepoint', { ...KERNEL, kprobes: true }).ctx).hook, 'tp_btf/inet_sock_set_state', 'kprobes present but not asked for');
  const cgroupOnly: ProbeSpec = { name: 'dns', objectFile: 'dns.bpf.o', plans: [{ hook: 'cgroup_skb', mode: 'any', programs: [{ name: 'egress', cgroup: true }], unavailable: () => undefined }] };
  t.equal(loadProbe(cgroupOnly, context(fakeAddon(['egress']).addon, 'kprobe').ctx).hook, 'cgroup_skb', '"any" plans serve every mode');
  t.throws(() => loadProbe({ ...SPEC, plans: SPEC.plans.slice(1) }, context(addon, 'kprobe').ctx), new UserError('the tcp probe has no kprobe hooks'));
});

t.test('every plan failing gives one line with each reason; cgroup hooks need a cgroup v2 mount', async (t) => {
  const spec: ProbeSpec = {
    name: 'flows',
    objectFile: 'flows.bpf.o',
    plans: [{ hook: 'cgroup_skb/egress', mode: 'any', programs: [{ name: 'egress', cgroup: true }], unavailable: () => undefined }],
  };
  const { addon, objects } = fakeAddon(['egress'], {}, ['flows']);
  t.throws(() => loadProbe(spec, context(addon, 'auto', { ...KERNEL, cgroup2: undefined }).ctx), new UserError('cannot attach the flows probe: cgroup_skb/egress: no cgroup v2 mount (needs cgroup2 mounted, e.g. at /sys/fs/cgroup)'));
  t.equal(objects[0]!.closed, true);
  const ok = loadProbe(spec, context(addon).ctx);
  t.equal(ok.streams, false, 'no events ring buffer: a map-only probe');
  t.same(objects[1]!.attached, [['egress', '/sys/fs/cgroup']], 'attached to the cgroup v2 root');
  t.same([...objects[1]!.maxEntries], [], 'no ring buffer to size');
});
