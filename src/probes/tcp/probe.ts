// How the TCP probe attaches, in order of preference (see bpf/tcp.bpf.c).

import type { ProbeSpec } from '../../bpf/probe.js';

export const tcpProbe: ProbeSpec = {
  name: 'tcp',
  objectFile: 'tcp.bpf.o',
  plans: [
    {
      hook: 'kprobe/tcp_connect+kprobe/tcp_set_state',
      mode: 'kprobe',
      programs: [{ name: 'kp_tcp_connect' }, { name: 'kp_tcp_set_state' }],
      unavailable: (k) => (k.kprobes ? undefined : 'needs CONFIG_KPROBES (this kernel has no kprobe support)'),
    },
    {
      hook: 'tp_btf/inet_sock_set_state',
      mode: 'tracepoint',
      programs: [{ name: 'kp_tcp_state_btf' }],
      unavailable: (k) => (k.btf ? undefined : 'needs kernel BTF (CONFIG_DEBUG_INFO_BTF)'),
    },
    {
      hook: 'tracepoint/sock/inet_sock_set_state',
      mode: 'tracepoint',
      programs: [{ name: 'kp_tcp_state_tp' }],
      unavailable: (k) => (k.tracefs ? undefined : 'needs tracefs mounted (/sys/kernel/tracing)'),
    },
  ],
};
