// `kubepulse top`: the busiest and the most failing workloads right now,
// from the agents' live streams. On a terminal it redraws in place (the
// alternate screen; q or Ctrl-C quits); otherwise it prints a plain table
// per interval (once by default).

import { parseArgs } from 'node:util';
import { AGENT_OPTIONS, AGENT_USAGE, agentUrls, parseDurationMs, timeoutOf, UsageError, type Io } from './agents.js';
import { colours, seconds, table } from './render.js';
import { AgentStreamError, readEvents } from './sse-client.js';
import { TopWindow, type WorkloadRow } from './top-window.js';

export const TOP_USAGE = `Usage: kubepulse top [options]

The busiest and the most failing workloads over the last --window:
connections/s, connect failures, connect p99, DNS queries/s, DNS failure %.

${AGENT_USAGE}
  -n, --namespace NS       only these namespaces
  --window D               (default 10s)
  --interval D             refresh (default 2s)
  --iterations N           tables to show (default: until quit on a terminal, 1 otherwise)
  --rows N                 rows per table (default: what fits, 10 otherwise)

Exit status: 0 done, 1 no agent could be read, 2 usage error.
`;

const OPTIONS = {
  ...AGENT_OPTIONS,
  namespace: { type: 'string', short: 'n', multiple: true },
  window: { type: 'string' },
  interval: { type: 'string' },
  iterations: { type: 'string' },
  rows: { type: 'string' },
} as const;

function render(rows: WorkloadRow[], n: number, header: string, tty: boolean): string {
  const c = colours({ isTTY: tty });
  const pct = (v: number) => (v === 0 ? '0%' : `${v.toFixed(1)}%`);
  const cells = (r: WorkloadRow) => [
    r.namespace === '' ? r.workload : `${r.namespace}/${r.workload}`,
    r.connectionsPerSecond.toFixed(1),
    r.connectFailurePercent > 0 ? c.red(pct(r.connectFailurePercent)) : pct(0),
    seconds(r.connectP99Seconds),
    r.dnsPerSecond.toFixed(1),
    r.dnsFailurePercent > 0 ? c.red(pct(r.dnsFailurePercent)) : pct(0),
  ];
  const head = ['WORKLOAD', 'CONN/S', 'CONN FAIL', 'CONNECT P99', 'DNS/S', 'DNS FAIL'];
  const busiest = [...rows].sort((a, b) => b.connectionsPerSecond + b.dnsPerSecond - (a.connectionsPerSecond + a.dnsPerSecond)).slice(0, n);
  const failing = rows
    .filter((r) => r.connectFailurePercent > 0 || r.dnsFailurePercent > 0)
    .sort((a, b) => Math.max(b.connectFailurePercent, b.dnsFailurePercent) - Math.max(a.connectFailurePercent, a.dnsFailurePercent))
    .slice(0, n);
  return [
    c.bold(header),
    '',
    c.bold('Busiest'),
    table(head, busiest.map(cells)).trimEnd(),
    '',
    c.bold('Most failing'),
    failing.length > 0 ? table(head, failing.map(cells)).trimEnd() : '(none)',
    '',
  ].join('\n');
}

export async function runTop(argv: string[], io: Io, signal: AbortSignal): Promise<number> {
  const { values } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: false, strict: true });
  if (values.help) {
    io.stdout.write(TOP_USAGE);
    return 0;
  }
  const windowMs = parseDurationMs(values.window ?? '10s', '--window');
  const intervalMs = parseDurationMs(values.interval ?? '2s', '--interval');
  const tty = io.stdout.isTTY === true;
  const intOf = (v: string | undefined, flag: string): number | undefined => {
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new UsageError(`${flag}: "${v}" is not a positive whole number`);
    return Number(v);
  };
  const iterations = intOf(values.iterations, '--iterations') ?? (tty ? Infinity : 1);
  const rowsWanted = intOf(values.rows, '--rows');
  const warn = (line: string) => io.stderr.write(`kubepulse top: ${line}\n`);
  const urls = await agentUrls(values, warn);
  const timeoutMs = timeoutOf(values);
  const query = new URLSearchParams({ type: 'tcp,dns', follow: 'true' });
  for (const ns of values.namespace ?? []) query.append('namespace', ns);

  const window = new TopWindow(Math.max(1, Math.round(windowMs / 1000)));
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  signal.addEventListener('abort', onAbort);
  let failed = 0;
  const problems = new Map<string, string>();
  const streams = urls.map((agent) =>
    readEvents(agent, query, { onEvent: (m) => window.add(m.event), onLive: () => {}, onDropped: (a, n) => problems.set(a, `${n} events missed (too slow)`), onEnd: (a, r) => problems.set(a, `stream ended: ${r}`) }, { connectTimeoutMs: timeoutMs, idleTimeoutMs: 60_000, signal: stop.signal }).catch((err: unknown) => {
      if (!(err instanceof AgentStreamError)) throw err;
      failed++;
      problems.set(agent, err.reason);
      if (!tty) warn(err.message);
      if (failed === urls.length) stop.abort();
    }),
  );

  const out = io.stdout;
  if (tty) {
    out.write('\x1b[?1049h\x1b[?25l'); // alternate screen, hide the cursor
    if (process.stdin.isTTY) {
      process.stdin.setRawMode(true);
      process.stdin.resume();
      process.stdin.on('data', (d: Buffer) => {
        if (d.includes(0x71) || d.includes(0x03)) stop.abort(); // q, Ctrl-C
      });
    }
  }
  let shown = 0;
  try {
    while (!stop.signal.aborted && shown < iterations) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, shown === 0 && !tty ? Math.min(windowMs, Math.max(intervalMs, 1000)) : intervalMs);
        stop.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
      });
      if (stop.signal.aborted && failed < urls.length) break;
      const rows = window.rows();
      const fit = rowsWanted ?? (tty ? Math.max(3, Math.floor(((out.rows ?? 24) - 10) / 2)) : 10);
      const notes = [...problems].map(([a, p]) => `agent ${a}: ${p}`);
      const header = `kubepulse top — ${urls.length - failed}/${urls.length} agents, last ${Math.round(windowMs / 1000)}s, ${new Date().toISOString().slice(11, 19)}${tty ? '  (q quits)' : ''}`;
      const text = render(rows, fit, header, tty) + (tty && notes.length > 0 ? notes.join('\n') + '\n' : '');
      out.write(tty ? '\x1b[H\x1b[2J' + text : (shown > 0 ? '\n' : '') + text);
      shown++;
      if (failed === urls.length) break;
    }
  } finally {
    stop.abort();
    signal.removeEventListener('abort', onAbort);
    if (tty) {
      out.write('\x1b[?25h\x1b[?1049l');
      if (process.stdin.isTTY) {
        process.stdin.setRawMode(false);
        process.stdin.pause();
      }
      for (const [a, p] of problems) warn(`agent ${a}: ${p}`);
    }
  }
  await Promise.all(streams);
  return failed === urls.length ? 1 : 0;
}
