// `kubepulse ui`: serves the topology page for the whole cluster on this
// machine, fed by Prometheus (and, with --discover/--agent, by the agents'
// live streams), until interrupted.

import { parseArgs } from 'node:util';
import { createLogger } from '../log.js';
import { rangeSeconds } from '../ui/range.js';
import { ClusterUi } from '../ui/cluster-server.js';
import { AGENT_OPTIONS, AGENT_USAGE, agentUrls, parseDurationMs, parseHttpUrl, timeoutOf, UsageError, type Io } from './agents.js';

export const UI_USAGE = `Usage: kubepulse ui --prometheus URL [options]

Serves the topology page for the whole cluster: workloads, Services, nodes
and external peers, the flows between them and where connects and DNS fail,
from the series Prometheus keeps (history as long as its retention).

  --prometheus URL         the Prometheus that scrapes the agents (required)
  --port PORT              where to serve the page (default 9091; 0 picks one)
  --listen-address ADDR    (default 127.0.0.1: this machine only)
  --range D                the page's default time range (default 15m)
  --slow-connect D         connect p99 above this marks a workload slow (default 500ms)

Live events beside the map (optional):
${AGENT_USAGE.replace(/^Agents \(at least one\):\n/, '')}

Exit status: 0 interrupted, 1 cannot serve, 2 usage error.
`;

const OPTIONS = {
  ...AGENT_OPTIONS,
  prometheus: { type: 'string' },
  port: { type: 'string' },
  'listen-address': { type: 'string' },
  range: { type: 'string' },
  'slow-connect': { type: 'string' },
} as const;

export async function runUi(argv: string[], io: Io, signal: AbortSignal): Promise<number> {
  const { values } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: false, strict: true });
  if (values.help) {
    io.stdout.write(UI_USAGE);
    return 0;
  }
  if (values.prometheus === undefined) throw new UsageError('--prometheus URL is required');
  const prometheus = parseHttpUrl(values.prometheus, '--prometheus');
  const port = Number(values.port ?? '9091');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port: expected a port, got "${values.port}"`);
  const defaultRange = values.range ?? '15m';
  try {
    rangeSeconds(defaultRange, '--range');
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const slowConnectSeconds = parseDurationMs(values['slow-connect'] ?? '500ms', '--slow-connect') / 1000;
  const timeoutMs = timeoutOf(values);
  const warn = (line: string) => io.stderr.write(`kubepulse ui: ${line}\n`);
  const wantsAgents = (values.agent?.length ?? 0) > 0 || values.discover === true;
  // Discovery runs per stream, so agents that come and go are followed.
  const agents = wantsAgents ? () => agentUrls(values, warn) : async () => [];
  const ui = new ClusterUi({ prometheus, agents, defaultRange, slowConnectSeconds, timeoutMs, log: createLogger('warn', (l) => io.stderr.write(l)) });
  const bound = await ui.listen(port, values['listen-address'] ?? '127.0.0.1');
  io.stdout.write(`kubepulse ui: serving http://${values['listen-address'] ?? '127.0.0.1'}:${bound}/ (Prometheus ${prometheus}${wantsAgents ? ', live events from the agents' : ''})\n`);
  if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  await ui.close();
  return 0;
}
