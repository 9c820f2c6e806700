// A quantile from cumulative histogram buckets, the way Prometheus's
// histogram_quantile() estimates it (linear within the bucket), so the page
// shows the same p50/p99 for an agent and for `kubepulse ui --prometheus`.

/** buckets: [upper bound, cumulative count], any order; +Inf as Infinity. null with no observations. */
export function histogramQuantile(q: number, buckets: ReadonlyArray<readonly [number, number]>): number | null {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [bound, count] of sorted) {
    if (count >= rank) {
      // The +Inf bucket has no width: answer the highest finite bound.
      if (bound === Infinity) return lowerBound;
      const inBucket = count - lowerCount;
      return inBucket <= 0 ? bound : lowerBound + (bound - lowerBound) * ((rank - lowerCount) / inBucket);
    }
    lowerBound = bound;
    lowerCount = count;
  }
  return lowerBound;
}
