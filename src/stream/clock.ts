// Kernel timestamps (CLOCK_MONOTONIC ns, what process.hrtime reads) to
// wall-clock milliseconds for the stream. The offset between the two clocks
// is measured when first needed and again every 5 s (so a wall-clock step,
// e.g. by NTP, reaches the stream soon) by a timer, not per event: reading
// a clock costs ~120 ns on this project's VMs, more than the rest of an
// event's stream cost.

let offsetMs: number | undefined;

function measure(): number {
  return (offsetMs = Date.now() - Number(process.hrtime.bigint()) / 1e6);
}

export function monotonicToWallMs(tsNs: number): number {
  if (offsetMs === undefined) setInterval(measure, 5000).unref();
  return (offsetMs ?? measure()) + tsNs / 1e6;
}
