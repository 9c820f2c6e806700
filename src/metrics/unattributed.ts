// What could not be attributed to a pod, and what waited to be.
//
// kubepulse_unattributed_events_total{probe,reason} counts events labelled
// like the host although they are not known to be the host (the resolver's
// `unattributed` reasons, resolver.ts): the remaining loss is visible, not
// hidden in the host's series. Counted per event by the collectors that
// resolve per event (tcp, dns); the kernel-aggregated probes (flows,
// syscalls) resolve per cgroup at scrape time and are not counted here.
//
// kubepulse_events_held_total counts events that waited for the pod watch
// (event-hold.ts); kubepulse_events_hold_forced_total the holds ended by the
// stream's bound rather than by the pod arriving.
import { Counter, type Registry } from 'prom-client';
import type { EventStreamStats } from '../bpf/event-stream.js';
import type { UnattributedReason } from '../metadata/resolver.js';
import { counterFromTotal } from './total-counter.js';

export type UnattributedSink = (reason: UnattributedReason) => void;

export class UnattributedEvents {
  private readonly counter: Counter<'probe' | 'reason'>;

  constructor(registry: Registry) {
    this.counter = new Counter({
      name: 'kubepulse_unattributed_events_total',
      help:
        'Events that could not be attributed to a pod and are labelled like the host, by probe and reason: ' +
        'cgroup_unknown (the cgroup was never seen), pod_unknown (the pod watch did not know the pod in time), ' +
        'process_gone (no usable cgroup id and the process had exited).',
      labelNames: ['probe', 'reason'],
      registers: [registry],
    });
  }

  /** A per-event sink for one probe (rare: only unattributed events reach it). */
  forProbe(probe: string): UnattributedSink {
    const children = new Map<string, Counter.Internal>();
    return (reason) => {
      let child = children.get(reason);
      if (child === undefined) children.set(reason, (child = this.counter.labels({ probe, reason })));
      child.inc();
    };
  }
}

/** The event stream's hold counters (see event-hold.ts). */
export function registerHeldEvents(registry: Registry, stats: EventStreamStats): void {
  counterFromTotal({
    name: 'kubepulse_events_held_total',
    help: 'Events held back until the pod watch delivered the pod their new cgroup names (see kubepulse_unattributed_events_total for those whose pod never came).',
    registry,
    total: () => stats.held,
  });
  counterFromTotal({
    name: 'kubepulse_events_hold_forced_total',
    help: 'Holds of events ended by the bound on held time or held batches rather than by the pod arriving.',
    registry,
    total: () => stats.holdsForced,
  });
}
