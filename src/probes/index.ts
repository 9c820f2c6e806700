// Every probe module, in one list. Adding a probe is adding bpf/<x>.*,
// src/probes/<x>/ (with an index.ts exporting its ProbeModule) and a line
// here and in names.ts.

import type { ProbeSpec } from '../bpf/probe.js';
import type { Config } from '../config.js';
import { dnsModule } from './dns/index.js';
import { flowsModule } from './flows/index.js';
import type { ProbeModule } from './module.js';
import type { ProbeName } from './names.js';
import { syscallsModule } from './syscalls/index.js';
import { tcpModule } from './tcp/index.js';

export const PROBE_MODULES: Readonly<Record<ProbeName, ProbeModule>> = {
  tcp: tcpModule,
  dns: dnsModule,
  flows: flowsModule,
  syscalls: syscallsModule,
};

/** The modules --probes selects, in its order. */
export function selectModules(names: readonly ProbeName[]): ProbeModule[] {
  return names.map((name) => PROBE_MODULES[name]);
}

/** A kernel object to load once, and the modules that read it. */
export interface KernelObjectUse {
  spec: ProbeSpec;
  modules: ProbeModule[];
}

/** The kernel objects the modules need, each once (by name), in first-named order. */
export function kernelObjectUses(modules: readonly ProbeModule[], config: Config): KernelObjectUse[] {
  const byName = new Map<string, KernelObjectUse>();
  for (const module of modules) {
    for (const spec of module.kernelObjects(config)) {
      const use = byName.get(spec.name);
      if (!use) byName.set(spec.name, { spec, modules: [module] });
      else if (use.spec.objectFile !== spec.objectFile)
        throw new Error(`kernel object ${spec.name} is named by ${use.modules[0]?.name} (${use.spec.objectFile}) and ${module.name} (${spec.objectFile})`);
      else use.modules.push(module);
    }
  }
  return [...byName.values()];
}
