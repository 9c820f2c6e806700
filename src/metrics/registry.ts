// The daemon's private registry: never prom-client's global one, so tests
// and embedded uses build as many as they like.

import { collectDefaultMetrics, Registry } from 'prom-client';

export function createRegistry(): Registry {
  const registry = new Registry();
  // process_cpu_seconds_total, process_resident_memory_bytes, nodejs_*: the
  // daemon's own cost, as the dashboards and the benchmark read it.
  collectDefaultMetrics({ register: registry });
  return registry;
}
