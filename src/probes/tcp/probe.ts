// How the TCP probe attaches, in order of preference (see bpf/tcp.bpf.c).

import type { ProbeSpec } from '../../bpf/probe.js';

/** "5.10.0-28-amd64" → [5, 10]; [0, 0] when unreadable. */
export function kernelVersion(release: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

const atLeast = (release: string, major: number, minor: number): boolean => {
  const [a, b] = kernelVersion(release);
  return a > major || (a === major && b >= minor);
};

const needsBtf = (btf: boolean): string | undefined => (btf ? undefined : 'needs kernel BTF (CONFIG_DEBUG_INFO_BTF)');

/** The program that keeps connections in socket storage; when it loads, the hash is not needed. */
const SK_STORAGE_PROGRAM = 'kp_tcp_state_sk';

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
      // Socket-local storage from tracing programs came in 5.11; where the
      // kernel refuses it anyway, the next plan is the same hook with a hash.
      hook: 'tp_btf/inet_sock_set_state',
      mode: 'tracepoint',
      programs: [{ name: SK_STORAGE_PROGRAM }],
      unavailable: (k) => needsBtf(k.btf) ?? (atLeast(k.release, 5, 11) ? undefined : 'needs Linux 5.11 (sk_storage in tracing programs)'),
    },
    {
      hook: 'tp_btf/inet_sock_set_state',
      mode: 'tracepoint',
      programs: [{ name: 'kp_tcp_state_btf' }],
      unavailable: (k) => needsBtf(k.btf),
    },
    {
      hook: 'tracepoint/sock/inet_sock_set_state',
      mode: 'tracepoint',
      programs: [{ name: 'kp_tcp_state_tp' }],
      unavailable: (k) => (k.tracefs ? undefined : 'needs tracefs mounted (/sys/kernel/tracing)'),
    },
  ],
  configure(object) {
    // The LRU hash is preallocated (65,536 entries, ~6 MiB of kernel memory):
    // with socket storage it is never used.
    if (object.programs().some((p) => p.name === SK_STORAGE_PROGRAM && p.autoload)) object.setMapMaxEntries('tcp_conns', 1);
  },
};
