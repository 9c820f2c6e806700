// Decoder for struct kp_tcp_event (bpf/tcp.h). The offsets are checked
// against the C header by test/probes/tcp/event.test.ts.

import { readU64 } from '../../bytes.js';

export const TCP_EVENT_TYPE = 1;

export const TCP_EVENT_LAYOUT = {
  size: 64,
  offsets: {
    hdr: 0,
    ts_ns: 8,
    cgroup_id: 16,
    elapsed_ns: 24,
    tgid: 32,
    pid: 36,
    result: 40,
    family: 44,
    dport: 46,
    daddr: 48,
  },
} as const;

/** enum kp_tcp_result → the `result` label; index 0 is unused. */
export const TCP_RESULTS = ['', 'established', 'refused', 'timeout', 'error', 'closed', 'reset'] as const;
export type TcpResult = Exclude<(typeof TCP_RESULTS)[number], ''>;

export const RESULT_ESTABLISHED = 1;
export const RESULT_CLOSED = 5;
export const RESULT_RESET = 6;

const O = TCP_EVENT_LAYOUT.offsets;

export const tcpEvent = {
  tsNs: (v: DataView, at: number): number => readU64(v, at + O.ts_ns),
  cgroupId: (v: DataView, at: number): number => readU64(v, at + O.cgroup_id),
  elapsedNs: (v: DataView, at: number): number => readU64(v, at + O.elapsed_ns),
  tgid: (v: DataView, at: number): number => v.getUint32(at + O.tgid, true),
  pid: (v: DataView, at: number): number => v.getUint32(at + O.pid, true),
  result: (v: DataView, at: number): number => v.getUint32(at + O.result, true),
  family: (v: DataView, at: number): number => v.getUint16(at + O.family, true),
  dport: (v: DataView, at: number): number => v.getUint16(at + O.dport, true),
  /** Word i (0-3) of the peer's address, in network order (an IPv4 address is word 0). */
  daddrWord: (v: DataView, at: number, i: number): number => v.getUint32(at + O.daddr + 4 * i, false),
};
