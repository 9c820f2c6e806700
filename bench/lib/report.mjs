// Renders the benchmark results as Markdown: the targets first, then a table per load level.

const MiB = 1024 * 1024;

const fmt = {
  n: (x, d = 0) => (x === null || x === undefined || Number.isNaN(x) ? '–' : Number(x).toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })),
  pct: (x, d = 2) => (x === null || x === undefined ? '–' : `${(100 * x).toFixed(d)} %`),
  ratio: (x) => (x === null || x === undefined ? '–' : x.toFixed(3)),
  slow: (ratio) => (ratio === null || ratio === undefined ? '–' : `${((1 - ratio) * 100).toFixed(1)} %`),
  mib: (x) => (x === null || x === undefined || Number.isNaN(x) ? '–' : `${(x / MiB).toFixed(1)} MiB`),
  ms: (x, d = 1) => (x === null || x === undefined ? '–' : `${x.toFixed(d)} ms`),
};

function verdict(ok) {
  if (ok === null) return '';
  if (ok === undefined) return 'not measured';
  return ok ? 'met' : '**missed**';
}

// The rows of issue 12's target table, in its order: each figure measured
// in this run, side by side with the same load without KubePulse.
function targets(r) {
  const scenario = (name) => r.scenarios.find((s) => s.scenario === name);
  const at = (name) => scenario(name)?.modes?.kubepulse;
  const k10 = at('tcp-10k');
  const base10 = scenario('tcp-10k')?.baseline ?? {};
  const kmax = at('tcp-max');
  const d10 = at('dns-10k');
  const dmax = at('dns-max');
  const rows = [];
  const add = (figure, target, measured, ok) => rows.push(`| ${figure} | ${target} | ${measured} | ${verdict(ok)} |`);
  const known = (x) => x !== null && x !== undefined && !Number.isNaN(x);
  if (k10) {
    add('BPF ns per loopback connection, all default probes, both ends (10k conn/s)', '≤ 800', `${fmt.n(k10.bpfNsPerItem)} ns`, known(k10.bpfNsPerItem) ? k10.bpfNsPerItem <= 800 : null);
    add('Workload CPU per connection at 10k conn/s, with ÷ without', '≤ 1.05', fmt.ratio(k10.workloadCpuPerItemRatio), known(k10.workloadCpuPerItemRatio) ? k10.workloadCpuPerItemRatio <= 1.05 : null);
  }
  if (kmax || dmax)
    add(
      "Throughput kept at the generator's max rate, TCP / DNS",
      '≥ 0.95 / ≥ 0.90',
      `${fmt.ratio(kmax?.throughputRatio)} / ${fmt.ratio(dmax?.throughputRatio)}`,
      known(kmax?.throughputRatio) && known(dmax?.throughputRatio) ? kmax.throughputRatio >= 0.95 && dmax.throughputRatio >= 0.9 : null,
    );
  const sc = r.syscalls?.conditions;
  if (sc?.kubepulse) {
    const o = sc.kubepulse.outside;
    const pod = sc.kubepulse.pod;
    const d = sc['on-demand']?.outside;
    add(
      'Added ns per syscall for a process outside any pod (getppid loop); inside a pod cgroup',
      '≤ +10, or 0 where recording is off',
      `+${fmt.n(o.addedNs, 1)} ns, ×${fmt.ratio(o.ratio)} of ${fmt.n(sc.without.outside.nsPerCall, 1)} ns (pod: +${fmt.n(pod.addedNs, 1)} ns); ${d ? `on-demand, not recording: +${fmt.n(d.addedNs, 1)} ns` : 'on-demand not measured'}`,
      known(o.addedNs) ? o.addedNs <= 10 || (d !== undefined && d.addedNs <= 10) : null,
    );
  } else if (r.syscalls?.error) add('Added ns per syscall (getppid loop)', '≤ +10', r.syscalls.error, null);
  const idle = r.idle && !r.idle.error ? r.idle : undefined;
  if (k10 || d10 || idle) {
    const cpu = (m) => (m ? `${fmt.n(m.cpuPctCore, 2)} %` : '–');
    add(
      'Daemon CPU at 10k conn/s / at 10k DNS q/s / idle, % of a core',
      '≤ 0.5 / ≤ 1.5 / ≤ 0.2',
      `${cpu(k10)} / ${cpu(d10)} / ${cpu(idle)}${k10 ? ` (10k conn/s runs ${fmt.n(k10.cpuPctCoreRange[0], 2)}–${fmt.n(k10.cpuPctCoreRange[1], 2)})` : ''}`,
      k10 && d10 && idle ? k10.cpuPctCore <= 0.5 && d10.cpuPctCore <= 1.5 && idle.cpuPctCore <= 0.2 : null,
    );
  }
  if (k10) {
    const mode = r.config?.kube === 'in-cluster' ? 'Kubernetes mode, in-cluster' : 'no Kubernetes';
    add(`Daemon RSS steady at 10k conn/s (${mode})`, '≤ 80 MiB', `steady ${fmt.mib(k10.rssSteady)}, peak ${fmt.mib(k10.rssPeakMax)}${idle ? `; idle ${fmt.mib(idle.rssNow)}` : ''}`, k10.rssSteady <= 80 * MiB);
  }
  for (const s of [r.scrape, r.scrape20k].filter(Boolean)) {
    if (!s.skipped && !s.error)
      add(`\`/metrics\` with ${fmt.n(s.series)} series (${s.pods} pods × ${s.domains} domains, synthetic)`, '≤ 100 ms', `${fmt.ms(s.medianMs)} median, ${fmt.ms(s.p90Ms)} p90, ${fmt.n(s.bytes / 1024)} KiB`, s.medianMs <= 100);
    else add('`/metrics` with 55k series', '≤ 100 ms', s.skipped ?? s.error, null);
  }
  if (!r.scrape) add('`/metrics` with 55k series', '≤ 100 ms', 'not run', null);
  if (k10 || kmax) {
    const drops = (m) => (m ? `${fmt.n(m.dropped)} of ${fmt.n(m.produced)}` : '–');
    add('Drops at 10k conn/s and at max (TCP; DNS max)', '0', `${drops(k10)}; ${drops(kmax)}; ${drops(dmax)}`, [k10, kmax, dmax].every((m) => m === undefined || m.dropped === 0));
  }
  if (k10) add('p99 connect() latency at 10k conn/s (connect+accept+close per connection), with ÷ without', '–', `${fmt.ratio(k10.connectP99Ratio)} (${fmt.n(base10.connectP99Us, 1)} → ${fmt.n(k10.connectP99Us, 1)} µs)`, null);
  for (const row of largeClusterRows(r.largeCluster)) add(...row);
  if (!rows.length) return '';
  return ['| Figure | Target | Measured (median) | |', '|---|---|---|---|', ...rows].join('\n');
}

