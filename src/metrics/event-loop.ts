// The event loop delay series of prom-client's default metrics
// (nodejs_eventloop_lag_seconds and its _min/_max/_mean/_stddev/_p50/_p90/_p99
// companions), from a histogram sampled once a second.
//
// Why not prom-client's own: its histogram (perf_hooks.monitorEventLoopDelay
// at a 10 ms resolution) wakes the event loop 100 times a second whatever
// the daemon does. A bare node process doing nothing else spends 0.36 % of a
// core on it on this project's VM (17 µs of CPU a wake-up), more than the
// daemon's whole idle budget (issue 12: 0.2 %); sampled once a second, 0.01 %.
// It cannot be left out of collectDefaultMetrics, so createRegistry gives it
// the largest resolution there is (it wakes once in 24 days) and replaces
// its series with these.
//
// What the coarser sampling means: a stall of the loop shorter than a second
// shows only when a sample falls inside it (a 200 ms stall one time in
// five); one of a second or more always shows. nodejs_eventloop_lag_seconds
// is measured at each scrape (a setImmediate), as prom-client does.
//
// The values are how late each sample came, the sampling interval not
// counted (Node's own histogram records the time between two samples,
// interval included: prom-client's series read about 0.0101 s on an idle
// loop, these about 0.0001 s). A sample is timed by this module, not by
// Node's histogram, which drops the first interval after every reset, so a
// stall just after a scrape would never show at a 1 s resolution.

import { createHistogram } from 'node:perf_hooks';
import { Gauge, type Registry } from 'prom-client';

export const EVENT_LOOP_SAMPLE_MS = 1000;
/** monitorEventLoopDelay's largest resolution (an int32 of ms, ~24.8 days): what prom-client's histogram gets. */
export const EVENT_LOOP_OUT_OF_REACH_MS = 2 ** 31 - 1;

const PERCENTILES = [50, 90, 99] as const;

/** The series prom-client's eventLoopLag metric registers, which registerEventLoopDelay serves instead. */
export const EVENT_LOOP_SERIES = [
  'nodejs_eventloop_lag_seconds',
  'nodejs_eventloop_lag_min_seconds',
  'nodejs_eventloop_lag_max_seconds',
  'nodejs_eventloop_lag_mean_seconds',
  'nodejs_eventloop_lag_stddev_seconds',
  ...PERCENTILES.map((p) => `nodejs_eventloop_lag_p${p}_seconds`),
] as const;

/** Replaces prom-client's event loop delay series in the registry with ones sampled every sampleMs. */
export function registerEventLoopDelay(registry: Registry, sampleMs = EVENT_LOOP_SAMPLE_MS): void {
  for (const name of EVENT_LOOP_SERIES) registry.removeSingleMetric(name);
  const histogram = createHistogram();
  let last = process.hrtime.bigint();
  const sampler = setInterval(() => {
    const now = process.hrtime.bigint();
    histogram.record(Math.max(1, Math.round(Number(now - last) - sampleMs * 1e6))); // ns late (at least 1: the histogram's floor)
    last = now;
  }, sampleMs);
  sampler.unref();
  const registers = [registry];
  // Registered first: the registry reads series in order, and this collect sets the others.
  new Gauge({
    name: 'nodejs_eventloop_lag_seconds',
    help: 'Lag of event loop in seconds (a setImmediate timed at the previous scrape).',
    registers,
    collect() {
      const start = process.hrtime.bigint();
      setImmediate(() => this.set(Number(process.hrtime.bigint() - start) / 1e9));
      const sampled = histogram.count > 0;
      min.set(sampled ? histogram.min / 1e9 : 0);
      max.set(sampled ? histogram.max / 1e9 : 0);
      mean.set(sampled ? histogram.mean / 1e9 : 0);
      stddev.set(sampled ? histogram.stddev / 1e9 : 0);
      for (const [p, g] of percentiles) g.set(sampled ? histogram.percentile(p) / 1e9 : 0);
      histogram.reset(); // each scrape starts a new window
    },
  });
  const gauge = (suffix: string, help: string) => new Gauge({ name: `nodejs_eventloop_lag_${suffix}_seconds`, help, registers });
  const min = gauge('min', `The minimum recorded event loop delay (sampled every ${sampleMs} ms), in seconds.`);
  const max = gauge('max', `The maximum recorded event loop delay (sampled every ${sampleMs} ms), in seconds.`);
  const mean = gauge('mean', `The mean of the recorded event loop delays (sampled every ${sampleMs} ms), in seconds.`);
  const stddev = gauge('stddev', `The standard deviation of the recorded event loop delays (sampled every ${sampleMs} ms), in seconds.`);
  const percentiles = PERCENTILES.map((p) => [p, gauge(`p${p}`, `The ${p}th percentile of the recorded event loop delays (sampled every ${sampleMs} ms), in seconds.`)] as const);
}
