// When an unanswered DNS query becomes rcode="timeout": not when the wall
// clock says its timeout has passed, but when the events up to its kernel
// timestamp + timeout have been handled. Between the kernel and the
// collector an event waits in the ring buffer, in the poll thread's batch
// (up to its flush interval), in the queue to the JavaScript thread, and
// behind a record held for a pod not yet known. A daemon descheduled for
// seconds wakes with its expiry timer due and the answers still waiting
// there: judged by the wall clock, every query they answer would be a false
// timeout (seen in the soak under CPU starvation).
//
// So each tick asks how far the handled events reach, in kernel time:
// - the newest timestamp of a DNS event handled: events come out of the ring
//   in commit order, which is timestamp order up to a few microseconds of
//   skew between CPUs (SKEW_NS covers it), so nothing stamped before it still
//   waits. On a node with DNS traffic this moves with the traffic and alone
//   decides, whatever the scheduler does to the daemon;
// - on a quiet node, where no event moves it, the wall clock of the previous
//   tick, when at that tick the probe's ring was empty (everything committed
//   before then had been read by the poll thread), no record was held, and
//   this tick came on time and finds no record held (no stall of the daemon
//   in between, so the poll thread has flushed what it had read by then,
//   within its 100 ms flush interval, and the JavaScript thread has handled
//   it). A truly unanswered query on an idle node is then reported one to
//   two ticks after its timeout (it was within one).
// - a backstop: whatever the pipeline looks like, a query whose deadline the
//   wall clock passed more than BACKSTOP_NS ago expires. Without it a node
//   with no other DNS traffic and a daemon whose timer keeps running late
//   (a starved CPU) would never report the timeout at all; an answer that
//   waited in the daemon's pipeline longer than that is counted as one.

/** Clock-read order between CPUs' ring-buffer commits, and a margin over it. */
export const SKEW_NS = 10e6;
/** A tick later than this after the one before means the daemon stalled in between. */
export const LATE_NS = 500e6;
/** A deadline the wall clock passed this long ago expires, whatever the pipeline's state. */
export const BACKSTOP_NS = 10e9;

export interface ExpiryTarget {
  /** Kernel timestamp of the newest DNS event handled (0 before the first). */
  readonly newestEventNs: number;
  /** Expire the queries whose timeout ends at or before `throughNs` (kernel time every event before which has been handled), deciding at `nowNs`. */
  expire(throughNs: number, nowNs: number): number;
}

export interface PipelineState {
  /** The probe's ring buffer holds no record now; undefined when it cannot be read. */
  ringEmpty(): boolean | undefined;
  /** Records wait behind one held for a pod (handed to JavaScript, not yet handled). */
  held(): boolean;
}

export class DnsExpiry {
  private lastTickNs: number | undefined;
  /** The previous tick's time, when the pipeline was drained at it. */
  private drainedAtNs: number | undefined;

  constructor(
    private readonly target: ExpiryTarget,
    private readonly pipeline: PipelineState,
    private readonly intervalNs: number,
  ) {}

  /** One tick of the expiry timer at `nowNs` (CLOCK_MONOTONIC, the kernel's event clock). Returns how many queries expired. */
  tick(nowNs: number): number {
    const onTime = this.lastTickNs !== undefined && nowNs - this.lastTickNs <= this.intervalNs + LATE_NS;
    const held = this.pipeline.held();
    let through = this.target.newestEventNs - SKEW_NS;
    if (onTime && !held && this.drainedAtNs !== undefined) through = Math.max(through, this.drainedAtNs - SKEW_NS);
    through = Math.max(through, nowNs - BACKSTOP_NS);
    // A ring that cannot be read (closed meanwhile) counts as read: the poll thread is trusted then, as before.
    this.drainedAtNs = !held && this.pipeline.ringEmpty() !== false ? nowNs : undefined;
    this.lastTickNs = nowNs;
    return through > 0 ? this.target.expire(through, nowNs) : 0;
  }
}
