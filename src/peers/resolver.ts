// Who is at the other end of a flow. The agent answers from what it knows;
// a cluster-wide resolver (pods, Services, nodes: src/peers/cluster-peers.ts)
// plugs in through the same interface. Resolvers may return shared frozen
// objects: callers must not mutate them.

import type { Peer } from '../api/v1.js';
import { isLoopback } from '../net/ip.js';

export interface PeerResolver {
  peerOf(address: string): Peer;
}

/** Knows no cluster: loopback is this node, everything else is external. */
export const addressOnlyPeers: PeerResolver = {
  peerOf(address) {
    return { kind: isLoopback(address) ? 'node' : 'external', address };
  },
};
