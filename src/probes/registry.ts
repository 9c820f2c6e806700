// Every probe the daemon knows, in one place: its kernel spec, and for
// probes that stream events, their event type. Adding a probe is adding an
// entry here (and its collector in daemon.ts).

import type { ProbeSpec } from '../bpf/probe.js';
import type { Config } from '../config.js';
import { DNS_EVENT_TYPE } from './dns/event.js';
import { dnsProbe } from './dns/probe.js';
import { flowsProbe } from './flows/probe.js';
import { syscallsProbe } from './syscalls/probe.js';
import { TCP_EVENT_TYPE } from './tcp/event.js';
import { tcpProbe } from './tcp/probe.js';

export const PROBE_NAMES = ['tcp', 'dns', 'flows', 'syscalls'] as const;
export type ProbeName = (typeof PROBE_NAMES)[number];

export interface ProbeEntry {
  spec: ProbeSpec;
  /** Ring-buffer event type; undefined for probes that only count in maps. */
  eventType?: number;
}

export function probeEntries(config: Pick<Config, 'dnsPorts' | 'probes'>): ProbeEntry[] {
  const all: Record<ProbeName, ProbeEntry> = {
    tcp: { spec: tcpProbe, eventType: TCP_EVENT_TYPE },
    dns: { spec: dnsProbe(config.dnsPorts), eventType: DNS_EVENT_TYPE },
    flows: { spec: flowsProbe },
    syscalls: { spec: syscallsProbe() },
  };
  return config.probes.map((name) => all[name]);
}
