// The daemon's private registry: never prom-client's global one, so tests
// and embedded uses build as many as they like.

import { collectDefaultMetrics, Registry } from 'prom-client';
import { EVENT_LOOP_OUT_OF_REACH_MS, registerEventLoopDelay } from './event-loop.js';

export function createRegistry(): Registry {
  const registry = new Registry();
  // process_cpu_seconds_total, process_resident_memory_bytes, nodejs_*: the
  // daemon's own cost, as the dashboards and the benchmark read it.
  // Its event loop delay histogram would wake the loop every 10 ms: see event-loop.ts.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_OUT_OF_REACH_MS });
  registerEventLoopDelay(registry);
  // prom-client names these gauges *_total, which Prometheus' own lint
  // (promtool check metrics) rejects: a _total suffix promises a counter.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
    registry.removeSingleMetric(name);
  return registry;
}
