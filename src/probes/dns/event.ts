// Decoder for struct kp_dns_event (bpf/dns.h). The offsets are checked
// against the C header by test/probes/dns/event.test.ts.

import { readU64 } from '../../bytes.js';

export const DNS_EVENT_TYPE = 2;

export const DNS_EVENT_LAYOUT = {
  size: 576,
  maxPayload: 512,
  maxPorts: 8,
  offsets: {
    hdr: 0,
    ts_ns: 8,
    cgroup_id: 16,
    socket_cookie: 24,
    tgid: 32,
    direction: 36,
    transport: 37,
    family: 38,
    sport: 40,
    dport: 42,
    payload_len: 44,
    wire_len: 46,
    server: 48,
    payload: 64,
  },
} as const;

export const DIRECTION_QUERY = 1;
export const DIRECTION_RESPONSE = 2;
export const TRANSPORT_UDP = 1;
export const TRANSPORT_TCP = 2;

const O = DNS_EVENT_LAYOUT.offsets;

export const dnsEvent = {
  tsNs: (v: DataView, at: number): number => readU64(v, at + O.ts_ns),
  cgroupId: (v: DataView, at: number): number => readU64(v, at + O.cgroup_id),
  socketCookie: (v: DataView, at: number): number => readU64(v, at + O.socket_cookie),
  tgid: (v: DataView, at: number): number => v.getUint32(at + O.tgid, true),
  direction: (v: DataView, at: number): number => v.getUint8(at + O.direction),
  transport: (v: DataView, at: number): number => v.getUint8(at + O.transport),
  family: (v: DataView, at: number): number => v.getUint16(at + O.family, true),
  sport: (v: DataView, at: number): number => v.getUint16(at + O.sport, true),
  dport: (v: DataView, at: number): number => v.getUint16(at + O.dport, true),
  payloadLength: (v: DataView, at: number): number => v.getUint16(at + O.payload_len, true),
  wireLength: (v: DataView, at: number): number => v.getUint16(at + O.wire_len, true),
  /** Word i (0-3) of the server's address, in network order (an IPv4 address is word 0). */
  serverWord: (v: DataView, at: number, i: number): number => v.getUint32(at + O.server + 4 * i, false),
  /** Byte offset of the payload within the view's buffer. */
  payloadOffset: (v: DataView, at: number): number => v.byteOffset + at + O.payload,
};
