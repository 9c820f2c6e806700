// Address → peer, the table the cluster-wide watches fill and the flows
// collector reads for every peer address. peerOf is a Map lookup.

import type { Peer } from '../api/v1.js';
import { canonicalIp } from '../net/ip.js';
import { LabelPool, type Labels } from './label-pool.js';
import type { PeerResolver } from './resolver.js';

interface Owned {
  readonly owner: string;
  readonly peer: Peer;
}

/**
 * Address → peer, fed by owners (a pod, a Service, a node) that each hold a
 * few addresses. An address claimed by two owners (a pod IP reused while the
 * old pod is still being deleted) answers with the latest claim, and falls
 * back to the other when that one goes.
 */
export class ClusterPeerIndex implements PeerResolver {
  private readonly byAddress = new Map<string, Owned[]>();
  private readonly owned = new Map<string, { peers: Peer[]; labels: Labels | undefined }>();
  private readonly counts: Record<'pod' | 'service' | 'node', number> = { pod: 0, service: 0, node: 0 };
  private readonly labels = new LabelPool();

  peerOf(address: string): Peer {
    const claims = this.byAddress.get(address);
    if (claims !== undefined) return (claims[claims.length - 1] as Owned).peer;
    return { kind: 'external', address };
  }

  addresses(kind: 'pod' | 'service' | 'node'): number {
    return this.counts[kind];
  }

  /** Distinct label sets held (for tests). */
  get labelSets(): number {
    return this.labels.size;
  }

  /** Owners whose key starts with the prefix, e.g. 'pod:'. */
  owners(prefix: string): string[] {
    return [...this.owned.keys()].filter((k) => k.startsWith(prefix));
  }

  /** Replaces what the owner claims. `build` gets the shared labels and makes one peer per address. */
  set(owner: string, kind: 'pod' | 'service' | 'node', addresses: readonly string[], build: (address: string, labels: Labels | undefined) => Peer, labels?: Record<string, string>): void {
    this.delete(owner);
    const canonical = [...new Set(addresses.map(canonicalIp).filter((a): a is string => a !== undefined))];
    if (canonical.length === 0) return;
    const shared = labels === undefined ? undefined : this.labels.take(labels);
    const peers = canonical.map((a) => Object.freeze(build(a, shared)));
    this.owned.set(owner, { peers, labels: shared });
    for (const peer of peers) {
      let claims = this.byAddress.get(peer.address);
      if (claims === undefined) this.byAddress.set(peer.address, (claims = []));
      claims.push({ owner, peer });
      this.counts[kind]++;
    }
  }

  delete(owner: string): void {
    const held = this.owned.get(owner);
    if (held === undefined) return;
    this.owned.delete(owner);
    if (held.labels !== undefined) this.labels.give(held.labels);
    for (const peer of held.peers) {
      this.counts[peer.kind as 'pod' | 'service' | 'node']--;
      const claims = this.byAddress.get(peer.address);
      if (claims === undefined) continue;
      const rest = claims.filter((c) => c.owner !== owner);
      if (rest.length === 0) this.byAddress.delete(peer.address);
      else this.byAddress.set(peer.address, rest);
    }
  }
}
