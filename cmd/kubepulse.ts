#!/usr/bin/env node
// kubepulse: the exporter daemon (`kubepulse [run]`), its pre-flight check
// (`kubepulse check`), the policy exporter (`kubepulse policy`) and the
// operator's commands (`observe`, `flows`, `status`, `top`, `audit`). Those run on a
// laptop: only the daemon and `check` import the modules that load the
// native addon (dynamic imports below), so the CLI works without it.

import { join } from 'node:path';
import { UserError } from '../src/errors.js';
import { openFileLimitProblem } from '../src/limits.js';

// Checked before the rest is imported: loading needs hundreds of files open.
const nofile = openFileLimitProblem();
if (nofile !== undefined) {
  process.stderr.write(`kubepulse: ${nofile}\n`);
  process.exit(1);
}
// The daemon and `check` import the native addon's users themselves, below.
const { packageRoot } = await import('../src/bpf/addon.js');
const { parseConfig, usage } = await import('../src/config.js');
const { createLogger } = await import('../src/log.js');

const OPERATOR_COMMANDS = new Set(['observe', 'flows', 'status', 'top', 'ui', 'audit']);

function fail(err: unknown): never {
  if (err instanceof UserError) {
    process.stderr.write(`kubepulse: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  process.stderr.write(`kubepulse: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(70);
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === 'policy') {
    const { runPolicyCommand } = await import('../src/cli/policy.js');
    process.exitCode = await runPolicyCommand(argv.slice(1));
    return;
  }
  if (argv[0] !== undefined && OPERATOR_COMMANDS.has(argv[0])) {
    const { runOperatorCommand } = await import('../src/cli/operator.js');
    process.exitCode = await runOperatorCommand(argv[0], argv.slice(1));
    return;
  }
  const { command, config } = parseConfig(argv, process.env, join(packageRoot(), 'build', 'bpf'));
  if (command === 'help') {
    process.stdout.write(usage() + '\n');
    return;
  }
  if (command === 'check') {
    // The plan is the output; logs only for what goes wrong.
    const { runCheck } = await import('../src/check.js');
    const quiet = createLogger(config.logLevel === 'debug' ? 'debug' : 'error');
    process.exitCode = runCheck(config, quiet, (line) => process.stdout.write(line + '\n'));
    return;
  }
  const log = createLogger(config.logLevel);
  const { startDaemon } = await import('../src/daemon.js');
  const daemon = await startDaemon(config, log);
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal });
    daemon.stop().then(
      () => process.exit(0),
      (err: unknown) => fail(err),
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main(process.argv.slice(2)).catch(fail);
