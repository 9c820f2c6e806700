// How the syscalls probe attaches: a BTF tracepoint on sys_enter, else the
// raw tracepoint (no BTF needed for the attach itself). No kprobe plan:
// every syscall already passes this tracepoint.

import type { ProbeSpec } from '../../bpf/probe.js';

export function syscallsProbe(): ProbeSpec {
  return {
    name: 'syscalls',
    objectFile: 'syscalls.bpf.o',
    plans: [
      {
        hook: 'tp_btf/sys_enter',
        mode: 'any',
        programs: [{ name: 'kp_sys_enter_btf' }],
        unavailable: (k) => (k.btf ? undefined : 'needs kernel BTF (CONFIG_DEBUG_INFO_BTF)'),
      },
      {
        hook: 'raw_tracepoint/sys_enter',
        mode: 'any',
        programs: [{ name: 'kp_sys_enter_raw' }],
        unavailable: () => undefined,
      },
    ],
  };
}
