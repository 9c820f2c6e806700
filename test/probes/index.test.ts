// The probe list: every name --probes accepts has a module, and the kernel
// objects the modules need are loaded once each, whoever names them, and
// handed to every module that named them.
import t from 'tap';
import type { ProbeSpec } from '../../src/bpf/probe.js';
import { parseConfig } from '../../src/config.js';
import { kernelObjectUses, PROBE_MODULES, selectModules } from '../../src/probes/index.js';
import type { ProbeModule } from '../../src/probes/module.js';
import { PROBE_NAMES } from '../../src/probes/names.js';

const { config } = parseConfig([], {});

t.test('every probe name has its module, named the same', async (t) => {
  t.same(Object.keys(PROBE_MODULES).sort(), [...PROBE_NAMES].sort());
  for (const name of PROBE_NAMES) t.equal(PROBE_MODULES[name].name, name);
  t.same(selectModules(['flows', 'tcp']).map((m) => m.name), ['flows', 'tcp'], '--probes order');
});

t.test('dns and flows read one packets object; the others their own', async (t) => {
  const uses = kernelObjectUses(selectModules(PROBE_NAMES), config);
  t.same(uses.map((u) => [u.spec.name, u.spec.objectFile, u.modules.map((m) => m.name)]), [
    ['tcp', 'tcp.bpf.o', ['tcp']],
    ['packets', 'packets.bpf.o', ['dns', 'flows']],
    ['syscalls', 'syscalls.bpf.o', ['syscalls']],
  ]);
});

t.test('the packets object switches on the parts --probes asks for', async (t) => {
  for (const [probes, dns, flows] of [
    ['dns,flows', 1, 1],
    ['dns', 1, 0],
    ['flows,tcp', 0, 1],
  ] as const) {
    const c = parseConfig(['--probes', probes], {}).config;
    const [use] = kernelObjectUses(selectModules(c.probes), c).filter((u) => u.spec.name === 'packets');
    const consts: Record<string, number[]> = {};
    const sizes: Record<string, number> = {};
    use?.spec.configure?.({
      setConst: (name: string, value: Buffer) => void (consts[name] = [...value]),
      setMapMaxEntries: (name: string, n: number) => void (sizes[name] = n),
    } as never);
    t.same([consts.dns_on, consts.flows_on], [[dns], [flows]], probes);
    t.equal(consts.dns_ports !== undefined, dns === 1, `${probes}: DNS ports set only with DNS`);
    t.equal(sizes.events, dns ? undefined : 4096, `${probes}: without DNS the ring buffer is one page`);
  }
});

const packets: ProbeSpec = { name: 'packets', objectFile: 'packets.bpf.o', plans: [] };
const moduleReading = (name: string, ...specs: ProbeSpec[]): ProbeModule =>
  ({ name, kernelObjects: () => specs, create: () => ({}) }) as unknown as ProbeModule;

t.test('one object named by two modules is loaded once and feeds both', async (t) => {
  const dns = moduleReading('dns', packets);
  const flows = moduleReading('flows', packets, { name: 'flow-extra', objectFile: 'x.bpf.o', plans: [] });
  const uses = kernelObjectUses([dns, flows], config);
  t.same(uses.map((u) => [u.spec.name, u.modules.map((m) => m.name)]), [
    ['packets', ['dns', 'flows']],
    ['flow-extra', ['flows']],
  ]);
});

t.test('two different files under one object name is a programming error, named', async (t) => {
  const a = moduleReading('dns', packets);
  const b = moduleReading('flows', { ...packets, objectFile: 'other.bpf.o' });
  t.throws(() => kernelObjectUses([a, b], config), /kernel object packets is named by dns \(packets.bpf.o\) and flows \(other.bpf.o\)/);
});

t.test('a bad --dns-ports fails when the objects are listed, before anything is built', async (t) => {
  const many = parseConfig(['--dns-ports', '1,2,3,4,5,6,7,8'], {}).config;
  many.dnsPorts.push(9);
  t.throws(() => kernelObjectUses(selectModules(['dns']), many), /--dns-ports: at most 8 ports/);
});
