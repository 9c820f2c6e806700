// How big a probe's ring buffer must be, from what it writes into it.
//
// Why per probe: a BPF ring buffer costs the daemon twice its size in
// resident memory, whether or not it is ever used — the kernel maps every
// page of it into the process at mmap time, and the data pages twice (so a
// record that wraps reads as one piece). At the old 4 MiB for every probe
// that was 16 MiB of the daemon's RSS for two rings that, at 10k conn/s,
// never held more than a few tens of KiB.
//
// What a ring must absorb: the poll thread (native/event_poller.cc), once
// records flow, drains every DRAIN_STEP_MS at the most, and sooner when the
// rate it observes would fill a quarter of the smallest ring before then. So
// a ring that holds four drain steps of records at the rate the probe must
// sustain never fills from the poller's own pace; what is left for the rest
// of the ring is the time JavaScript may be slow to take batches (beyond the
// batches already queued for it) — measured by the benchmark's max-rate runs.

/** The poll thread's longest wait between drains while records arrive (kDrainStepMs in native/event_poller.cc). */
export const DRAIN_STEP_MS = 10;

/** What the kernel adds to every ring-buffer record (struct bpf_ringbuf_hdr), and the alignment of records. */
export const RING_RECORD_HEADER_BYTES = 8;

/** The smallest ring the kernel takes: one page. */
export const MIN_RING_BYTES = 4096;

export interface RingDemand {
  /** Bytes of one record as the probe submits it (the event struct), before the ring's header. */
  recordBytes: number;
  /** Records per second the ring must take without dropping. */
  recordsPerSecond: number;
}

/** Bytes one record takes in the ring: its header, and the record rounded up to 8. */
export function ringRecordBytes(recordBytes: number): number {
  return RING_RECORD_HEADER_BYTES + Math.ceil(recordBytes / 8) * 8;
}

/**
 * The smallest power of two (at least a page) that holds four drain steps
 * of records at the given rate: the poller then never lets it pass a
 * quarter full at that rate.
 */
export function ringBytesFor(demand: RingDemand): number {
  if (!(demand.recordBytes > 0) || !(demand.recordsPerSecond > 0)) throw new RangeError('a ring demand needs a record size and a rate above 0');
  const perStep = (ringRecordBytes(demand.recordBytes) * demand.recordsPerSecond * DRAIN_STEP_MS) / 1000;
  let bytes = MIN_RING_BYTES;
  while (bytes < 4 * perStep) bytes *= 2;
  return bytes;
}

/** The highest rate a ring of `ringBytes` takes under the same rule (records per second). */
export function recordsPerSecondFor(ringBytes: number, recordBytes: number): number {
  return Math.floor((ringBytes / 4 / ringRecordBytes(recordBytes)) * (1000 / DRAIN_STEP_MS));
}