/** bench/kube.mjs's measureLargeCluster(), as target rows. */
function largeClusterRows(c) {
  if (!c) return [];
  if (c.error) return [['Daemon RSS watching a large cluster', '≤ 120 MiB', `failed: ${c.error.split('\n')[0]}`, null]];
  const { small, large } = c;
  return [
    [
      `Daemon RSS watching a large cluster (${fmt.n(c.pods)} pods, ${fmt.n(c.services)} Services, ${fmt.n(c.nodes)} nodes; in-cluster, idle, ${c.settleS} s after sync)`,
      '≤ 120 MiB',
      `${fmt.n(large.rssMiB, 1)} MiB (peak ${fmt.n(large.hwmMiB, 1)}); with a small cluster ${fmt.n(small.rssMiB, 1)} MiB: ${fmt.n(c.bytesPerObject)} bytes per object`,
      large.rssMiB <= 120,
    ],
    ['Start-up sync time, large cluster (spawn → /readyz and every peer watch synced)', '–', `${fmt.n(large.syncMs)} ms (small cluster ${fmt.n(small.syncMs)} ms)`, null],
  ];
}

function programs(m) {
  if (!m?.programs?.length) return '–';
  return m.programs.map((p) => `${p.name.replace(/\|/g, '/')}: ${fmt.n(p.nsPerHit)} ns × ${fmt.n(p.hitsPerRun)}`).join('<br>');
}

