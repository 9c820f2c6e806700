// Every probe the daemon knows, in one place: its kernel spec and its event
// type. Adding a probe is adding an entry here (and its collector in daemon.ts).

import type { ProbeSpec } from '../bpf/probe.js';
import type { Config } from '../config.js';
import { DNS_EVENT_TYPE } from './dns/event.js';
import { dnsProbe } from './dns/probe.js';
import { TCP_EVENT_TYPE } from './tcp/event.js';
import { tcpProbe } from './tcp/probe.js';

export interface ProbeEntry {
  spec: ProbeSpec;
  eventType: number;
}

export function probeEntries(config: Pick<Config, 'dnsPorts'>): ProbeEntry[] {
  return [
    { spec: tcpProbe, eventType: TCP_EVENT_TYPE },
    { spec: dnsProbe(config.dnsPorts), eventType: DNS_EVENT_TYPE },
  ];
}
