#!/usr/bin/env node
// The soak's verdict and report, from what run.mjs wrote into its directory
// (samples.jsonl, run.json): report.md and PNG plots (RSS, CPU, load,
// series, events/s, scrape time) beside them. Runs again on its own:
//   node bench/soak/report.mjs [build/soak]
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lineChart } from './png.mjs';

const BLUE = [31, 119, 180];
const ORANGE = [255, 127, 14];
const GREEN = [44, 160, 44];
const RED = [214, 39, 40];
const PURPLE = [148, 103, 189];
const GREY = [127, 127, 127];

/** Least-squares slope of y over x. */
function slope(points) {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return { slope: num / den, intercept: my - (num / den) * mx };
}

function quantile(values, q) {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

const median = (v) => quantile(v, 0.5);
const round = (v, d = 1) => (Number.isFinite(v) ? Math.round(v * 10 ** d) / 10 ** d : v);

export function writeReport(dir) {
  const run = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
  const samples = readFileSync(join(dir, 'samples.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  const last = samples[samples.length - 1] ?? {};
  const min = (s) => s.t / 60;

  // RSS slope after warm-up, MiB per 10 minutes. Warm-up lasts until the
  // load is steady: the load-only phase, then a pod lifetime and a grace
  // period into churn, after which the pods alive and the deleted pods'
  // series still in grace stay constant. Before that the daemon's working set
  // rises to the plateau of what churn keeps live (a step, not a leak: the
  // 2026-12-02 run stepped 142 → 170 MiB, then fell 1.56 MiB / 10 min). The
  // fit runs from there to the end of the run, tail included: a leak shows
  // in it, and so does memory kept after churn stops.
  const steadyFrom = run.warmupS + (run.podLifetimeS ?? 0) + (run.graceS ?? 0);
  const after = samples.filter((s) => s.t >= steadyFrom);
  const fit = slope(after.map((s) => [s.t, s.rssMiB]));
  const rssPer10Min = fit.slope * 600;
  // Shown beside it, not criteria: the V8 heap over the same window (a leak
  // in JavaScript shows there first), and the RSS slope from the end of the
  // load-only phase, step included.
  const heapFit = after.length >= 3 && after.every((s) => typeof s.heapUsedMiB === 'number') ? slope(after.map((s) => [s.t, s.heapUsedMiB])).slope * 600 : undefined;
  const fromLoadOnly = slope(samples.filter((s) => s.t >= run.warmupS).map((s) => [s.t, s.rssMiB])).slope * 600;

  // Series back to the baseline.
  const baseline = run.baseline ?? { series: NaN, families: {} };
  const final = run.final ?? { series: NaN, churnSeries: NaN, families: {} };
  const familyDiff = Object.keys({ ...baseline.families, ...final.families })
    .map((f) => [f, (final.families[f] ?? 0) - (baseline.families[f] ?? 0)])
    .filter(([, d]) => d !== 0);
  const peakChurnSeries = Math.max(0, ...samples.map((s) => s.churnSeries));
  // Which pod series the final page has that the baseline did not. Churned
  // pods' are what must be gone; the load pod lives through the whole run,
  // and its traffic may still add a label value the baseline had not seen
  // (a connect ending in result="error" at 5,000/s): a series of a live pod
  // within its label set, listed, not a leak. Anything else fails.
  // Runs before run.json recorded it: run.mjs names it after the node's id.
  const loadNs = run.loadNamespace ?? run.daemonArgs[run.daemonArgs.indexOf('--node-name') + 1]?.replace(/^soak-node-/, 'soak-load-');
  const podKeys = (file) => {
    try {
      return new Set(
        readFileSync(join(dir, file), 'utf8')
          .split('\n')
          .filter((l) => l !== '' && l[0] !== '#' && /[{,]namespace="[^"]/.test(l))
          .map((l) => l.slice(0, l.lastIndexOf(' '))),
      );
    } catch {
      return undefined; // a run from before the pages were kept
    }
  };
  const baselineKeys = podKeys('baseline.prom');
  const finalKeys = podKeys('final.prom');
  const newPodSeries = baselineKeys && finalKeys ? [...finalKeys].filter((k) => !baselineKeys.has(k)) : undefined;
  const newOfLoadPod = newPodSeries?.filter((k) => k.includes(`namespace="${loadNs}"`)) ?? [];
  const newOther = newPodSeries?.filter((k) => !k.includes(`namespace="${loadNs}"`)) ?? [];

  // Drops.
  const dropped = last.dropped ?? 0;
  const streamDropped = last.streamDropped ?? 0;
  const missed = last.subscriberMissed ?? 0;

  // Scrapes.
  const times = samples.map((s) => s.scrapeMs);
  const slow = samples.filter((s) => s.scrapeMs > 100);
  const errors = (run.logCounts.error ?? 0) + (run.logCounts.other ?? 0);
  const alwaysReady = samples.every((s) => s.ready === 1);
  const daemonSurvived = run.daemonExit === undefined || run.daemonExit.code === 0;

  const criteria = [
    ['RSS slope after warm-up (from steady churn, at ' + steadyFrom + ' s, to the end)', '≤ 1 MiB / 10 min', `${round(rssPer10Min, 2)} MiB / 10 min`, rssPer10Min <= 1],
    [
      'pod series after churn + grace',
      `none of a churned pod; no other beyond the baseline's (${baseline.podSeries}) but new label values of the live load pod`,
      `${final.churnSeries} of churned pods (${peakChurnSeries} at the peak); ${final.podSeries} pod series` +
        (newPodSeries === undefined ? '' : `, ${newOfLoadPod.length} new of the load pod, ${newOther.length} new of others`) +
        `; all series ${final.series} (baseline ${baseline.series})`,
      final.churnSeries === 0 && (newPodSeries === undefined ? final.podSeries <= baseline.podSeries : newOther.length === 0),
    ],
    ['events dropped in the kernel', '0', String(dropped), dropped === 0],
    ['events dropped for the stream subscriber', '0', `${streamDropped} (subscriber saw ${missed} missed)`, streamDropped === 0 && missed === 0],
    ['error log lines', '0', String(errors), errors === 0],
    ['scrape time', '≤ 100 ms each', `max ${round(Math.max(...times))} ms, p99 ${round(quantile(times, 0.99))} ms, p50 ${round(median(times))} ms; ${slow.length} of ${samples.length} over 100 ms; ${run.scrapeFailures} failed`, slow.length === 0 && run.scrapeFailures === 0],
  ];
  const extra = [
    ['ready at every scrape', alwaysReady],
    ['daemon ran to the end and exited 0 on SIGTERM', daemonSurvived],
  ];
  const pass = criteria.every((c) => c[3]) && extra.every((e) => e[1]);

  // Plots.
  const bands = [
    { from: 0, to: run.warmupS / 60, color: [246, 244, 232], label: 'WARM-UP' },
    { from: run.warmupS / 60, to: steadyFrom / 60, color: [250, 240, 230], label: 'CHURN RAMP' },
    { from: (run.warmupS + run.churnS) / 60, to: Math.max(last.t ?? 0, run.seconds) / 60, color: [232, 243, 246], label: 'TAIL' },
  ];
  const plot = (file, spec) => writeFileSync(join(dir, file), lineChart({ xLabel: 'minutes', bands, ...spec }));
  const pts = (key, scale = 1) => samples.map((s) => [min(s), s[key] * scale]);
  plot('rss.png', {
    title: 'Daemon RSS, V8 heap (MiB)',
    lines: [
      { name: 'RSS', color: BLUE, points: pts('rssMiB') },
      { name: `fit ${round(rssPer10Min, 2)} MiB/10 min`, color: RED, points: [steadyFrom, last.t].map((t) => [t / 60, fit.intercept + fit.slope * t]), width: 1 },
      ...(samples.some((s) => s.heapTotalMiB !== undefined)
        ? [
            { name: 'heap', color: GREY, points: samples.filter((s) => s.heapTotalMiB !== undefined).map((s) => [min(s), s.heapTotalMiB]), width: 1 },
            { name: 'used', color: PURPLE, points: samples.filter((s) => s.heapUsedMiB !== undefined).map((s) => [min(s), s.heapUsedMiB]), width: 1 },
          ]
        : []),
    ],
  });
  plot('cpu.png', {
    title: 'CPU (% of one core)',
    lines: [
      { name: 'daemon', color: BLUE, points: pts('cpuPct') },
      { name: 'whole machine (% of all cores)', color: GREY, points: pts('hostBusyPct'), width: 1 },
    ],
  });
  plot('load.png', {
    title: 'Machine load',
    lines: [
      { name: 'load average (1 min)', color: PURPLE, points: pts('load1') },
      { name: 'CPU pressure some avg10 %', color: GREY, points: pts('cpuPressure'), width: 1 },
    ],
  });
  plot('sched.png', {
    title: 'Daemon threads (ms per s)',
    lines: [
      { name: 'running', color: BLUE, points: pts('runMsPerS') },
      { name: 'runnable, waiting', color: RED, points: pts('waitMsPerS') },
    ],
  });
  plot('series.png', {
    title: 'Series on /metrics',
    lines: [
      { name: 'all', color: BLUE, points: pts('series') },
      { name: 'of pods', color: PURPLE, points: pts('podSeries'), width: 1 },
      { name: 'of churned pods', color: ORANGE, points: pts('churnSeries') },
      { name: 'pods alive x10', color: GREEN, points: pts('podsAlive', 10), width: 1 },
    ],
    limits: [{ y: baseline.podSeries, color: RED, label: `pod series baseline ${baseline.podSeries}` }],
  });
  plot('events.png', {
    title: 'Events per second',
    lines: [
      { name: 'from the kernel (all probes)', color: BLUE, points: pts('eventsPerS') },
      { name: 'to the stream subscriber', color: ORANGE, points: pts('subscribedPerS'), width: 1 },
    ],
  });
  plot('scrape.png', { title: 'Scrape time (ms)', lines: [{ name: 'GET /metrics', color: BLUE, points: pts('scrapeMs') }], limits: [{ y: 100, color: RED, label: 'limit 100 ms' }] });

  // The report.
  const g = run.generators ?? {};
  const storm = g['tcp-storm'] ?? {};
  const dnsLoad = g['dns-load'] ?? {};
  const loads = samples.map((s) => s.load1);
  const busy = samples.map((s) => s.hostBusyPct);
  const ok = (b) => (b ? 'pass' : '**FAIL**');
  const md = [
    `# Soak ${pass ? 'PASS' : 'FAIL'} — ${run.started} (${round(run.seconds / 60)} min)`,
    '',
    `Commit ${run.commit}, kernel ${run.kernel}, ${run.cpus} CPUs shared with other work, Node ${run.node}.`,
    `Daemon: \`kubepulse ${run.daemonArgs.join(' ')}\`, NODE_OPTIONS=\`${run.nodeOptions ?? ''}\`.`,
    ...(run.cpuProfiled ? ['**The daemon ran under --cpu-prof (diagnosis): its CPU and scrape figures are higher than an unprofiled run.**'] : []),
    '',
    `Load: tcp-storm ${run.tcpRate} conn/s target, achieved ${round(storm.achieved_rate ?? NaN)} conn/s (${storm.connections ?? '?'} connections); ` +
      `dns-load ${run.dnsRate} q/s target, achieved ${round(dnsLoad.achieved_qps ?? NaN)} q/s, rcodes ${JSON.stringify(dnsLoad.rcodes ?? {})}, ${dnsLoad.unanswered ?? '?'} unanswered; ` +
      `${run.churnCreated} pods created and ${run.churnDeleted} deleted (${run.pods} planned, ${run.podLifetimeS} s each, a process in each), a scrape every ${run.scrapeEveryS} s, one live subscriber (${last.subscribed ?? 0} events received, ${last.subscriberReconnects ?? 0} reconnects).`,
    `Phases: warm-up ${run.warmupS} s, churn ${run.churnS} s, tail ${run.tailS} s (series grace ${run.graceS} s).`,
    `Warm-up ends when churn is steady, at ${steadyFrom} s (the load-only phase, a pod lifetime, a series grace period: pods alive and deleted pods' series in grace constant from there). ` +
      `Beside the RSS criterion, for diagnosis: V8 heap used slope over the same window ${heapFit === undefined ? '–' : round(heapFit, 2)} MiB / 10 min; RSS slope from the end of the load-only phase (${run.warmupS} s, the step into churn included) ${round(fromLoadOnly, 2)} MiB / 10 min` +
      `${after.length > 0 && after[0].heapTotalMiB !== undefined ? `; after warm-up, heap total median ${round(median(after.map((s) => s.heapTotalMiB)))} MiB, RSS median ${round(median(after.map((s) => s.rssMiB)))} MiB` : ''}.`,
    `Counted by the daemon for the load pod: ${last.loadTcp ?? 0} TCP connection events, ${last.loadDns ?? 0} DNS queries; for the churned pods: ${last.churnTcp ?? 0} and ${last.churnDns ?? 0}.`,
    '',
    `Machine: load average median ${round(median(loads))}, max ${round(Math.max(...loads))}; all-CPU busy median ${round(median(busy))} %, max ${round(Math.max(...busy))} %; ` +
      `CPU pressure (PSI some avg10) median ${round(median(samples.map((s) => s.cpuPressure)))} %. ` +
      `The daemon's threads ran ${round(median(samples.map((s) => s.runMsPerS)))} ms and waited runnable for a CPU ${round(median(samples.map((s) => s.waitMsPerS)))} ms per second (medians; /proc/<pid>/task/*/schedstat).`,
    '',
    '| criterion | target | measured | |',
    '|---|---|---|---|',
    ...criteria.map(([name, target, measured, passed]) => `| ${name} | ${target} | ${measured} | ${ok(passed)} |`),
    ...extra.map(([name, passed]) => `| ${name} | | | ${ok(passed)} |`),
    '',
  ];
  if (familyDiff.length > 0)
    md.push(
      'Series families that differ from the baseline (final − baseline, all series: the host\'s, namespace="", also count other traffic on this shared machine): ' +
        familyDiff.map(([f, d]) => `\`${f}\` ${d > 0 ? '+' : ''}${d}`).join(', ') +
        '.',
      '',
    );
  if (newPodSeries !== undefined && newPodSeries.length > 0)
    md.push('Pod series on the final page that the baseline did not have:', '', ...newPodSeries.map((k) => `- \`${k}\``), '');
  if (slow.length > 0) {
    md.push(
      'Slowest scrapes, with the machine at that moment (to first byte: from the connection made to the answer\'s first byte, the rest being curl taking the page in):',
      '',
      '| t (s) | scrape ms | to first byte, ms | load1 | machine busy % | daemon CPU % | daemon waited runnable, ms/s |',
      '|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const s of [...slow].sort((a, b) => b.scrapeMs - a.scrapeMs).slice(0, 10))
      md.push(`| ${s.t} | ${s.scrapeMs} | ${s.scrapeFirstByteMs ?? '–'} | ${s.load1} | ${s.hostBusyPct} | ${s.cpuPct} | ${s.waitMsPerS ?? '–'} |`);
    md.push('', `Load average during scrapes over 100 ms: median ${round(median(slow.map((s) => s.load1)))}; during the others: median ${round(median(samples.filter((s) => s.scrapeMs <= 100).map((s) => s.load1)))}.`, '');
  }
  if (run.notableLogs.length > 0) {
    md.push(`Log lines above info (${run.logCounts.warn} warn, ${run.logCounts.error} error, ${run.logCounts.other} not JSON; first ${Math.min(10, run.notableLogs.length)}):`, '', '```');
    for (const l of run.notableLogs.slice(0, 10)) md.push(JSON.stringify(l).slice(0, 400));
    md.push('```', '');
  }
  if (run.churnFailures.length > 0) md.push(`Churn failures: ${run.churnFailures.slice(0, 5).join('; ')}`, '');
  md.push('![RSS](rss.png)', '![CPU](cpu.png)', '![load](load.png)', '![sched](sched.png)', '![series](series.png)', '![events](events.png)', '![scrape](scrape.png)', '');
  writeFileSync(join(dir, 'report.md'), md.join('\n'));
  return { pass, criteria };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = resolve(process.argv[2] ?? 'build/soak');
  const { pass } = writeReport(dir);
  console.log(`${join(dir, 'report.md')}: ${pass ? 'PASS' : 'FAIL'}`);
}
