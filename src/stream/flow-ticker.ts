// Flow events for the live stream: about once a second while someone
// subscribes, every 5 s while only the history wants events, the flows map
// is read from the kernel (never per packet in user space) and every flow
// that is new or whose count grew since the last read is published with the
// growth. A read walks the whole map (up to 16,384 entries, each decoded
// and resolved): on an idle daemon it was most of the JavaScript thread's
// time (bench/daemon-cpu.mjs --profile), for events nobody was reading yet.

import type { FlowRecord } from '../api/v1.js';
import type { EventHub } from './hub.js';
import { FlowEventRecord } from './record.js';

export interface FlowSource {
  read(): FlowRecord[];
}

function flowKey(f: FlowRecord): string {
  return `${f.namespace}/${f.pod}|${f.direction}|${f.protocol}|${f.port}|${f.peer.address}`;
}

/** How often the map is read while no one subscribes (the history alone wants events). */
export const HISTORY_ONLY_EVERY_MS = 5000;

export class FlowTicker {
  private readonly counts = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private primed = false;
  private lastReadMs = -Infinity;
  /** Map reads done (for tests). */
  reads = 0;

  constructor(
    private readonly hub: EventHub,
    private readonly source: FlowSource,
    private readonly everyMs = 1000,
    private readonly historyOnlyEveryMs = HISTORY_ONLY_EVERY_MS,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.tick(), this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  tick(nowMs = Date.now()): number {
    if (!this.hub.wanted) {
      // Nobody listens: forget, so the next listener sees growth from then on.
      this.primed = false;
      this.counts.clear();
      return 0;
    }
    if (this.hub.subscriberCount === 0 && nowMs - this.lastReadMs < this.historyOnlyEveryMs) return 0;
    this.lastReadMs = nowMs;
    this.reads++;
    const seen = new Set<string>();
    let published = 0;
    for (const f of this.source.read()) {
      const key = flowKey(f);
      seen.add(key);
      const before = this.counts.get(key);
      this.counts.set(key, f.count);
      // On the first tick every known flow is "seen before": only flows
      // after it are events, with no burst of the whole table.
      if (!this.primed || f.count <= (before ?? 0)) continue;
      const id = { namespace: f.namespace, pod: f.pod, workload: f.workload, container: '', podUid: '' };
      this.hub.publish(new FlowEventRecord(nowMs, id, f.direction, f.protocol, f.port, f.peer, f.count, f.count - (before ?? 0)));
      published++;
    }
    for (const key of this.counts.keys()) if (!seen.has(key)) this.counts.delete(key);
    this.primed = true;
    return published;
  }
}