function levelTable(r) {
  const hasK = r.config.modes.includes('kubepulse');
  const hasP = r.config.modes.includes('bpftrace');
  const head = ['Load', 'Without (achieved/s)'];
  if (hasK)
    head.push('KubePulse: throughput ratio (slowdown)', 'workload CPU/item ratio', 'daemon CPU % core', 'CPU ms / 1k events', 'events/item', 'dropped / produced', 'RSS peak / steady', 'BPF ns per item');
  if (hasP) head.push('bpftrace: throughput ratio', 'workload CPU/item ratio', 'bpftrace CPU % core', 'RSS peak', 'BPF ns per item');
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const s of r.scenarios) {
    const load = `${s.kind.toUpperCase()} ${s.rate ? `${fmt.n(s.rate)}/s` : 'max'}`;
    const row = [load, fmt.n(s.baseline.throughput)];
    const k = s.modes.kubepulse;
    if (hasK)
      row.push(
        k ? `${fmt.ratio(k.throughputRatio)} (${fmt.slow(k.throughputRatio)})` : '–',
        fmt.ratio(k?.workloadCpuPerItemRatio),
        k ? `${fmt.n(k.cpuPctCore, 2)} (JS ${fmt.n(k.mainThreadPctCore, 2)} + other threads ${fmt.n(k.otherThreadsPctCore, 2)})` : '–',
        k ? fmt.n(k.cpuMsPer1kEvents, 2) : '–',
        k ? fmt.n(k.eventsPerItem, 2) : '–',
        k ? `${fmt.n(k.dropped)} / ${fmt.n(k.produced)} (${fmt.pct(k.dropRatio, 3)})` : '–',
        k ? `${fmt.mib(k.rssPeakMax)} / ${fmt.mib(k.rssSteady)}` : '–',
        k ? fmt.n(k.bpfNsPerItem) : '–',
      );
    const p = s.modes.bpftrace;
    if (hasP)
      row.push(
        p ? `${fmt.ratio(p.throughputRatio)} (${fmt.slow(p.throughputRatio)})` : 'n/a (TCP only)',
        fmt.ratio(p?.workloadCpuPerItemRatio),
        p ? fmt.n(p.cpuPctCore, 2) : '–',
        p ? fmt.mib(p.rssPeakMax) : '–',
        p ? fmt.n(p.bpfNsPerItem) : '–',
      );
    lines.push(`| ${row.join(' | ')} |`);
  }
  return lines.join('\n');
}

