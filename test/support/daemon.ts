// Starts the real daemon (dist/cmd/kubepulse.js, as `make build` leaves
// it) as a child process on a free port, and talks to it over HTTP.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseMetrics, type Sample } from './metrics.js';

/** The checkout; KUBEPULSE_ROOT overrides it when this file runs compiled elsewhere (the kernel matrix). */
export const ROOT = process.env.KUBEPULSE_ROOT ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(ROOT, 'dist', 'cmd', 'kubepulse.js');

export interface RunningDaemon {
  port: number;
  pid: number;
  /** JSON log lines so far. */
  logs: Array<Record<string, unknown>>;
  url(path: string): string;
  get(path: string): Promise<{ status: number; body: string }>;
  scrape(): Promise<Sample[]>;
  waitReady(timeoutMs?: number): Promise<void>;
  /** SIGTERM, then the exit code (or the signal that ended it). */
  stop(): Promise<number | string>;
  child: ChildProcess;
}

/** Turns the daemon's command line into the one to run (e.g. inClusterLaunch from in-cluster.ts). */
export type Launch = (command: string, args: string[]) => { command: string; args: string[] };

export async function startDaemon(args: string[] = [], env: NodeJS.ProcessEnv = {}, launch?: Launch): Promise<RunningDaemon> {
  // The port is read from the `serving` log line, logged at info.
  const level = args[args.indexOf('--log-level') + 1];
  if (args.includes('--log-level') && level !== 'info' && level !== 'debug')
    throw new Error('startDaemon needs --log-level info or debug (it reads the port from the logs)');
  const line = [CLI, '--port', '0', '--listen-address', '127.0.0.1', ...args];
  const run = launch === undefined ? { command: process.execPath, args: line } : launch(process.execPath, line);
  const child = spawn(run.command, run.args, {
    // Not tap's NODE_OPTIONS and NODE_V8_COVERAGE: with them Node keeps the
    // source map of every module, which triples the daemon's heap. The
    // daemon runs as it does in production.
    env: { ...process.env, NODE_OPTIONS: '', NODE_V8_COVERAGE: undefined, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // A daemon must not outlive the test process that started it.
  const killOnExit = (): void => void child.kill('SIGTERM');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  let exited = false;
  child.on('exit', () => (exited = true));
  const port = await new Promise<number>((resolve, reject) => {
    let pending = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry.msg === 'serving') resolve(entry.port as number);
        } catch {
          /* a plain line: the fatal-error line */
        }
      }
    });
    child.on('exit', (code) => reject(new Error(`daemon exited with ${code} before serving: ${stderr.trim()}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  const get = async (path: string): Promise<{ status: number; body: string }> => {
    const res = await fetch(base + path);
    return { status: res.status, body: await res.text() };
  };
  return {
    port,
    pid: child.pid as number,
    logs,
    child,
    url: (path) => base + path,
    get,
    scrape: async () => parseMetrics((await get('/metrics')).body),
    async waitReady(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (exited) throw new Error(`daemon exited: ${stderr.trim()}`);
        if ((await get('/readyz').catch(() => ({ status: 0 }))).status === 200) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`daemon not ready after ${timeoutMs} ms: ${(await get('/readyz')).body}`);
    },
    async stop() {
      // Already gone (exited, or killed by a test): 'exit' will not come again.
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? (child.signalCode as string);
      child.kill('SIGTERM');
      const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
      return code ?? (signal as string);
    },
  };
}

/** Runs the CLI to completion: exit code and output. */
export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}
