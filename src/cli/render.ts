// Text output of the operator commands: aligned tables, one line per event,
// colour only on a terminal (and never with NO_COLOR).

export interface Colours {
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

const wrap = (code: string) => (s: string) => `\x1b[${code}m${s}\x1b[0m`;
const plain = (s: string) => s;

export function colours(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Colours {
  const on = stream.isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === '') && env.TERM !== 'dumb';
  return on
    ? { red: wrap('31'), green: wrap('32'), yellow: wrap('33'), dim: wrap('2'), bold: wrap('1') }
    : { red: plain, green: plain, yellow: plain, dim: plain, bold: plain };
}

/** Columns padded to their widest cell (measured without colour codes). */
export function table(header: string[], rows: string[][]): string {
  // eslint-disable-next-line no-control-regex
  const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '').length;
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => visible(r[i] ?? ''))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(Math.max(0, (widths[i] ?? 0) - visible(c)))))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export function seconds(s: unknown): string {
  if (typeof s !== 'number' || !Number.isFinite(s)) return '-';
  if (s < 0.001) return `${(s * 1e6).toFixed(0)}µs`;
  if (s < 1) return `${(s * 1000).toFixed(s < 0.01 ? 2 : 1)}ms`;
  return `${s.toFixed(2)}s`;
}

export function duration(totalSeconds: number): string {
  const s = Math.floor(totalSeconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d${h}h`;
  if (h > 0) return `${h}h${m}m`;
  if (m > 0) return `${m}m${s % 60}s`;
  return `${s}s`;
}

function clock(time: unknown): string {
  const t = typeof time === 'string' ? new Date(time) : new Date(NaN);
  if (Number.isNaN(t.getTime())) return String(time);
  return t.toISOString().slice(11, 23);
}

function who(e: Record<string, unknown>): string {
  const ns = String(e.namespace ?? '');
  const pod = String(e.pod ?? '');
  if (ns === '' && pod === '') return '(host)';
  return `${ns}/${pod === '' ? '?' : pod}`;
}

const FAILED_RESULTS = new Set(['refused', 'timeout', 'error', 'reset']);

function peerText(p: unknown): string {
  if (typeof p === 'string') return p;
  if (typeof p !== 'object' || p === null) return '-';
  const o = p as Record<string, unknown>;
  const name = o.kind === 'pod' ? `${String(o.namespace)}/${String(o.pod ?? o.workload)}` : o.kind === 'service' ? `svc ${String(o.namespace)}/${String(o.name)}` : String(o.kind);
  return `${name} ${String(o.address)}`;
}

/**
 * Who a TCP event's peer is, from its peer_* fields: "(shop/cart-7d9f-x2x9q)",
 * "(svc shop/cart)", "(node)", "(external)"; wide adds the kind and workload
 * of a pod. Empty for an event from an agent that does not resolve peers.
 */
function tcpPeerIdentity(e: Record<string, unknown>, wide: boolean): string {
  const kind = e.peer_kind;
  if (typeof kind !== 'string') return '';
  const ns = String(e.peer_namespace ?? '');
  if (kind === 'pod') {
    const name = `${ns}/${String(e.peer_pod ?? e.peer_workload ?? '?')}`;
    return wide ? ` (pod ${name}${e.peer_workload !== undefined ? `, workload ${String(e.peer_workload)}` : ''})` : ` (${name})`;
  }
  if (kind === 'service') return ` (svc ${ns}/${String(e.peer_name ?? '?')})`;
  return ` (${kind})`;
}

/** What the event says, after who and when: one line per type. */
export function summary(e: Record<string, unknown>, c: Colours, wide = false): string {
  if (e.type === 'tcp') {
    const result = String(e.result);
    const r = FAILED_RESULTS.has(result) ? c.red(result) : c.green(result);
    const t = e.latency_seconds !== undefined ? `connect ${seconds(e.latency_seconds)}` : `lived ${seconds(e.duration_seconds)}`;
    return `${r} → ${String(e.peer)}${tcpPeerIdentity(e, wide)} ${t}`;
  }
  if (e.type === 'dns') {
    const rcode = String(e.rcode);
    const r = rcode === 'NOERROR' ? c.green(rcode) : c.red(rcode);
    const t = e.latency_seconds !== undefined ? seconds(e.latency_seconds) : '';
    const server = e.server !== undefined ? `@${String(e.server)}` : '';
    return [r, String(e.qtype), String(e.name), t, server].filter((p) => p !== '').join(' ');
  }
  if (e.type === 'flow') {
    const arrow = e.direction === 'ingress' ? '←' : '→';
    return `${String(e.protocol)}/${String(e.port)} ${arrow} ${peerText(e.peer)} +${String(e.delta)} (${String(e.count)})`;
  }
  return JSON.stringify(e);
}

export function eventLine(e: Record<string, unknown>, c: Colours, wide: boolean): string {
  const cells = [c.dim(clock(e.time))];
  if (wide) cells.push(String(e.node ?? ''));
  cells.push(who(e));
  if (wide) cells.push(`${String(e.workload || '-')}${e.container ? `/${String(e.container)}` : ''}`);
  cells.push(String(e.type).padEnd(4), summary(e, c, wide));
  return cells.join('  ');
}
