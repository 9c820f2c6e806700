// Turns the addon's batches into calls to one handler per event type.
// A batch is a Buffer of records framed as [u32 length][u32 0][record]
// padded to 8 bytes; every record starts with struct kp_event_header
// (bpf/events.h). One DataView per batch; nothing allocated per event.

import type { Addon, EventPollerHandle, EventPollerOptions } from './addon.js';
import type { LoadedProbe } from './probe.js';

/** Reads one record: `offset` is where the record (its header) starts. */
export type EventHandler = (view: DataView, offset: number, length: number) => void;

const FRAME_HEADER = 8;

export interface EventStreamStats {
  /** Records per event type since start. */
  received: Map<number, number>;
  /** Records with an unknown type or a length their handler rejected. */
  malformed: number;
  batches: number;
}

export class EventStream {
  readonly stats: EventStreamStats = { received: new Map(), malformed: 0, batches: 0 };
  /** Why the poll thread ended, if it did: no event arrives any more. */
  failure: Error | undefined;
  private poller: EventPollerHandle | undefined;
  private readonly handlers: Array<EventHandler | undefined> = [];

  constructor(
    handlers: Map<number, EventHandler>,
    private readonly onFailure: (error: Error) => void = () => {},
  ) {
    for (const [type, handler] of handlers) this.handlers[type] = handler;
  }

  start(addon: Addon, probes: LoadedProbe[], options?: EventPollerOptions): void {
    const streaming = probes.filter((p) => p.streams);
    if (streaming.length === 0) return;
    this.poller = new addon.EventPoller(
      streaming.map((p) => [p.object, 'events']),
      (batch, error) => {
        if (batch !== null) this.dispatch(batch);
        else this.fail(error ?? new Error('event poller ended without a reason'));
      },
      options,
    );
    this.poller.start();
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.onFailure(error);
  }

  stop(): void {
    this.poller?.stop();
    this.poller = undefined;
  }

  /** Public so tests and the benchmark's synthetic path can feed batches. */
  dispatch(batch: Buffer): void {
    const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
    const end = batch.byteLength;
    const counts: number[] = [];
    let offset = 0;
    while (offset + FRAME_HEADER <= end) {
      const length = view.getUint32(offset, true);
      const record = offset + FRAME_HEADER;
      offset = record + ((length + 7) & ~7);
      if (length < 8 || record + length > end) {
        this.stats.malformed++;
        break;
      }
      const type = view.getUint32(record, true);
      const handler = this.handlers[type];
      if (handler === undefined) {
        this.stats.malformed++;
        continue;
      }
      counts[type] = (counts[type] ?? 0) + 1;
      handler(view, record, length);
    }
    this.stats.batches++;
    counts.forEach((n, type) => this.stats.received.set(type, (this.stats.received.get(type) ?? 0) + n));
  }
}
