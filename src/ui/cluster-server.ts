// `kubepulse ui`: the page and its API for the whole cluster, on an
// operator's machine. The topology comes from Prometheus (history for as
// long as it keeps the series); the live events, with --discover or
// --agent, from the agents' own streams merged. The same HTTP server as the
// agent's (src/http/server.ts), so the page, content types and limits are
// the agent's too; no store of our own.

import { join } from 'node:path';
import { Registry } from 'prom-client';
import type { Topology } from '../api/topology.js';
import { packageRoot } from '../bpf/addon.js';
import { PageAssets } from '../http/page-assets.js';
import { HttpServer, RouteError } from '../http/server.js';
import type { Logger } from '../log.js';
import { SourceError } from '../policy/sources.js';
import { clusterTopology } from './cluster-topology.js';
import { EventsProxy } from './events-proxy.js';
import { instantQuery } from './prometheus-query.js';
import { rangeSeconds } from './range.js';

export interface ClusterUiOptions {
  prometheus: string;
  /** The agents for the live stream; none: /api/v1/events answers 404 with why. */
  agents(): Promise<string[]>;
  defaultRange: string;
  slowConnectSeconds: number;
  timeoutMs: number;
  log: Logger;
}

/** Answers of the last few seconds are served again: a room of open pages polls. */
const TOPOLOGY_CACHE_MS = 2000;

export class ClusterUi {
  readonly server: HttpServer;
  private readonly events: EventsProxy;
  private readonly cache = new Map<string, { at: number; topology: Promise<Topology> }>();

  constructor(private readonly o: ClusterUiOptions) {
    // The agent's page (dist/page), fed by this server's /api/v1/topology and /api/v1/events.
    const page = new PageAssets(join(packageRoot(), 'dist', 'page'));
    this.server = new HttpServer({ registry: new Registry(), readiness: () => ({ ready: true, reasons: [] }), log: o.log, page });
    this.events = new EventsProxy({ agents: o.agents, connectTimeoutMs: o.timeoutMs, maxStreams: 64 });
    this.server.route('/api/v1/topology', (url) => this.topology(url.searchParams.get('range') ?? o.defaultRange));
    this.server.rawRoute('/api/v1/events', this.events.handle);
  }

  topology(range: string): Promise<Topology> {
    const seconds = rangeSeconds(range, 'range');
    const now = Date.now();
    const hit = this.cache.get(range);
    if (hit && now - hit.at < TOPOLOGY_CACHE_MS) return hit.topology;
    for (const [k, v] of this.cache) if (now - v.at >= TOPOLOGY_CACHE_MS) this.cache.delete(k);
    const topology = clusterTopology((q) => instantQuery(this.o.prometheus, q, { timeoutMs: this.o.timeoutMs }), {
      range,
      rangeSeconds: seconds,
      slowConnectSeconds: this.o.slowConnectSeconds,
    });
    const answer = topology.catch((err: unknown) => {
      this.cache.delete(range);
      if (err instanceof SourceError) throw new RouteError(502, `${err.source}: ${err.reason}`);
      throw err;
    });
    this.cache.set(range, { at: now, topology: answer });
    return answer;
  }

  listen(port: number, host: string): Promise<number> {
    return this.server.listen(port, host);
  }

  async close(): Promise<void> {
    this.events.close();
    await this.server.close();
  }
}
