// What the cluster-wide watches keep of pods, Services and nodes (the rest
// is dropped as each object arrives), and the addresses each one claims.

import type { V1Container, V1Node, V1Pod, V1Service } from '@kubernetes/client-node';
import type { PeerContainerPort, ServicePeerPort } from '../api/v1.js';

export function slimPod(pod: V1Pod): V1Pod {
  const m = pod.metadata ?? {};
  const owner = (m.ownerReferences ?? []).find((o) => o.controller === true) ?? m.ownerReferences?.[0];
  return {
    metadata: {
      name: m.name,
      namespace: m.namespace,
      resourceVersion: m.resourceVersion,
      ...(m.labels === undefined ? {} : { labels: m.labels }),
      ...(owner === undefined ? {} : { ownerReferences: [{ apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name, uid: owner.uid, controller: true }] }),
    },
    // Only the named container ports of the containers (NetworkPolicy named ports).
    spec: { containers: namedPortContainers(pod), ...(pod.spec?.hostNetwork === true ? { hostNetwork: true } : {}), ...(pod.spec?.nodeName === undefined ? {} : { nodeName: pod.spec.nodeName }) },
    status: {
      ...(pod.status?.phase === undefined ? {} : { phase: pod.status.phase }),
      ...(pod.status?.podIP === undefined ? {} : { podIP: pod.status.podIP }),
      ...(pod.status?.podIPs === undefined ? {} : { podIPs: pod.status.podIPs.map((p) => ({ ip: p.ip })) }),
    },
  };
}

function namedPortContainers(pod: V1Pod): V1Container[] {
  const out: V1Container[] = [];
  for (const c of pod.spec?.containers ?? []) {
    const ports = (c.ports ?? []).filter((p) => p.name !== undefined && p.name !== '').map((p) => ({ name: p.name, containerPort: p.containerPort, protocol: p.protocol }));
    if (ports.length > 0) out.push({ name: c.name, ports });
  }
  return out;
}

/** The named container ports a slimmed pod kept, as a peer carries them; undefined when none. */
export function podContainerPorts(pod: V1Pod): PeerContainerPort[] | undefined {
  const out: PeerContainerPort[] = [];
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (p.name === undefined || p.name === '') continue;
      out.push({ name: p.name, port: p.containerPort, protocol: p.protocol === 'UDP' || p.protocol === 'SCTP' ? p.protocol : 'TCP' });
    }
  }
  return out.length === 0 ? undefined : out;
}

export function slimService(service: V1Service): V1Service {
  const m = service.metadata ?? {};
  const s = service.spec ?? {};
  return {
    metadata: { name: m.name, namespace: m.namespace, resourceVersion: m.resourceVersion },
    spec: {
      ...(s.clusterIP === undefined ? {} : { clusterIP: s.clusterIP }),
      ...(s.clusterIPs === undefined ? {} : { clusterIPs: s.clusterIPs }),
      ...(s.selector === undefined ? {} : { selector: s.selector }),
      ...(s.ports === undefined
        ? {}
        : { ports: s.ports.map((p) => ({ port: p.port, targetPort: p.targetPort, protocol: p.protocol, name: p.name })) }),
    },
  };
}

export const NODE_ADDRESS_TYPES = new Set(['InternalIP', 'ExternalIP']);

export function slimNode(node: V1Node): V1Node {
  const m = node.metadata ?? {};
  return {
    metadata: { name: m.name, resourceVersion: m.resourceVersion },
    status: { addresses: (node.status?.addresses ?? []).filter((a) => NODE_ADDRESS_TYPES.has(a.type)).map((a) => ({ type: a.type, address: a.address })) },
  };
}

const PROTOCOLS = new Set(['TCP', 'UDP', 'SCTP']);

export function servicePorts(service: V1Service): ServicePeerPort[] | undefined {
  const ports = service.spec?.ports;
  if (ports === undefined) return undefined;
  return ports.map((p) => {
    const out: ServicePeerPort = { port: p.port };
    // The API server defaults targetPort to port; keep what it says.
    if (p.targetPort !== undefined && p.targetPort !== null && p.targetPort !== '') out.targetPort = p.targetPort;
    if (p.protocol !== undefined && PROTOCOLS.has(p.protocol)) out.protocol = p.protocol as 'TCP' | 'UDP' | 'SCTP';
    if (p.name !== undefined && p.name !== '') out.name = p.name;
    return out;
  });
}

export function podAddresses(pod: V1Pod): string[] {
  if (pod.spec?.hostNetwork === true) return [];
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return [];
  const ips = (pod.status?.podIPs ?? []).map((p) => p.ip);
  if (pod.status?.podIP !== undefined && pod.status.podIP !== '') ips.push(pod.status.podIP);
  return ips;
}

export function serviceAddresses(service: V1Service): string[] {
  const ips = [...(service.spec?.clusterIPs ?? [])];
  if (service.spec?.clusterIP !== undefined) ips.push(service.spec.clusterIP);
  return ips.filter((ip) => ip !== '' && ip !== 'None');
}
