// `kubepulse status`: every agent's health, one row each. Exit 1 when any
// agent is unreachable or not ready.

import { parseArgs } from 'node:util';
import type { AgentStatus } from '../http/status.js';
import { getJson, joinUrl, SourceError } from '../policy/sources.js';
import { AGENT_OPTIONS, AGENT_USAGE, agentUrls, oneOfOutput, timeoutOf, type Io } from './agents.js';
import { colours, duration, table } from './render.js';

export const STATUS_USAGE = `Usage: kubepulse status [options]

Per agent: node, version, uptime, ready (and why not), probes and how each
attached, events/s and kernel drops per probe, pods known, flows tracked,
stream subscribers.

${AGENT_USAGE}
Output:
  -o table|json            (default table)

Exit status: 0 every agent ready, 1 an agent unreachable or not ready, 2 usage error.
`;

function isStatus(v: unknown): v is AgentStatus {
  const o = v as Partial<AgentStatus> | null;
  return typeof o === 'object' && o !== null && typeof o.node === 'string' && typeof o.ready === 'boolean' && Array.isArray(o.probes) && Array.isArray(o.reasons);
}

export async function fetchStatus(agent: string, timeoutMs: number): Promise<AgentStatus> {
  const body = await getJson(`agent ${agent}`, joinUrl(agent, '/api/v1/status'), { timeoutMs, maxBytes: 1 << 20 });
  if (!isStatus(body)) throw new SourceError(`agent ${agent}`, 'unexpected answer from /api/v1/status (is this a KubePulse agent?)');
  return body;
}

export async function runStatus(argv: string[], io: Io): Promise<number> {
  const { values } = parseArgs({ args: argv, options: AGENT_OPTIONS, allowPositionals: false, strict: true });
  if (values.help) {
    io.stdout.write(STATUS_USAGE);
    return 0;
  }
  const output = oneOfOutput(values.output, ['table', 'json'] as const);
  const warn = (line: string) => io.stderr.write(`kubepulse status: ${line}\n`);
  const urls = await agentUrls(values, warn);
  const timeoutMs = timeoutOf(values);
  const settled = await Promise.allSettled(urls.map((u) => fetchStatus(u, timeoutMs)));
  const rows: Array<{ agent: string; status: AgentStatus }> = [];
  let unreachable = 0;
  settled.forEach((s, i) => {
    if (s.status === 'fulfilled') rows.push({ agent: urls[i] as string, status: s.value });
    else {
      unreachable++;
      const e = s.reason as unknown;
      warn(e instanceof SourceError ? `${e.source}: ${e.reason}` : `agent ${urls[i]}: ${String(e)}`);
    }
  });
  if (output === 'json') {
    io.stdout.write(JSON.stringify(rows.map((r) => ({ agent: r.agent, ...r.status }))) + '\n');
  } else if (rows.length > 0) {
    const c = colours(io.stdout);
    io.stdout.write(
      table(
        ['AGENT', 'NODE', 'VERSION', 'UPTIME', 'READY', 'PODS', 'FLOWS', 'STREAMS', 'PROBES (hook, events/s, kernel drops)'],
        rows.map(({ agent, status: s }) => [
          agent,
          s.node,
          s.version,
          duration(s.uptime_seconds),
          s.ready ? c.green('yes') : c.red(`no: ${s.reasons.join('; ')}`),
          String(s.pods_known),
          String(s.flows_tracked),
          `${s.stream.subscribers}${s.stream.dropped_total > 0 ? ` (${s.stream.dropped_total} dropped)` : ''}`,
          s.probes
            .map((p) => (p.attached ? `${p.name}(${p.hook}, ${p.events_per_second}/s${p.dropped_total > 0 ? `, ${c.red(`${p.dropped_total} dropped`)}` : ''})` : c.red(`${p.name}(not attached)`)))
            .join(' '),
        ]),
      ),
    );
  }
  const notReady = rows.filter((r) => !r.status.ready).length;
  if (unreachable > 0 && rows.length > 0) warn(`${unreachable} of ${urls.length} agents unreachable`);
  return unreachable > 0 || notReady > 0 ? 1 : 0;
}
