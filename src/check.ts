// `kubepulse check`: the pre-flight a user runs before deploying (and CI
// runs on a real kernel): report what the kernel offers, load and attach
// every kernel object the selected probe modules need, as the daemon would,
// print the plan, detach, exit 0 or 1.

import { loadAddon, type Addon } from './bpf/addon.js';
import { detectKernel, preflight, probeBpf } from './bpf/kernel.js';
import { loadContext, loadProbe } from './bpf/probe.js';
import type { Config } from './config.js';
import { describeBpfError } from './errors.js';
import type { Logger } from './log.js';
import { kernelObjectUses, selectModules } from './probes/index.js';

const yesNo = (b: boolean): string => (b ? 'yes' : 'no');

export function runCheck(config: Config, log: Logger, out: (line: string) => void, addon: Addon = loadAddon()): number {
  const kernel = detectKernel(config);
  out(`kernel          ${kernel.release}`);
  out(`libbpf          ${addon.libbpfVersion()} (linked into the addon)`);
  out(`BTF             ${yesNo(kernel.btf)}`);
  out(`kprobes         ${yesNo(kernel.kprobes)}`);
  out(`tracefs         ${kernel.tracefs ?? 'not mounted'}`);
  out(`cgroup v2       ${kernel.cgroup2 ?? 'not mounted'}`);
  const caps = kernel.capabilities;
  out(`capabilities    CAP_BPF=${yesNo(caps.bpf)} CAP_PERFMON=${yesNo(caps.perfmon)} CAP_NET_ADMIN=${yesNo(caps.netAdmin)} CAP_SYS_ADMIN=${yesNo(caps.sysAdmin)}`);
  try {
    preflight(kernel);
    const bpf = probeBpf(addon);
    out(`ring buffer     ${yesNo(bpf.ringbuf)}`);
    if (!bpf.ringbuf) {
      out('FAIL: the kernel has no BPF ring buffer (needs Linux 5.8 or later)');
      return 1;
    }
  } catch (err) {
    out(`FAIL: ${describeBpfError(err)}`);
    return 1;
  }
  let failures = 0;
  const ctx = loadContext(config, kernel, addon, log);
  for (const { spec } of kernelObjectUses(selectModules(config.probes), config)) {
    try {
      const probe = loadProbe(spec, ctx);
      out(`probe ${spec.name.padEnd(9)} ok    ${probe.hook}`);
      probe.object.close();
    } catch (err) {
      failures++;
      out(`probe ${spec.name.padEnd(9)} FAIL  ${describeBpfError(err)}`);
    }
  }
  out(failures === 0 ? 'OK: every probe loads and attaches' : `FAIL: ${failures} probe(s) cannot attach`);
  return failures === 0 ? 0 : 1;
}
