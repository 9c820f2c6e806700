// The daemon's own health: which probes are attached and how, events
// received and dropped, readiness.

import { Counter, Gauge, type Registry } from 'prom-client';
import type { EventStream } from '../bpf/event-stream.js';
import type { LoadedProbe } from '../bpf/probe.js';
import { sumPerCpu } from '../bytes.js';

export interface SelfMetricsSources {
  version: string;
  node: string;
  probes: () => LoadedProbe[];
  /** Probes that were wanted but could not attach. */
  failedProbes: () => string[];
  stream: EventStream;
  /** Event type number → the probe name used as the `type` label. */
  eventTypes: Record<number, string>;
  ready: () => boolean;
  numCpus: number;
}

export function registerSelfMetrics(registry: Registry, src: SelfMetricsSources): void {
  const zeroKey = Buffer.alloc(4);
  new Gauge({
    name: 'kubepulse_build_info',
    help: 'Always 1; the labels say which KubePulse runs on which node.',
    labelNames: ['version', 'node'],
    registers: [registry],
  }).set({ version: src.version, node: src.node }, 1);

  new Gauge({
    name: 'kubepulse_probe_info',
    help: 'Always 1 per attached probe; hook says how it attached (kprobe, tp_btf, tracepoint, cgroup_skb).',
    labelNames: ['probe', 'hook'],
    registers: [registry],
    collect() {
      this.reset();
      for (const p of src.probes()) this.set({ probe: p.name, hook: p.hook }, 1);
    },
  });

  new Gauge({
    name: 'kubepulse_probe_attached',
    help: '1 when the probe is attached, 0 when it was wanted but could not attach.',
    labelNames: ['probe'],
    registers: [registry],
    collect() {
      this.reset();
      for (const p of src.probes()) this.set({ probe: p.name }, 1);
      for (const name of src.failedProbes()) this.set({ probe: name }, 0);
    },
  });

  new Counter({
    name: 'kubepulse_events_total',
    help: 'Events received from the kernel ring buffers, by probe.',
    labelNames: ['type'],
    registers: [registry],
    collect() {
      for (const p of src.probes()) if (p.streams) this.inc({ type: p.name }, 0);
      for (const [type, total] of src.stream.stats.received) {
        const label = { type: src.eventTypes[type] ?? String(type) };
        // Counters only go up: add what arrived since the last scrape.
        const seen = seenEvents.get(type) ?? 0;
        if (total > seen) this.inc(label, total - seen);
        seenEvents.set(type, total);
      }
    },
  });
  const seenEvents = new Map<number, number>();

  const seenDrops = new Map<string, number>();
  new Counter({
    name: 'kubepulse_events_dropped_total',
    help: 'Events lost in the kernel because the probe\'s ring buffer was full, by probe.',
    labelNames: ['type'],
    registers: [registry],
    collect() {
      for (const p of src.probes()) {
        if (!p.streams) continue;
        const total = sumPerCpu(p.object.mapLookup('dropped', zeroKey), src.numCpus);
        const seen = seenDrops.get(p.name) ?? 0;
        this.inc({ type: p.name }, Math.max(0, total - seen));
        seenDrops.set(p.name, Math.max(seen, total));
      }
    },
  });

  // Read at scrape time from the ring's own positions: a ring that stays
  // well filled between scrapes is one burst away from dropping.
  new Gauge({
    name: 'kubepulse_ring_buffer_utilization',
    help: 'Fill level of the probe\'s ring buffer at scrape time, 0 to 1 (bytes written by the kernel and not yet read, over its size); events drop at 1.',
    labelNames: ['probe'],
    registers: [registry],
    collect() {
      this.reset();
      for (const p of src.probes()) {
        if (!p.streams) continue;
        try {
          const { used, size } = p.object.ringUsage('events');
          this.set({ probe: p.name }, size > 0 ? Math.min(1, used / size) : 0);
        } catch {
          /* closed meanwhile */
        }
      }
    },
  });

  new Gauge({
    name: 'kubepulse_ready',
    help: '1 when the daemon is ready (probes attached, pod metadata and cluster peers synced, event poller alive), as /readyz answers.',
    registers: [registry],
    collect() {
      this.set(src.ready() ? 1 : 0);
    },
  });
}
