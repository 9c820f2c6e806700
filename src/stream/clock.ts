// Kernel timestamps (CLOCK_MONOTONIC ns, what process.hrtime reads) to
// wall-clock milliseconds for the stream. The offset is measured again every
// few seconds, so a wall-clock step (NTP) reaches the stream soon.

let offsetMs = 0;
let measuredAt = -Infinity;

export function monotonicToWallMs(tsNs: number): number {
  const nowMono = performance.now();
  if (nowMono - measuredAt > 5000) {
    measuredAt = nowMono;
    offsetMs = Date.now() - Number(process.hrtime.bigint()) / 1e6;
  }
  return offsetMs + tsNs / 1e6;
}
