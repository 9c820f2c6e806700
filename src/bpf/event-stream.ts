// Turns the addon's batches into calls to one handler per event type.
// A batch is a Buffer of records framed as [u32 length][u32 0][record]
// padded to 8 bytes; every record starts with struct kp_event_header
// (bpf/events.h). One DataView per batch; nothing allocated per event.
//
// A handler may throw EventHold (event-hold.ts): that record and every later
// one, of this batch and of the batches after it, wait in order and are
// handed over again every retryMs (or at once on retryHeld(), when a pod
// arrives), until the handler takes them or the hold bound is reached --
// then they are handed over with holding off. Nothing of this runs while no
// handler asks to hold.
//
// Every batch keeps the time it reached user space, and a handler learns how
// long the record it is given has waited since (waitedMs in event-hold.ts):
// records queued behind a hold have been waiting too, and the resolver's
// per-pod bound counts that wait, so that holds of several pods, one behind
// the other, do not add up.

import type { Addon, EventPollerHandle, EventPollerOptions } from './addon.js';
import { EventHold, withHolding } from './event-hold.js';
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
  /** Records that were held at least once (a handler threw EventHold). */
  held: number;
  /** Holds ended by the bound (maxHoldMs, maxHeldBatches) rather than by the handler. */
  holdsForced: number;
}

export interface EventStreamOptions {
  /** How often held records are offered again. */
  retryMs?: number;
  /** The longest a record is held; a safety bound (the resolver bounds holds per pod itself). */
  maxHoldMs?: number;
  /** Batches held at most; a further one ends the hold. */
  maxHeldBatches?: number;
  now?: () => number;
  /** Called once when the poll thread ends with an error (no event arrives any more). */
  onFailure?: (error: Error) => void;
}

interface HeldBatch {
  readonly batch: Buffer;
  /** When it reached user space (dispatch). */
  readonly arrivedAt: number;
  /** Where handling resumes (a frame start). */
  offset: number;
  /** When the first record of it was held (undefined: not yet offered). */
  heldAt: number | undefined;
}

export class EventStream {
  readonly stats: EventStreamStats = { received: new Map(), malformed: 0, batches: 0, held: 0, holdsForced: 0 };
  /** Why the poll thread ended, if it did: no event arrives any more. */
  failure: Error | undefined;
  private poller: EventPollerHandle | undefined;
  private readonly handlers: Array<EventHandler | undefined> = [];
  private readonly held: HeldBatch[] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly retryMs: number;
  private readonly maxHoldMs: number;
  private readonly maxHeldBatches: number;
  private readonly now: () => number;
  private readonly onFailure: (error: Error) => void;

  constructor(handlers: Map<number, EventHandler>, options: EventStreamOptions = {}) {
    for (const [type, handler] of handlers) this.handlers[type] = handler;
    this.retryMs = options.retryMs ?? 20;
    this.maxHoldMs = options.maxHoldMs ?? 3000;
    this.maxHeldBatches = options.maxHeldBatches ?? 256;
    this.now = options.now ?? (() => performance.now());
    this.onFailure = options.onFailure ?? (() => {});
  }

  /** Batches waiting behind a held record. */
  get heldBatches(): number {
    return this.held.length;
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
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.drain(true); // nothing is lost at shutdown: what was held is counted as it stands
  }

  /** Public so tests and the benchmark's synthetic path can feed batches. */
  dispatch(batch: Buffer): void {
    const arrivedAt = this.now();
    if (this.held.length > 0) {
      this.held.push({ batch, arrivedAt, offset: 0, heldAt: undefined });
      if (this.held.length > this.maxHeldBatches) this.drain(true);
      return;
    }
    const stopped = this.handle(batch, 0, true, arrivedAt);
    if (stopped !== undefined) this.hold({ batch, arrivedAt, offset: stopped, heldAt: this.now() });
  }

  /** Offers the held records again now (a pod the resolver waited for has arrived). */
  retryHeld(): void {
    if (this.held.length > 0) this.drain(false);
  }

  private hold(entry: HeldBatch): void {
    this.stats.held++;
    this.held.push(entry);
    this.schedule();
  }

  private schedule(): void {
    if (this.retryTimer !== undefined || this.held.length === 0) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.drain(false);
    }, this.retryMs);
  }

  /** Hands held batches over in order; force: with holding off. */
  private drain(force: boolean): void {
    while (this.held.length > 0) {
      const head = this.held[0]!;
      const tooLong = head.heldAt !== undefined && this.now() - head.heldAt >= this.maxHoldMs;
      if ((force || tooLong) && head.heldAt !== undefined) this.stats.holdsForced++;
      const stopped = this.handle(head.batch, head.offset, !(force || tooLong), head.arrivedAt);
      if (stopped !== undefined) {
        if (head.heldAt === undefined || stopped !== head.offset) {
          head.heldAt = this.now();
          this.stats.held++;
        }
        head.offset = stopped;
        this.schedule();
        return;
      }
      this.held.shift();
    }
  }

  /** Handles records from offset on; returns the offset of a record a handler held, else undefined. */
  private handle(batch: Buffer, from: number, holding: boolean, arrivedAt: number): number | undefined {
    return withHolding(holding, () => this.handleRecords(batch, from), Math.max(0, this.now() - arrivedAt));
  }

  private handleRecords(batch: Buffer, from: number): number | undefined {
    const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
    const end = batch.byteLength;
    const counts: number[] = [];
    let offset = from;
    let stopped: number | undefined;
    while (offset + FRAME_HEADER <= end) {
      const frame = offset;
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
      try {
        handler(view, record, length);
      } catch (err) {
        if (!(err instanceof EventHold)) throw err;
        stopped = frame;
        break;
      }
      counts[type] = (counts[type] ?? 0) + 1;
    }
    if (stopped === undefined) this.stats.batches++;
    counts.forEach((n, type) => this.stats.received.set(type, (this.stats.received.get(type) ?? 0) + n));
    return stopped;
  }
}
