// Loads the agent-answer fixtures through the same parser the CLI uses.
import { readFileSync } from 'node:fs';
import { parseFlowsReport, parseSyscallsReport, type Flow, type FlowsReport, type SyscallsReport } from '../../src/policy/types.js';

const dir = new URL('./fixtures/', import.meta.url);

export function fixtureText(name: string): string {
  return readFileSync(new URL(name, dir), 'utf8');
}

export function flowsReport(name: string): FlowsReport {
  return parseFlowsReport(JSON.parse(fixtureText(name)));
}

export function syscallsReport(name: string): SyscallsReport {
  return parseSyscallsReport(JSON.parse(fixtureText(name)));
}

/** Both agents' flows, as the CLI merges them. */
export function allFlows(): Flow[] {
  return [...flowsReport('flows-n1.json').flows, ...flowsReport('flows-n2.json').flows];
}
