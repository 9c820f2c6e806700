// What is drawn: the topology after the filters (namespaces, hidden peers
// and namespaces, only failing) and with collapsed namespaces folded into
// one vertex each. Pure (no DOM), shared by the map, the table and export.

import type { Health, Topology, TopologyEdge, TopologyNode } from '../api/topology.js';

export interface ViewOptions {
  /** Show these namespaces and whatever they talk to; empty: all. */
  namespaces: ReadonlySet<string>;
  /** Vertex ids, or `ns:<namespace>` for a whole namespace. */
  hidden: ReadonlySet<string>;
  onlyFailing: boolean;
  /** Namespaces drawn as one vertex. */
  collapsed: ReadonlySet<string>;
}

export interface ViewVertex {
  id: string;
  kind: TopologyNode['kind'] | 'namespace';
  label: string;
  /** The island it sits on: `ns:<namespace>`, `nodes` or `external`. */
  island: string;
  health: Health;
  reasons: string[];
  /** The topology's vertex (absent for a collapsed namespace). */
  node?: TopologyNode;
  /** Collapsed namespaces: how many vertices are folded in. */
  members?: number;
}

export interface ViewEdge {
  id: string;
  source: string;
  target: string;
  protocol: string;
  port: number;
  count: number;
  ratePerSecond: number;
  health: Health;
}

export interface View {
  vertices: ViewVertex[];
  edges: ViewEdge[];
  /** The topology's edges that are shown (for the table and JSON export). */
  flows: TopologyEdge[];
}

export function islandOf(n: TopologyNode): string {
  if (n.kind === 'workload' || n.kind === 'service') return `ns:${n.namespace ?? ''}`;
  return n.kind === 'node' ? 'nodes' : 'external';
}

export function shortName(n: TopologyNode): string {
  return n.kind === 'workload' || n.kind === 'service' ? n.name : n.name;
}

const rank: Record<Health, number> = { ok: 0, slow: 1, failing: 2 };
const worse = (a: Health, b: Health): Health => (rank[a] >= rank[b] ? a : b);

export function buildView(t: Topology, o: ViewOptions): View {
  const byId = new Map(t.nodes.map((n) => [n.id, n]));
  const ns = (n: TopologyNode | undefined): string | undefined => (n && (n.kind === 'workload' || n.kind === 'service') ? n.namespace : undefined);
  const hidden = (n: TopologyNode | undefined): boolean => !n || o.hidden.has(n.id) || (ns(n) !== undefined && o.hidden.has(`ns:${ns(n)}`));
  const inScope = (n: TopologyNode | undefined): boolean => o.namespaces.size === 0 || (ns(n) !== undefined && o.namespaces.has(ns(n) as string));

  const flows = t.edges.filter((e) => {
    const s = byId.get(e.source);
    const d = byId.get(e.target);
    if (hidden(s) || hidden(d)) return false;
    if (!inScope(s) && !inScope(d)) return false;
    if (o.onlyFailing && e.health !== 'failing' && s?.health !== 'failing' && d?.health !== 'failing') return false;
    return true;
  });

  const keep = new Set<string>();
  for (const e of flows) keep.add(e.source).add(e.target);
  for (const n of t.nodes) {
    if (hidden(n) || !inScope(n)) continue;
    if (o.onlyFailing && n.health !== 'failing') continue;
    keep.add(n.id);
  }

  const vertices = new Map<string, ViewVertex>();
  const vertexOf = (id: string): string => {
    const n = byId.get(id) as TopologyNode;
    const space = ns(n);
    if (space !== undefined && o.collapsed.has(space)) {
      const cid = `ns:${space}`;
      let v = vertices.get(cid);
      if (!v) vertices.set(cid, (v = { id: cid, kind: 'namespace', label: space, island: cid, health: 'ok', reasons: [], members: 0 }));
      return cid;
    }
    if (!vertices.has(id)) vertices.set(id, { id, kind: n.kind, label: shortName(n), island: islandOf(n), health: n.health, reasons: n.reasons, node: n });
    return id;
  };
  for (const id of [...keep].sort()) {
    const vid = vertexOf(id);
    const v = vertices.get(vid) as ViewVertex;
    if (v.kind === 'namespace') {
      const n = byId.get(id) as TopologyNode;
      v.members = (v.members ?? 0) + 1;
      v.health = worse(v.health, n.health);
      if (n.health !== 'ok') v.reasons = [...v.reasons, `${n.name}: ${n.reasons.join(', ')}`];
    }
  }

  const edges = new Map<string, ViewEdge>();
  for (const e of flows) {
    const source = vertexOf(e.source);
    const target = vertexOf(e.target);
    if (source === target && source.startsWith('ns:')) continue; // inside a collapsed namespace
    const id = source === e.source && target === e.target ? e.id : `${source}|${target}|${e.protocol}/${e.port}`;
    const v = edges.get(id);
    if (v) {
      v.count += e.count;
      v.ratePerSecond += e.ratePerSecond;
      v.health = worse(v.health, e.health);
    } else edges.set(id, { id, source, target, protocol: e.protocol, port: e.port, count: e.count, ratePerSecond: e.ratePerSecond, health: e.health });
  }
  return { vertices: [...vertices.values()], edges: [...edges.values()], flows };
}
