// The live stream of a daemon: the hub that collectors publish into (the
// probe modules get it in their context: `collector.stream = ctx.stream`,
// and a FlowTicker for the flows map) and GET /api/v1/events.

import type { Registry } from 'prom-client';
import type { RawRoute } from '../http/server.js';
import type { Logger } from '../log.js';
import type { PeerResolver } from '../peers/resolver.js';
import { EventHub } from './hub.js';
import { EventsRoute } from './sse.js';

export interface LiveStreamOptions {
  node: string;
  registry: Registry;
  log: Logger;
  maxStreams: number;
  history: number;
  streamQueue: number;
  heartbeatMs: number;
  /** Who a TCP event's peer is (the flows' resolver). */
  peers?: PeerResolver;
}

export interface LiveStream {
  hub: EventHub;
  route: EventsRoute;
  /** Serves GET /api/v1/events. */
  serve(server: { rawRoute(path: string, handler: RawRoute): void }): void;
  /** Ends every open stream with a reason. */
  stop(): void;
}

export function createLiveStream(o: LiveStreamOptions): LiveStream {
  const hub = new EventHub({ node: o.node, historySize: o.history, queueSize: o.streamQueue, registry: o.registry, ...(o.peers ? { peers: o.peers } : {}) });
  const route = new EventsRoute(hub, { maxStreams: o.maxStreams, heartbeatMs: o.heartbeatMs, log: o.log });
  return {
    hub,
    route,
    serve(server) {
      server.rawRoute('/api/v1/events', (req, res, url) => route.handle(req, res, url));
    },
    stop() {
      route.close();
    },
  };
}
