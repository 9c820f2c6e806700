// The operator's commands — observe, flows, status, top, ui, audit — with their shared
// error handling: a usage error is one line and exit 2; an agent problem is
// one line naming the agent.

import { SourceError } from '../policy/sources.js';
import { UsageError, type Io } from './agents.js';
import { runAudit } from './audit.js';
import { runFlows } from './flows.js';
import { runObserve } from './observe.js';
import { runStatus } from './status.js';
import { runTop } from './top.js';
import { runUi } from './ui.js';

export async function runOperatorCommand(command: string, argv: string[], io: Io = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const interrupted = new AbortController();
  const onSignal = () => interrupted.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    switch (command) {
      case 'observe':
        return await runObserve(argv, io, interrupted.signal);
      case 'flows':
        return await runFlows(argv, io);
      case 'status':
        return await runStatus(argv, io);
      case 'top':
        return await runTop(argv, io, interrupted.signal);
      case 'ui':
        return await runUi(argv, io, interrupted.signal);
      case 'audit':
        return await runAudit(argv, io);
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    const name = (err as { code?: unknown }).code;
    if (err instanceof UsageError || (typeof name === 'string' && name.startsWith('ERR_PARSE_ARGS'))) {
      io.stderr.write(`kubepulse ${command}: ${(err as Error).message} (see kubepulse ${command} --help)\n`);
      return 2;
    }
    if (err instanceof SourceError) {
      io.stderr.write(`kubepulse ${command}: ${err.source}: ${err.reason}\n`);
      return 1;
    }
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
