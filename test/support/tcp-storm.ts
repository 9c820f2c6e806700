// bench/tcp-storm.c built for tests (cc, once per process into a temp dir):
// a loopback connect/close storm at a fixed rate on a given port.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './daemon.js';

let built: string | undefined;

export function tcpStormBinary(): string {
  if (built) return built;
  const bin = join(mkdtempSync(join(tmpdir(), 'kubepulse-storm-')), 'tcp-storm');
  execFileSync('cc', ['-O2', '-pthread', '-o', bin, join(ROOT, 'bench', 'tcp-storm.c')], { stdio: 'inherit' });
  return (built = bin);
}

export interface StormResult {
  connections: number;
  achieved_rate: number;
  [k: string]: unknown;
}

export async function runTcpStorm(opts: { rate: number; seconds: number; port: number }): Promise<StormResult> {
  const child = spawn(tcpStormBinary(), ['--rate', String(opts.rate), '--duration', String(opts.seconds), '--threads', '2', '--port', String(opts.port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`tcp-storm exited ${code}: ${out}`);
  return JSON.parse(out) as StormResult;
}
