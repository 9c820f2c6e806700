// src/metrics/self.ts: the daemon's own series, with a fake probe list and
// drop counters in the per-CPU layout the kernel uses.
import t from 'tap';
import { Registry } from 'prom-client';
import { EventStream } from '../../src/bpf/event-stream.js';
import type { LoadedProbe } from '../../src/bpf/probe.js';
import { registerSelfMetrics } from '../../src/metrics/self.js';
import { frame, tcpRecord } from '../support/batches.js';
import { parseMetrics, sumOf } from '../support/metrics.js';

const perCpu = (...values: number[]): Buffer => {
  const b = Buffer.alloc(8 * values.length);
  values.forEach((v, cpu) => b.writeBigUInt64LE(BigInt(v), cpu * 8));
  return b;
};

t.test('events and drops: every streaming probe at 0 from the start, then what the kernel counts', async (t) => {
  let dropped = { tcp: perCpu(0, 0), dns: perCpu(0, 0) };
  const probe = (name: 'tcp' | 'dns', streams: boolean): LoadedProbe =>
    ({ name, hook: 'test', streams, object: { mapLookup: () => dropped[name] } }) as unknown as LoadedProbe;
  const probes = [probe('tcp', true), probe('dns', true), { ...probe('tcp', false), name: 'flows' } as LoadedProbe];
  const stream = new EventStream(new Map([[1, () => {}]]));
  const registry = new Registry();
  registerSelfMetrics(registry, { version: '1.2.3', node: 'n1', probes: () => probes, failedProbes: () => ['syscalls'], stream, eventTypes: { 1: 'tcp', 2: 'dns' }, ready: () => true, numCpus: 2 });
  let m = parseMetrics(await registry.metrics());
  const series = (name: string) => m.filter((s) => s.name === name).map((s) => `${s.labels.type} ${s.value}`);
  t.same(series('kubepulse_events_total'), ['tcp 0', 'dns 0'], 'no "No data" before the first event');
  t.same(series('kubepulse_events_dropped_total'), ['tcp 0', 'dns 0']);
  t.equal(sumOf(m, 'kubepulse_probe_attached', { probe: 'syscalls' }), 0);
  t.equal(sumOf(m, 'kubepulse_build_info', { version: '1.2.3', node: 'n1' }), 1);

  stream.dispatch(frame([tcpRecord({ elapsedNs: 1n, result: 0 }), tcpRecord({ elapsedNs: 1n, result: 0 })]));
  dropped = { tcp: perCpu(2, 3), dns: perCpu(0, 0) };
  m = parseMetrics(await registry.metrics());
  t.same(series('kubepulse_events_total'), ['tcp 2', 'dns 0']);
  t.same(series('kubepulse_events_dropped_total'), ['tcp 5', 'dns 0']);
});
