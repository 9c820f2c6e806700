// `kubepulse flows`: the flows the agents hold, aggregated over agents and
// sorted by count.

import { parseArgs } from 'node:util';
import { getJson, joinUrl, SourceError } from '../policy/sources.js';
import type { FlowRecord, FlowsSnapshot } from '../api/v1.js';
import { AGENT_OPTIONS, AGENT_USAGE, agentUrls, oneOfOutput, timeoutOf, type Io } from './agents.js';
import { table } from './render.js';

export const FLOWS_USAGE = `Usage: kubepulse flows [options]

The flows the agents observed (from the kernel's flow map), summed over
agents, most frequent first.

${AGENT_USAGE}
Selection:
  -n, --namespace NS       --pod PREFIX
Output:
  -o table|json            (default table)

Exit status: 0 shown, 1 no agent answered, 2 usage error.
`;

const OPTIONS = { ...AGENT_OPTIONS, namespace: { type: 'string', short: 'n', multiple: true }, pod: { type: 'string', multiple: true } } as const;

export interface AggregatedFlow {
  namespace: string;
  pod: string;
  workload: string;
  direction: string;
  protocol: string;
  port: number;
  peer: FlowRecord['peer'];
  count: number;
  nodes: string[];
}

function peerName(p: FlowRecord['peer']): string {
  if (p.kind === 'pod') return `pod ${p.namespace}/${p.pod ?? p.workload}`;
  if (p.kind === 'service') return `svc ${p.namespace}/${p.name}`;
  return p.kind;
}

export async function runFlows(argv: string[], io: Io): Promise<number> {
  const { values } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: false, strict: true });
  if (values.help) {
    io.stdout.write(FLOWS_USAGE);
    return 0;
  }
  const output = oneOfOutput(values.output, ['table', 'json'] as const);
  const warn = (line: string) => io.stderr.write(`kubepulse flows: ${line}\n`);
  const urls = await agentUrls(values, warn);
  const timeoutMs = timeoutOf(values);
  const settled = await Promise.allSettled(urls.map((u) => getJson(`agent ${u}`, joinUrl(u, '/api/v1/flows'), { timeoutMs })));
  const byKey = new Map<string, AggregatedFlow>();
  let answered = 0;
  settled.forEach((s, i) => {
    if (s.status === 'rejected') {
      const e = s.reason as unknown;
      warn(e instanceof SourceError ? `${e.source}: ${e.reason}` : `agent ${urls[i]}: ${String(e)}`);
      return;
    }
    const snap = s.value as Partial<FlowsSnapshot> | null;
    if (typeof snap !== 'object' || snap === null || !Array.isArray(snap.flows)) {
      warn(`agent ${urls[i]}: unexpected answer from /api/v1/flows (is this a KubePulse agent?)`);
      return;
    }
    answered++;
    for (const f of snap.flows) {
      if (values.namespace && !values.namespace.includes(f.namespace)) continue;
      if (values.pod && !values.pod.some((p) => f.pod.startsWith(p))) continue;
      const key = [f.namespace, f.pod, f.direction, f.protocol, f.port, f.peer.address].join('|');
      let a = byKey.get(key);
      if (!a) byKey.set(key, (a = { namespace: f.namespace, pod: f.pod, workload: f.workload, direction: f.direction, protocol: f.protocol, port: f.port, peer: f.peer, count: 0, nodes: [] }));
      a.count += f.count;
      if (snap.node && !a.nodes.includes(snap.node)) a.nodes.push(snap.node);
    }
  });
  if (answered === 0) return 1;
  const flows = [...byKey.values()].sort((a, b) => b.count - a.count || a.namespace.localeCompare(b.namespace) || a.pod.localeCompare(b.pod));
  if (output === 'json') io.stdout.write(JSON.stringify(flows) + '\n');
  else
    io.stdout.write(
      table(
        ['COUNT', 'NAMESPACE', 'POD', 'DIRECTION', 'PROTO', 'PORT', 'PEER', 'ADDRESS'],
        flows.map((f) => [String(f.count), f.namespace, f.pod, f.direction, f.protocol, String(f.port), peerName(f.peer), f.peer.address]),
      ),
    );
  return 0;
}
