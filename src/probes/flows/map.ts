// Decoders for the flows map (bpf/flows.h): struct kp_flow_key and
// struct kp_flow_value. Checked against the C layout by
// test/probes/flows/map.test.ts.

import type { FlowDirection, FlowProtocol } from '../../api/v1.js';
import { formatIp } from '../../net/ip.js';
import { bufferU64 } from '../../bytes.js';

export const FLOW_MAP_LAYOUT = {
  keySize: 32,
  valueSize: 24,
  key: { cgroup_id: 0, peer: 8, port: 24, direction: 26, protocol: 27, family: 28 },
  value: { count: 0, first_ns: 8, last_ns: 16 },
} as const;


export interface FlowKey {
  cgroupId: number;
  peer: string;
  port: number;
  direction: FlowDirection;
  protocol: FlowProtocol;
}

export interface FlowCounts {
  count: number;
  firstNs: number;
  lastNs: number;
}

const AF_INET = 2;
const IPPROTO_TCP = 6;
const K = FLOW_MAP_LAYOUT.key;
const V = FLOW_MAP_LAYOUT.value;

export function decodeFlowKey(b: Buffer): FlowKey {
  const v4 = b.readUInt16LE(K.family) === AF_INET;
  return {
    cgroupId: bufferU64(b, K.cgroup_id),
    peer: formatIp(b.subarray(K.peer, K.peer + (v4 ? 4 : 16)), v4 ? 'ipv4' : 'ipv6'),
    port: b.readUInt16LE(K.port),
    direction: b.readUInt8(K.direction) === 2 ? 'ingress' : 'egress',
    protocol: b.readUInt8(K.protocol) === IPPROTO_TCP ? 'TCP' : 'UDP',
  };
}

export function decodeFlowCounts(b: Buffer): FlowCounts {
  return { count: bufferU64(b, V.count), firstNs: bufferU64(b, V.first_ns), lastNs: bufferU64(b, V.last_ns) };
}
