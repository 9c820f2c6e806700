// Every probe the daemon knows, in one place: its kernel spec, its event
// type and its collector. Adding a probe is adding an entry here.

import type { ProbeSpec } from '../bpf/probe.js';
import { tcpProbe } from './tcp/probe.js';
import { TCP_EVENT_TYPE } from './tcp/event.js';

export interface ProbeEntry {
  spec: ProbeSpec;
  eventType: number;
}

export const PROBES: ProbeEntry[] = [{ spec: tcpProbe, eventType: TCP_EVENT_TYPE }];
