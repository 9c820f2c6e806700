// Turns the addon's batches into calls to one handler per event type.
// A batch is a Buffer of records framed as [u32 length][u32 0][record]
// padded to 8 bytes; every record starts with struct kp_event_header
// (bpf/events.h). One DataView per batch; nothing allocated per event.
//
// A handler may throw EventHold (event-hold.ts): that record waits, with
// every later record of the same cgroup (bpf/events.h: every record carries
// its cgroup v2 id at byte 16), in order, copied out of its batch; records of
// other cgroups go on. The held records are offered again every retryMs, at
// once on retryHeld() (a pod arrived) and before every new batch, until the
// handler takes them or a bound is reached (maxHoldMs since the hold began,
// maxHeldBytes over all holds) -- then they are handed over with holding
// off. Nothing of this runs while no handler asks to hold. Held per cgroup,
// not for the node: one pod new to the daemon used to hold every later
// event of the node for up to its 1 s bound, on every live screen. Order
// within a cgroup is what matters (a DNS response follows its query, a close
// its connect: same socket, same cgroup); across cgroups the handlers share
// no state that depends on order. On a node where the cgroup v2 id says
// nothing (every process in the root: v1-only runtimes), all records share
// one key and a hold is the node's again, as before.
//
// Every batch keeps the time it reached user space, and a handler learns how
// long the record it is given has waited since (waitedMs in event-hold.ts):
// a held cgroup's records have been waiting, and the resolver's per-pod
// bound counts that wait.

import type { Addon, EventPollerHandle, EventPollerOptions } from './addon.js';
import { readU64 } from '../bytes.js';
import { EventHold, withHolding } from './event-hold.js';
import type { LoadedProbe } from './probe.js';

/** Reads one record: `offset` is where the record (its header) starts. */
export type EventHandler = (view: DataView, offset: number, length: number) => void;

const FRAME_HEADER = 8;
/** Where every record keeps its cgroup v2 id (bpf/events.h): what holds are kept by. */
export const RECORD_CGROUP_OFFSET = 16;

export interface EventStreamStats {
  /** Records per event type since start. */
  received: Map<number, number>;
  /** Records with an unknown type or a length their handler rejected. */
  malformed: number;
  batches: number;
  /** Records that were held (the handler threw EventHold for it, or for an earlier record of its cgroup). */
  held: number;
  /** Holds (a cgroup's) ended by a bound (maxHoldMs, maxHeldBytes) rather than by the handler. */
  holdsForced: number;
}

export interface EventStreamOptions {
  /** How often held records are offered again. */
  retryMs?: number;
  /** The longest a record is held; a safety bound (the resolver bounds holds per pod itself). */
  maxHoldMs?: number;
  /** Bytes of held records at most, over all cgroups; past it the oldest holds end. */
  maxHeldBytes?: number;
  now?: () => number;
  /** Called once when the poll thread ends with an error (no event arrives any more). */
  onFailure?: (error: Error) => void;
}

/** One cgroup's held records. */
interface HeldCgroup {
  /** The records, framed as in a batch, copied out of theirs (a held record must not keep a whole batch alive). */
  bytes: Buffer;
  /** Bytes of `bytes` in use. */
  end: number;
  /** Where handling resumes (a frame start). */
  offset: number;
  /** When its first record reached user space (dispatch). */
  readonly arrivedAt: number;
  /** When its first record was held. */
  readonly heldAt: number;
}

export class EventStream {
  readonly stats: EventStreamStats = { received: new Map(), malformed: 0, batches: 0, held: 0, holdsForced: 0 };
  /** Why the poll thread ended, if it did: no event arrives any more. */
  failure: Error | undefined;
  private poller: EventPollerHandle | undefined;
  private readonly handlers: Array<EventHandler | undefined> = [];
  /** cgroup id → its held records; in the order the holds began (a Map keeps insertion order). */
  private readonly held = new Map<number, HeldCgroup>();
  private heldBytes = 0;
  private heldCount = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly retryMs: number;
  private readonly maxHoldMs: number;
  private readonly maxHeldBytes: number;
  private readonly now: () => number;
  private readonly onFailure: (error: Error) => void;

  constructor(handlers: Map<number, EventHandler>, options: EventStreamOptions = {}) {
    for (const [type, handler] of handlers) this.handlers[type] = handler;
    this.retryMs = options.retryMs ?? 20;
    this.maxHoldMs = options.maxHoldMs ?? 3000;
    this.maxHeldBytes = options.maxHeldBytes ?? 16 << 20;
    this.now = options.now ?? (() => performance.now());
    this.onFailure = options.onFailure ?? (() => {});
  }

  /** Records waiting behind a hold (handed to JavaScript, not yet handled). */
  get heldRecords(): number {
    return this.heldCount;
  }

  /** Cgroups whose records are held now. */
  get heldCgroups(): number {
    return this.held.size;
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
    this.stats.batches++;
    // Held records first: a cgroup whose pod has arrived goes on with its
    // older records, before this batch's.
    if (this.held.size > 0) this.drain(false);
    withHolding(true, () => this.handleBatch(batch, arrivedAt));
    if (this.heldBytes > this.maxHeldBytes) this.endOldestHolds();
    if (this.held.size > 0) this.schedule();
  }