// The same daemon with an earlier build's BPF objects (--before-objects), other flags
// (--before-args) or an earlier build's dist/ (--before-dist), run by run beside it.
function beforeAfterTable(r) {
  if (!r.config.modes.includes('before')) return '';
  const what = [r.config.beforeObjects ? `the BPF objects in ${r.config.beforeObjects}` : '', r.config.beforeArgs ? `\`${r.config.beforeArgs.join(' ')}\`` : '', r.config.beforeDaemon ? `the daemon of ${r.config.beforeDaemon}` : '']
    .filter(Boolean)
    .join(' and ');
  const lines = [
    `## Daemon, before → after (before: the same daemon with ${what})`,
    '',
    '| Load | RSS steady | RSS peak | dropped / produced | daemon CPU, % of a core |',
    '|---|---|---|---|---|',
  ];
  for (const s of r.scenarios) {
    const b = s.modes.before;
    const a = s.modes.kubepulse;
    if (!a || !b) continue;
    const drops = (m) => `${fmt.n(m.dropped)} / ${fmt.n(m.produced)}`;
    lines.push(
      `| ${s.kind.toUpperCase()} ${s.rate ? `${fmt.n(s.rate)}/s` : 'max'} | ${fmt.mib(b.rssSteady)} → ${fmt.mib(a.rssSteady)} | ${fmt.mib(b.rssPeakMax)} → ${fmt.mib(a.rssPeakMax)} | ${drops(b)} → ${drops(a)} | ${fmt.n(b.cpuPctCore, 2)} → ${fmt.n(a.cpuPctCore, 2)} |`,
    );
  }
  lines.push(
    '',
    `## Kernel side, before → after (before: the same daemon with ${what})`,
    '',
    '| Load | BPF ns per item | workload CPU/item ratio | throughput ratio | p99 connect ratio | programs before: ns per hit × hits | programs after |',
    '|---|---|---|---|---|---|---|',
  );
  for (const s of r.scenarios) {
    const b = s.modes.before;
    const a = s.modes.kubepulse;
    if (!a || !b) continue;
    const arrow = (x, y, f) => `${f(x)} → ${f(y)}`;
    lines.push(
      `| ${s.kind.toUpperCase()} ${s.rate ? `${fmt.n(s.rate)}/s` : 'max'} | ${arrow(b.bpfNsPerItem, a.bpfNsPerItem, (x) => fmt.n(x))} | ${arrow(b.workloadCpuPerItemRatio, a.workloadCpuPerItemRatio, fmt.ratio)} | ${arrow(b.throughputRatio, a.throughputRatio, fmt.ratio)} | ${arrow(b.connectP99Ratio, a.connectP99Ratio, fmt.ratio)} | ${programs(b)} | ${programs(a)} |`,
    );
  }
  const sc = r.syscalls?.conditions;
  if (sc?.before && sc?.kubepulse) {
    lines.push('', '| getppid() loop | without | before | after |', '|---|---|---|---|');
    for (const where of ['outside', 'pod'])
      lines.push(`| ${where === 'pod' ? 'in a pod cgroup' : 'outside any pod'} | ${fmt.n(sc.without[where].nsPerCall, 1)} ns | ${fmt.n(sc.before[where].nsPerCall, 1)} ns (×${fmt.ratio(sc.before[where].ratio)}) | ${fmt.n(sc.kubepulse[where].nsPerCall, 1)} ns (×${fmt.ratio(sc.kubepulse[where].ratio)}) |`);
  }
  lines.push('');
  return lines.join('\n');
}

