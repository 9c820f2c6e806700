// Runs a long-lived `kubepulse <command>` (observe, top) as a child process
// and keeps its output lines with the time each arrived.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { CLI } from './daemon.js';

export interface CliProcess {
  child: ChildProcess;
  lines: Array<{ at: number; line: string }>;
  stderr(): string;
  /** SIGINT (as Ctrl-C), then the exit code. */
  stop(): Promise<number | null>;
  exited(): Promise<number | null>;
}

export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, NODE_OPTIONS: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exit = once(child, 'exit').then(([code]) => {
    process.off('exit', killOnExit);
    return code as number | null;
  });
  const lines: Array<{ at: number; line: string }> = [];
  let pending = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    pending += d;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      lines.push({ at: Date.now(), line: pending.slice(0, nl) });
      pending = pending.slice(nl + 1);
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return {
    child,
    lines,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      return exit;
    },
    exited: () => exit,
  };
}
