// `kubepulse observe`: follow the agents' event streams, merged in time
// order, filtered in the agents.

import { parseArgs } from 'node:util';
import { FilterError, parseStreamQuery } from '../stream/filter.js';
import { AGENT_OPTIONS, AGENT_USAGE, agentUrls, oneOfOutput, timeoutOf, UsageError, type Io } from './agents.js';
import { colours, eventLine } from './render.js';
import { AgentStreamError, readEvents, type StreamEventMessage } from './sse-client.js';

export const OBSERVE_USAGE = `Usage: kubepulse observe [options]

Follows the decoded TCP, DNS and flow events of the agents, merged in time order.

${AGENT_USAGE}

Filters (evaluated in the agents; a list is comma-separated or the flag repeated):
  -n, --namespace NS       --pod PREFIX     --workload NAME
  --type tcp|dns|flow      --rcode NXDOMAIN,SERVFAIL,timeout,…   --result refused,timeout,…
  --domain D               --peer ADDR|ADDR:PORT|:PORT|NS/NAME
History:
  --last N                 the last N matching events each agent still holds
  --since D                events of the last D (5m) or since a time (RFC 3339)
  -f, --follow             keep following after the history (the default without --last/--since)
Output:
  -o table|wide|json       json: one object per line, as the agent sent it (default table)

Exit status: 0 done (or interrupted), 1 no agent could be read, 2 usage error.
`;

const OPTIONS = {
  ...AGENT_OPTIONS,
  namespace: { type: 'string', short: 'n', multiple: true },
  pod: { type: 'string', multiple: true },
  workload: { type: 'string', multiple: true },
  type: { type: 'string', multiple: true },
  rcode: { type: 'string', multiple: true },
  result: { type: 'string', multiple: true },
  domain: { type: 'string', multiple: true },
  peer: { type: 'string', multiple: true },
  last: { type: 'string' },
  since: { type: 'string' },
  follow: { type: 'boolean', short: 'f' },
} as const;

/** How long events from several agents wait to be put in time order. */
const REORDER_MS = 250;

export async function runObserve(argv: string[], io: Io, signal: AbortSignal): Promise<number> {
  const { values } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: false, strict: true });
  if (values.help) {
    io.stdout.write(OBSERVE_USAGE);
    return 0;
  }
  const output = oneOfOutput(values.output, ['table', 'wide', 'json'] as const);
  const query = new URLSearchParams();
  for (const key of ['namespace', 'pod', 'workload', 'type', 'rcode', 'result', 'domain', 'peer'] as const)
    for (const v of values[key] ?? []) query.append(key, v);
  if (values.last !== undefined) query.set('last', values.last);
  if (values.since !== undefined) query.set('since', values.since);
  const follow = values.follow === true || (values.last === undefined && values.since === undefined);
  query.set('follow', String(follow));
  try {
    parseStreamQuery(query); // the agents would say the same; say it before connecting
  } catch (err) {
    if (err instanceof FilterError) throw new UsageError(`bad filter: ${err.message}`);
    throw err;
  }
  const warn = (line: string) => io.stderr.write(`kubepulse observe: ${line}\n`);
  const urls = await agentUrls(values, warn);
  const timeoutMs = timeoutOf(values);
  const c = colours(io.stdout);

  const print = (m: StreamEventMessage) =>
    io.stdout.write(output === 'json' ? m.raw + '\n' : eventLine(m.event, c, output === 'wide') + '\n');
  // History from every agent first (sorted together, the last N overall),
  // then live events, held briefly when several agents are merged.
  let inHistory = true;
  const history: StreamEventMessage[] = [];
  const live: Array<{ at: number; m: StreamEventMessage }> = [];
  const timeOf = (m: StreamEventMessage) => Date.parse(String(m.event.time));
  /** Prints live events that have waited REORDER_MS (all of them at the end), in time order; none before the history. */
  const releaseLive = (all: boolean) => {
    if (inHistory) return;
    const cut = Date.now() - REORDER_MS;
    const waited = live.findIndex((x) => x.at > cut);
    const ready = live.splice(0, all || waited === -1 ? live.length : waited);
    ready.sort((a, b) => timeOf(a.m) - timeOf(b.m)).forEach((x) => print(x.m));
  };
  const pastHistory = new Set<string>();
  const historyOver = (agent: string) => {
    pastHistory.add(agent);
    if (inHistory && pastHistory.size === urls.length) finishHistory();
  };
  const finishHistory = () => {
    inHistory = false;
    history.sort((a, b) => timeOf(a) - timeOf(b));
    const n = values.last !== undefined ? Number(values.last) : history.length;
    for (const m of history.slice(Math.max(0, history.length - n))) print(m);
    history.length = 0;
  };
  const failed: string[] = [];
  let answered = 0;
  let badRequest: AgentStreamError | undefined;
  const timer = urls.length > 1 ? setInterval(() => releaseLive(false), 100) : undefined;

  await Promise.all(
    urls.map(async (agent) => {
      try {
        await readEvents(
          agent,
          query,
          {
            onEvent: (m) => {
              if (inHistory && !pastHistory.has(agent)) history.push(m);
              else if (urls.length === 1) print(m);
              else live.push({ at: Date.now(), m });
            },
            onLive: historyOver,
            onDropped: (a, missed) => warn(`agent ${a}: ${missed} events missed (this client was too slow; the agent dropped them)`),
            onEnd: (a, reason) => {
              if (reason !== 'history') warn(`agent ${a}: stream ended: ${reason}`);
            },
          },
          { connectTimeoutMs: timeoutMs, idleTimeoutMs: follow ? Math.max(60_000, timeoutMs) : timeoutMs * 6, signal },
        );
        answered++;
      } catch (err) {
        if (!(err instanceof AgentStreamError)) throw err;
        if (err.badRequest) badRequest = err;
        failed.push(agent);
        warn(err.message);
      } finally {
        historyOver(agent);
      }
    }),
  );
  if (inHistory) finishHistory();
  if (timer) clearInterval(timer);
  releaseLive(true);
  if (badRequest) return 2;
  return answered === 0 && failed.length > 0 ? 1 : 0;
}
