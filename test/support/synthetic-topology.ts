// A synthetic cluster of a given size in the Topology shape, for the page's
// scale test: workloads spread over namespaces, some Services, nodes and
// external blocks, edges between random pairs (a seeded generator, so every
// run draws the same graph), a few failing. `grow` makes the next refresh:
// counts move on and a few new workloads and edges appear.

import type { Health, Topology, TopologyEdge, TopologyNode } from '../../src/api/topology.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

export class SyntheticCluster {
  private readonly random = rng(14);
  private readonly nodes: TopologyNode[] = [];
  private readonly edges = new Map<string, TopologyEdge>();
  private generation = 0;

  constructor(workloads: number, edges: number, namespaces = 25) {
    for (let i = 0; i < workloads; i++) this.addWorkload(`ns-${String(i % namespaces).padStart(2, '0')}`, `app-${i}`);
    for (let i = 0; i < 20; i++) this.nodes.push({ id: `service:ns-${String(i % namespaces).padStart(2, '0')}/svc-${i}`, kind: 'service', namespace: `ns-${String(i % namespaces).padStart(2, '0')}`, name: `svc-${i}`, health: 'ok', reasons: [] });
    for (let i = 0; i < 5; i++) this.nodes.push({ id: `node:worker-${i}`, kind: 'node', name: `worker-${i}`, health: 'ok', reasons: [] });
    for (let i = 0; i < 30; i++) this.nodes.push({ id: `external:203.0.${i}.0/24`, kind: 'external', name: `203.0.${i}.0/24`, health: 'ok', reasons: [] });
    while (this.edges.size < edges) this.addEdge();
  }

  private addWorkload(namespace: string, name: string): void {
    const failing = this.random() < 0.03;
    const health: Health = failing ? 'failing' : this.random() < 0.03 ? 'slow' : 'ok';
    this.nodes.push({
      id: `workload:${namespace}/${name}`,
      kind: 'workload',
      namespace,
      name,
      workloadKind: 'Deployment',
      health,
      reasons: failing ? ['dns SERVFAIL 3'] : health === 'slow' ? ['connect p99 1.20 s > 500.0 ms'] : [],
      figures: { connectP50Seconds: 0.0004, connectP99Seconds: health === 'slow' ? 1.2 : 0.004, connections: { established: 100 }, dns: [{ domain: 'example.com', rcode: 'NOERROR', count: 10 }], dnsFailureRatio: failing ? 0.3 : 0 },
    });
  }

  private addEdge(): void {
    const workloads = this.nodes.filter((n) => n.kind === 'workload');
    const source = workloads[Math.floor(this.random() * workloads.length)] as TopologyNode;
    const target = this.nodes[Math.floor(this.random() * this.nodes.length)] as TopologyNode;
    if (source.id === target.id) return;
    const port = [80, 443, 8080, 5432, 6379, 53][Math.floor(this.random() * 6)] as number;
    const protocol = port === 53 ? 'UDP' : 'TCP';
    const id = `${source.id}|${target.id}|${protocol}/${port}`;
    if (this.edges.has(id)) return;
    const count = 1 + Math.floor(this.random() * 5000);
    this.edges.set(id, { id, source: source.id, target: target.id, direction: 'egress', protocol, port, count, ratePerSecond: count / 900, health: this.random() < 0.02 ? 'failing' : 'ok' });
  }

  /** The next refresh: counts grow, and every call a few new workloads and edges. */
  next(): Topology {
    if (this.generation++ > 0) {
      for (const e of this.edges.values()) {
        e.count += Math.floor(this.random() * 20);
        e.ratePerSecond = e.count / 900;
      }
      for (let i = 0; i < 2; i++) this.addWorkload(`ns-${String(i).padStart(2, '0')}`, `new-${this.generation}-${i}`);
      for (let i = 0; i < 10; i++) this.addEdge();
    }
    return { scope: 'cluster', agents: ['synthetic'], generatedAt: new Date().toISOString(), rangeSeconds: 900, nodes: [...this.nodes], edges: [...this.edges.values()] };
  }
}
