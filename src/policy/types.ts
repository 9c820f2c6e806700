// The JSON contract between an agent (GET /api/v1/flows, /api/v1/syscalls) and
// the policy exporter, with a parser that checks every field it relies on so a
// malformed answer is rejected with the path of the first bad field instead of
// producing a wrong policy.
import { isIP } from 'node:net';

import type * as v1 from '../api/v1.js';
import { PEER_KINDS } from '../api/v1.js';

// The types are the agent's (src/api/v1.ts), as the exporter reads them:
// what it does not rely on is optional, so older agents and workload-granular
// sources (Prometheus) parse too.
export type Labels = Record<string, string>;
export type Direction = v1.FlowDirection;
export type Protocol = v1.ServiceProtocol;
export type PeerKind = v1.PeerKind;
export type ServicePort = v1.ServicePeerPort;

export type FlowPeer = Omit<v1.Peer, 'address'> & { address?: string };

export type Flow = Omit<v1.FlowRecord, 'pod' | 'podLabels' | 'workloadKind' | 'count' | 'firstSeen' | 'lastSeen' | 'peer' | 'protocol'> &
  Partial<Pick<v1.FlowRecord, 'pod' | 'podLabels' | 'workloadKind' | 'count' | 'firstSeen' | 'lastSeen'>> & {
    protocol: Protocol;
    peer: FlowPeer;
  };

export type FlowsReport = Omit<v1.FlowsSnapshot, 'flows' | 'generatedAt' | 'overflow'> &
  Partial<Pick<v1.FlowsSnapshot, 'generatedAt' | 'overflow'>> & { flows: Flow[] };

export type ContainerSyscalls = Omit<v1.ContainerSyscalls, 'workloadKind' | 'podLabels' | 'cgroupId'> &
  Partial<Pick<v1.ContainerSyscalls, 'workloadKind' | 'podLabels'>>;

export type SyscallsReport = Omit<v1.SyscallsSnapshot, 'containers'> & { containers: ContainerSyscalls[] };

export class ContractError extends Error {
  constructor(readonly path: string, problem: string) {
    super(`${path}: ${problem}`);
    this.name = 'ContractError';
  }
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(v: unknown, path: string): Obj {
  if (!isObj(v)) throw new ContractError(path, `expected an object, got ${describe(v)}`);
  return v;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return typeof v;
}

function str(o: Obj, key: string, path: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v === '') throw new ContractError(`${path}.${key}`, `expected a non-empty string, got ${describe(v)}`);
  return v;
}

function optStr(o: Obj, key: string, path: string): string | undefined {
  if (o[key] === undefined || o[key] === null || o[key] === '') return undefined;
  return str(o, key, path);
}

function labels(o: Obj, key: string, path: string): Labels | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  const l = obj(v, `${path}.${key}`);
  const out: Labels = {};
  for (const [k, val] of Object.entries(l)) {
    if (typeof val !== 'string') throw new ContractError(`${path}.${key}.${k}`, `expected a string, got ${describe(val)}`);
    out[k] = val;
  }
  return out;
}

function port(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) {
    throw new ContractError(path, `expected a port 1-65535, got ${describe(v)}${typeof v === 'number' ? ` ${v}` : ''}`);
  }
  return v;
}

function oneOf<T extends string>(o: Obj, key: string, path: string, allowed: readonly T[]): T {
  const v = o[key];
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new ContractError(`${path}.${key}`, `expected one of ${allowed.join(', ')}, got ${describe(v)}`);
  }
  return v as T;
}

const PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;

function parseServicePorts(v: unknown, path: string): ServicePort[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw new ContractError(path, `expected an array, got ${describe(v)}`);
  return v.map((p, i) => {
    const o = obj(p, `${path}[${i}]`);
    const sp: ServicePort = { port: port(o.port, `${path}[${i}].port`) };
    if (o.targetPort !== undefined && o.targetPort !== null) {
      sp.targetPort = typeof o.targetPort === 'string' ? str(o, 'targetPort', `${path}[${i}]`) : port(o.targetPort, `${path}[${i}].targetPort`);
    }
    if (o.protocol !== undefined) sp.protocol = oneOf(o, 'protocol', `${path}[${i}]`, PROTOCOLS);
    const name = optStr(o, 'name', `${path}[${i}]`);
    if (name !== undefined) sp.name = name;
    return sp;
  });
}

function address(o: Obj, path: string): string {
  const a = str(o, 'address', path);
  if (isIP(a) === 0) throw new ContractError(`${path}.address`, `expected an IP address, got ${describe(a)}`);
  return a;
}

