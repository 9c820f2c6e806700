// The daemon's private registry: never prom-client's global one, so tests
// and embedded uses build as many as they like.

import { collectDefaultMetrics, Registry } from 'prom-client';

export function createRegistry(): Registry {
  const registry = new Registry();
  // process_cpu_seconds_total, process_resident_memory_bytes, nodejs_*: the
  // daemon's own cost, as the dashboards and the benchmark read it.
  collectDefaultMetrics({ register: registry });
  // prom-client names these gauges *_total, which Prometheus' own lint
  // (promtool check metrics) rejects: a _total suffix promises a counter.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
    registry.removeSingleMetric(name);
  return registry;
}