  /** Offers the held records again now (a pod the resolver waited for has arrived). */
  retryHeld(): void {
    if (this.held.size > 0) this.drain(false);
  }

  private schedule(): void {
    if (this.retryTimer !== undefined || this.held.size === 0) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.drain(false);
    }, this.retryMs);
  }

  /** Offers every held cgroup's records again, in order; force: with holding off. */
  private drain(force: boolean): void {
    const now = this.now();
    for (const [cgroup, h] of this.held) {
      if (force || now - h.heldAt >= this.maxHoldMs) this.endHold(cgroup, h);
      else if (!withHolding(true, () => this.handleHeld(h), Math.max(0, now - h.arrivedAt))) this.release(cgroup, h);
    }
    this.schedule();
  }

  /** Past maxHeldBytes: the oldest holds end, with holding off, until under it. */
  private endOldestHolds(): void {
    for (const [cgroup, h] of this.held) {
      if (this.heldBytes <= this.maxHeldBytes) break;
      this.endHold(cgroup, h);
    }
  }

  /** A bound ends a hold: its records go to their handlers with holding off. */
  private endHold(cgroup: number, h: HeldCgroup): void {
    withHolding(false, () => this.handleHeld(h));
    this.stats.holdsForced++;
    this.release(cgroup, h);
  }

  private release(cgroup: number, h: HeldCgroup): void {
    this.held.delete(cgroup);
    this.heldBytes -= h.bytes.length;
  }

  /** A fresh batch: every record to its handler, except those of a held cgroup, which join its hold. */
  private handleBatch(batch: Buffer, arrivedAt: number): void {
    const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
    const end = batch.byteLength;
    const counts: number[] = [];
    let offset = 0;
    while (offset + FRAME_HEADER <= end) {
      const frame = offset;
      const length = view.getUint32(offset, true);
      const record = offset + FRAME_HEADER;
      offset = record + ((length + 7) & ~7);
      if (length < 8 || record + length > end) {
        this.stats.malformed++;
        break;
      }
      if (this.held.size > 0) {
        const h = this.held.get(cgroupOf(view, record, length));
        if (h !== undefined) {
          this.append(h, batch, frame, Math.min(offset, end));
          continue;
        }
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
        this.hold(cgroupOf(view, record, length), batch, frame, Math.min(offset, end), arrivedAt);
        continue;
      }
      counts[type] = (counts[type] ?? 0) + 1;
    }
    this.count(counts);
  }

  /**
   * A held cgroup's records from where it stopped; true if one was held
   * again (the rest of them keep waiting), false once all are handled.
   */
  private handleHeld(h: HeldCgroup): boolean {
    const view = new DataView(h.bytes.buffer, h.bytes.byteOffset, h.end);
    const counts: number[] = [];
    let held = false;
    while (h.offset < h.end) {
      // Whole frames only: their lengths were checked on the way in.
      const length = view.getUint32(h.offset, true);
      const record = h.offset + FRAME_HEADER;
      const type = view.getUint32(record, true);
      const handler = this.handlers[type];
      try {
        // A record of no known type joined the hold by its cgroup id alone.
        if (handler === undefined) this.stats.malformed++;
        else handler(view, record, length);
      } catch (err) {
        if (!(err instanceof EventHold)) throw err;
        held = true;
        break;
      }
      if (handler !== undefined) counts[type] = (counts[type] ?? 0) + 1;
      h.offset = record + ((length + 7) & ~7);
      this.heldCount--;
    }
    this.count(counts);
    return held;
  }

  private hold(cgroup: number, batch: Buffer, from: number, to: number, arrivedAt: number): void {
    const h: HeldCgroup = { bytes: Buffer.allocUnsafe(Math.max(4096, to - from)), end: 0, offset: 0, arrivedAt, heldAt: this.now() };
    this.held.set(cgroup, h);
    this.heldBytes += h.bytes.length;
    this.append(h, batch, from, to);
  }

  /** Copies one frame (header, record, padding) to the end of a held cgroup's records. */
  private append(h: HeldCgroup, batch: Buffer, from: number, to: number): void {
    const n = to - from;
    if (h.end + n > h.bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(2 * h.bytes.length, h.end + n));
      h.bytes.copy(grown, 0, h.offset, h.end);
      this.heldBytes += grown.length - h.bytes.length;
      h.end -= h.offset;
      h.offset = 0;
      h.bytes = grown;
    }
    batch.copy(h.bytes, h.end, from, to);
    // The last frame of a batch may lack its padding; a held frame never does.
    h.bytes.fill(0, h.end + n, Math.min(h.bytes.length, h.end + ((n + 7) & ~7)));
    h.end += (n + 7) & ~7;
    this.heldCount++;
    this.stats.held++;
  }

  private count(counts: number[]): void {
    counts.forEach((n, type) => this.stats.received.set(type, (this.stats.received.get(type) ?? 0) + n));
  }
}

/** A record's cgroup id; records too short to carry one share key 0. */
function cgroupOf(view: DataView, record: number, length: number): number {
  return length >= RECORD_CGROUP_OFFSET + 8 ? readU64(view, record + RECORD_CGROUP_OFFSET) : 0;
}
