// How the TCP probe attaches, in order of preference (see bpf/tcp.bpf.c).

import type { ProbeSpec } from '../../bpf/probe.js';
import { ringBytesFor } from '../../bpf/ring-size.js';
import { TCP_EVENT_LAYOUT } from './event.js';

/**
 * Records per second the TCP ring takes without dropping: two per outgoing
 * connection (its outcome, then its close), so 100,000 connections/s opened
 * on the node — ten times the design's 10k conn/s, above the 61k/s that
 * bench/tcp-storm reached flat out here. 1 MiB (README, Benchmark: what
 * the rings hold, and the drops measured).
 */
export const TCP_RING_RECORDS_PER_SECOND = 200_000;

export const tcpProbe: ProbeSpec = {
  name: 'tcp',
  objectFile: 'tcp.bpf.o',
  ringBufferBytes: ringBytesFor({ recordBytes: TCP_EVENT_LAYOUT.size, recordsPerSecond: TCP_RING_RECORDS_PER_SECOND }),
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
