// The topology of a daemon: GET /api/v1/topology (the page's data) and
// GET /api/v1/policy/network (its copy button), from the daemon's registry,
// its flows and its live stream's history.

import type { Registry } from 'prom-client';
import type { FlowRecord } from '../api/v1.js';
import type { JsonRoute } from '../http/server.js';
import type { EventHub } from '../stream/hub.js';
import { AgentTopology } from './agent.js';
import { workloadPolicy } from './policy-route.js';

export interface TopologyRoutes {
  serve(server: { route(path: string, handler: JsonRoute): void }): void;
  stop(): void;
}

export function createTopologyRoutes(o: { node: string; registry: Registry; hub: EventHub; flows?: () => FlowRecord[] }): TopologyRoutes {
  const topology = new AgentTopology(o);
  topology.start();
  return {
    serve(server) {
      server.route('/api/v1/topology', (url) => topology.answer(url));
      server.route('/api/v1/policy/network', (url) => workloadPolicy(o.flows?.() ?? [], url));
    },
    stop: () => topology.stop(),
  };
}