export function parseFlowPeer(v: unknown, path: string): FlowPeer {
  const o = obj(v, path);
  const kind = oneOf(o, 'kind', path, PEER_KINDS);
  const peer: FlowPeer = { kind };
  switch (kind) {
    case 'pod': {
      peer.namespace = str(o, 'namespace', path);
      const a = o.address === undefined ? undefined : address(o, path);
      if (a !== undefined) peer.address = a;
      const pod = optStr(o, 'pod', path);
      if (pod !== undefined) peer.pod = pod;
      const wl = optStr(o, 'workload', path);
      if (wl !== undefined) peer.workload = wl;
      const wk = optStr(o, 'workloadKind', path);
      if (wk !== undefined) peer.workloadKind = wk;
      const l = labels(o, 'labels', path);
      if (l !== undefined) peer.labels = l;
      if (peer.pod === undefined && peer.workload === undefined) {
        throw new ContractError(path, 'a pod peer needs pod or workload');
      }
      break;
    }
    case 'service': {
      peer.namespace = str(o, 'namespace', path);
      peer.name = str(o, 'name', path);
      const a = o.address === undefined ? undefined : address(o, path);
      if (a !== undefined) peer.address = a;
      const sel = labels(o, 'selector', path);
      if (sel !== undefined) peer.selector = sel;
      const ports = parseServicePorts(o.ports, `${path}.ports`);
      if (ports !== undefined) peer.ports = ports;
      break;
    }
    case 'node':
    case 'external':
      peer.address = address(o, path);
      break;
  }
  return peer;
}

export function parseFlow(v: unknown, path: string): Flow {
  const o = obj(v, path);
  const flow: Flow = {
    namespace: str(o, 'namespace', path),
    pod: str(o, 'pod', path),
    workload: optStr(o, 'workload', path) ?? str(o, 'pod', path),
    podLabels: labels(o, 'podLabels', path) ?? {},
    direction: oneOf(o, 'direction', path, ['ingress', 'egress'] as const),
    protocol: oneOf(o, 'protocol', path, PROTOCOLS),
    port: port(o.port, `${path}.port`),
    peer: parseFlowPeer(o.peer, `${path}.peer`),
  };
  const wk = optStr(o, 'workloadKind', path);
  if (wk !== undefined) flow.workloadKind = wk;
  if (typeof o.count === 'number') flow.count = o.count;
  const fs = optStr(o, 'firstSeen', path);
  if (fs !== undefined) flow.firstSeen = fs;
  const ls = optStr(o, 'lastSeen', path);
  if (ls !== undefined) flow.lastSeen = ls;
  return flow;
}

export function parseFlowsReport(v: unknown): FlowsReport {
  const o = obj(v, '$');
  if (!Array.isArray(o.flows)) throw new ContractError('$.flows', `expected an array, got ${describe(o.flows)}`);
  const report: FlowsReport = {
    node: str(o, 'node', '$'),
    flows: o.flows.map((f, i) => parseFlow(f, `$.flows[${i}]`)),
  };
  const ga = optStr(o, 'generatedAt', '$');
  if (ga !== undefined) report.generatedAt = ga;
  if (typeof o.overflow === 'number') report.overflow = o.overflow;
  return report;
}

const SYSCALL_NAME = /^[a-z_][a-z0-9_]*$/;

export function parseSyscallsReport(v: unknown): SyscallsReport {
  const o = obj(v, '$');
  if (!Array.isArray(o.containers)) throw new ContractError('$.containers', `expected an array, got ${describe(o.containers)}`);
  return {
    node: str(o, 'node', '$'),
    arch: str(o, 'arch', '$'),
    containers: o.containers.map((c, i) => {
      const path = `$.containers[${i}]`;
      const co = obj(c, path);
      if (!Array.isArray(co.syscalls)) throw new ContractError(`${path}.syscalls`, `expected an array, got ${describe(co.syscalls)}`);
      const syscalls = co.syscalls.map((s, j) => {
        if (typeof s !== 'string' || !SYSCALL_NAME.test(s)) {
          throw new ContractError(`${path}.syscalls[${j}]`, `expected a syscall name, got ${describe(s)}`);
        }
        return s;
      });
      const cs: ContainerSyscalls = {
        namespace: str(co, 'namespace', path),
        pod: str(co, 'pod', path),
        workload: optStr(co, 'workload', path) ?? str(co, 'pod', path),
        container: str(co, 'container', path),
        syscalls,
      };
      const wk = optStr(co, 'workloadKind', path);
      if (wk !== undefined) cs.workloadKind = wk;
      const pl = labels(co, 'podLabels', path);
      if (pl !== undefined) cs.podLabels = pl;
      return cs;
    }),
  };
}
