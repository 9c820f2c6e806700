// Who is at the other end of a flow. The agent answers from what it knows;
// a cluster-wide resolver (pods, Services, nodes: src/metadata/cluster-peers.ts)
// plugs in through the same interface. Resolvers may return shared frozen
// objects: callers must not mutate them.

import { isLoopback } from '../../net/ip.js';

export type PeerKind = 'pod' | 'service' | 'node' | 'external';

export interface Peer {
  kind: PeerKind;
  address: string;
  namespace?: string;
  /** pod name, or Service name */
  pod?: string;
  name?: string;
  workload?: string;
  workloadKind?: string;
  labels?: Record<string, string>;
  /** Service peers: the selector behind the ClusterIP */
  selector?: Record<string, string>;
  /** Service peers: their ports, to translate the port a socket saw to the pods' targetPort */
  ports?: ServicePeerPort[];
}

export interface ServicePeerPort {
  port: number;
  /** A number, or the name of a container port; absent means the same as port. */
  targetPort?: number | string;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  name?: string;
}

export interface PeerResolver {
  resolve(address: string): Peer;
}

/** Knows no cluster: loopback is this node, everything else is external. */
export const addressOnlyPeers: PeerResolver = {
  resolve(address) {
    return { kind: isLoopback(address) ? 'node' : 'external', address };
  },
};