function syscallSection(r) {
  const sc = r.syscalls;
  if (!sc) return '';
  if (sc.error) return `## Syscall microbenchmark\n\n${sc.error}\n`;
  const lines = [
    '## Syscall microbenchmark (bench/syscall-loop.c)',
    '',
    `${fmt.n(sc.calls)} getppid() per round, 200 rounds per run (the least disturbed round counts), ${sc.reps} runs per condition, alternating; ratios with ÷ without in the same repetition.`,
    '',
    '| Condition | outside any pod: ns per call | ratio | added | in a pod cgroup: ns per call | ratio | added |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const [name, c] of Object.entries(sc.conditions))
    lines.push(`| ${name} | ${fmt.n(c.outside.nsPerCall, 1)} | ${fmt.ratio(c.outside.ratio)} | ${fmt.n(c.outside.addedNs, 1)} | ${fmt.n(c.pod.nsPerCall, 1)} | ${fmt.ratio(c.pod.ratio)} | ${fmt.n(c.pod.addedNs, 1)} |`);
  lines.push('');
  return lines.join('\n');
}

function pairTable(r) {
  const list = (xs) => (xs?.length ? xs.map((x) => (x === null ? '–' : x.toFixed(3))).join(' ') : '–');
  const lines = [
    '| Load | KubePulse throughput ratios | KubePulse workload CPU/item ratios | bpftrace throughput ratios | bpftrace workload CPU/item ratios |',
    '|---|---|---|---|---|',
  ];
  for (const s of r.scenarios) {
    const k = s.modes.kubepulse;
    const p = s.modes.bpftrace;
    lines.push(`| ${s.kind.toUpperCase()} ${s.rate ? `${fmt.n(s.rate)}/s` : 'max'} | ${list(k?.throughputRatios)} | ${list(k?.workloadCpuPerItemRatios)} | ${list(p?.throughputRatios)} | ${list(p?.workloadCpuPerItemRatios)} |`);
  }
  return lines.join('\n');
}

function programTable(r) {
  const lines = ['| Load | KubePulse programs: ns per hit × hits per run | bpftrace programs |', '|---|---|---|'];
  for (const s of r.scenarios)
    lines.push(`| ${s.kind.toUpperCase()} ${s.rate ? `${fmt.n(s.rate)}/s` : 'max'} | ${programs(s.modes.kubepulse)} | ${programs(s.modes.bpftrace)} |`);
  return lines.join('\n');
}

function profileSection(p) {
  if (!p) return '';
  if (p.error) return `## Daemon CPU profile\n\n${p.error}\n`;
  const rows = p.topFunctions.slice(0, 12).map((f) => `| ${f.name.replace(/\|/g, '/')} | ${fmt.n(f.ms, 1)} | ${fmt.n(f.pctOfBusy, 1)} % |`);
  const files = p.topFiles.slice(0, 8).map((f) => `| ${f.name} | ${fmt.n(f.ms, 1)} | ${fmt.n(f.pctOfBusy, 1)} % |`);
  return [
    `## Daemon CPU profile (node --cpu-prof, ${p.load}: ${fmt.n(p.connections)} connections, ${fmt.n(p.events)} events, daemon ${fmt.n(p.cpuPctCore, 1)} % of a core: main thread ${fmt.n(p.mainThreadPctCore, 1)} %, other threads ${fmt.n(p.otherThreadsPctCore, 1)} %)`,
    '',
    `Busy ${fmt.n(p.busyMs)} ms of the ${fmt.n(p.wallMs)} ms load window (JavaScript thread only; the native ring-buffer thread is not in a V8 profile).`,
    '',
    '| Function (self time) | ms | share of busy |',
    '|---|---|---|',
    ...rows,
    '',
    '| File / package | ms | share of busy |',
    '|---|---|---|',
    ...files,
    '',
    ...(p.perf
      ? [
          'All threads (perf record -g -p, 499 Hz, same window; JIT frames show as [JIT]):',
          '',
          '| DSO | share |',
          '|---|---|',
          ...p.perf.byDso.map((x) => `| ${x.name.replace(/\|/g, '/')} | ${x.pct.toFixed(1)} % |`),
          '',
          '| DSO and symbol (self) | share |',
          '|---|---|',
          ...p.perf.bySymbol.map((x) => `| ${x.name.replace(/\|/g, '/')} | ${x.pct.toFixed(1)} % |`),
          '',
        ]
      : []),
  ].join('\n');
}

export function renderMarkdown(r) {
  const m = r.machine;
  const out = [
    `# KubePulse benchmark — ${r.date.slice(0, 10)}`,
    '',
    `Kernel ${m.kernel}, ${m.cpus} × ${m.cpu}, ${fmt.n(m.memMiB)} MiB RAM, Node ${m.node}${r.commit ? `, commit ${r.commit}` : ''}. ` +
      `${r.config.reps} repetitions of ${r.config.modes.join(' / ')} per load level (alternating, ${r.config.durationS} s each), medians; ratios are with ÷ without, pair by pair. ` +
      `DNS server: ${r.config.dnsServer ?? '–'}. Run time ${r.elapsedS} s; load average before ${r.loadavgBefore}, after ${r.loadavgAfter} (other work on the machine shows up as noise).`,
    '',
    ...(() => {
      const d = (r.runs ?? []).filter((x) => x.foreignKpPrograms > 0).length;
      return d
        ? [`**Noise:** in ${d} of ${r.runs.length} runs another process's KubePulse BPF programs (a test suite's daemon) were attached, so that run's workload also paid for them.`, '']
        : [];
    })(),
    '## Against the targets',
    '',
    targets(r) || '_The daemon was not measured (not built)._',
    '',
    '## Per load level',
    '',
    levelTable(r),
    '',
    'Throughput ratio: achieved connections/s (TCP) or answered queries/s (DNS) with the tool ÷ without, median of the pairs; at fixed rates it stays near 1 while the machine keeps up, so the workload CPU/item ratio (the load generator\'s own user+sys time per connection or query, in which the kernel hooks run) is the overhead figure there. ' +
      'Daemon CPU: user+sys from /proc/<pid>/stat over the load window, % of one core. BPF ns per item: run_time_ns of the tool\'s programs (kernel.bpf_stats_enabled) per connection or query; hooks that fire for every process on the node count other processes\' hits too, so at low rates on a busy machine it over-states (ns per hit below is exact).',
    '',
    beforeAfterTable(r),
    syscallSection(r),
    '## Pair by pair (with ÷ without, in run order)',
    '',
    pairTable(r),
    '',
    '## BPF programs',
    '',
    programTable(r),
    '',
  ];
  if (r.scrape) out.push('## /metrics with a large label set', '');
  for (const s of [r.scrape, r.scrape20k].filter(Boolean)) {
    if (s.skipped || s.error) out.push(s.skipped ?? s.error, '');
    else
      out.push(
        `${s.pods} pods × ${s.domains} domains through \`${s.script}\`${s.fed?.dns && s.fed.dns !== 'fed' ? ` (DNS series: ${s.fed.dns})` : ''}: ${fmt.n(s.series)} series, ${fmt.n(s.bytes / 1024)} KiB; scrape ${fmt.ms(s.medianMs)} median, ${fmt.ms(s.p90Ms)} p90 (first ${fmt.ms(s.firstMs)}), ${fmt.ms(s.msPer10kSeries)} per 10k series; RSS peak ${fmt.mib(s.rssPeak)}.`,
        '',
        `Series by metric: ${Object.entries(s.seriesByMetric ?? {}).map(([k, v]) => `${k} ${fmt.n(v)}`).join(', ')}.`,
        '',
      );
  }
  if (r.micro?.length) {
    out.push(
      '## User-space cost per event, without the kernel',
      '',
      'TCP events in the kernel\'s layout fed in batches of 2,000 through EventStream.dispatch into the real TcpCollector (bench/collector-micro.mjs), and the same updates done on plain typed arrays (the floor).',
      '',
      '| Pods | Path | ns per event | GC share |',
      '|---|---|---|---|',
    );
    for (const m of r.micro) {
      if (m.error) out.push(`| ${m.pods} | ${m.error.split('\n')[0]} | | |`);
      else for (const x of m.results) out.push(`| ${m.pods} | ${x.name} | ${fmt.n(x.nsPerEvent)} | ${fmt.pct(x.gcShare, 1)} |`);
    }
    out.push('');
  }
  if (r.newCgroup) {
    const n = r.newCgroup;
    out.push('## First event of a new cgroup', '');
    if (n.error) out.push(`Not measured: ${n.error.split('\n')[0]}`, '');
    else
      out.push(
        `${n.cgroups} container cgroups made and removed before their first event (bench/new-cgroup.mjs, births by ${n.hook}): ${n.attributed} attributed; first event ${n.firstEventUs.median.toFixed(1)} µs median, ${n.firstEventUs.p90.toFixed(1)} µs p90 (the births lookup alone ${n.birthsLookupMedianUs.toFixed(1)} µs); a known cgroup ${fmt.n(n.knownCgroupNsPerEvent)} ns per event with ${n.birthsLookupsForKnown} births lookups. The old way, a rescan of the same tree: ${fmt.ms(n.oldWayRescanMs)}.`,
        '',
      );
  }
  out.push(profileSection(r.profile));
  return out.join('\n');
}
