// The checks the kernel matrix runs on each kernel (this host's and each
// QEMU guest's): for every requested run, start the real daemon with that
// run's flags, make real traffic, and write what it saw to $OUT/result.json;
// then run `kubepulse check` with each requested set of flags. The
// assertions live on the host, in matrix.test.ts, so every kernel is held to
// exactly the same ones. Compiled by matrix.test.ts and run as plain
// JavaScript (the guest runs JS ~20x slower; no TypeScript loader there),
// all runs in one process so the guest pays Node's start once.
//
//   RUNS='[{"name":"auto","args":[],"checks":["tcp","dns","flows","syscalls"]}]'
//   CHECKS='[{"name":"check","args":[]}]'  OUT=<dir>  node traffic.js

import { execFile, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { decodeFlowKey } from '../../src/probes/flows/map.js';
import { nodeArch, syscallTable } from '../../src/policy/syscall-table.js';
import { syscallName, syscallNumbers } from '../../src/probes/syscalls/collector.js';
import { CLI, startDaemon, type RunningDaemon } from '../support/daemon.js';
import { startDnsServer } from '../support/dns-server.js';
import { sumOf, type Sample } from '../support/metrics.js';
import { PodCgroups } from '../support/pod-cgroups.js';

export const TRAFFIC = {
  established: 20,
  refused: 5,
  timeout: 1,
  reset: 2,
  /** over UDP; the same again over TCP (dig +tcp) for noerror and nxdomain */
  dns: { noerror: 3, nxdomain: 2, servfail: 2, silent: 1 },
  dnsTcp: { noerror: 2, nxdomain: 1 },
};

export type Check = 'tcp' | 'dns' | 'flows' | 'syscalls';

export interface RunSpec {
  name: string;
  /** daemon flags */
  args: string[];
  checks: Check[];
}

export interface CheckSpec {
  name: string;
  args: string[];
  /** run it in a mount namespace of its own with tracefs (and debugfs) unmounted */
  withoutTracefs?: boolean;
}

export interface RunResult {
  args: string[];
  hooks: Record<string, string>;
  /** plans that were tried and failed before the one that attached: the daemon's warning */
  failedPlans: Array<{ probe: string; hook: string; error: string }>;
  grown: Record<string, number>;
  /** flows of the pod-shaped cgroup, from the kernel's flows map */
  podFlows: Array<{ peer: string; port: number; protocol: string; direction: string }>;
  serverPort: number;
  /** syscall names in the pod-shaped cgroup's bitmap, from the kernel's map */
  podSyscalls: string[];
  error?: string;
}

export interface TrafficResult {
  kernel: string;
  runs: Record<string, RunResult>;
  checks: Record<string, { args: string[]; exitCode: number | null; output: string }>;
}

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function connectOnce(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.end();
      resolve('established');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    s.once('close', () => resolve('closed'));
  });
}

/** A connection the peer resets once established (SO_LINGER 0 on its side). */
function resetOnce(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    s.once('close', () => resolve());
  });
}

/** One connect whose SYN the kernel drops (full accept queue), given up after one retry (~3 s). */
async function timeoutOnce(): Promise<string> {
  const py = `
import socket
l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(0); port = l.getsockname()[1]
filler = socket.create_connection(('127.0.0.1', port))  # fills the queue of a listener that never accepts
s = socket.socket(); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, 1)
try:
    s.connect(('127.0.0.1', port)); print('connected')
except OSError as e:
    print(e.errno)
`;
  return (await run('/usr/bin/python3', ['-c', py])).stdout.trim();
}

async function dig(port: number, name: string, tcp = false): Promise<void> {
  await run('dig', ['@127.0.0.1', '-p', String(port), '+time=1', '+tries=1', ...(tcp ? ['+tcp'] : []), name]).catch(() => undefined);
}

function listen(handler: (s: import('node:net').Socket) => void): Promise<Server> {
  const server = createServer(handler);
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}
const portOf = (s: Server): number => (s.address() as { port: number }).port;

/** A kernel map of the daemon's `probe`, found through its programs (bpftool). */
async function mapOf(daemon: RunningDaemon, probe: string, name: string): Promise<number> {
  const attached = daemon.logs.find((l) => l.msg === 'probe attached' && l.probe === probe);
  const progId = Object.values((attached?.programs ?? {}) as Record<string, number>)[0];
  if (progId === undefined) throw new Error(`no ${probe} program in the logs`);
  const prog = JSON.parse((await run('bpftool', ['prog', 'show', 'id', String(progId), '-j'])).stdout) as { map_ids: number[] };
  for (const id of prog.map_ids) {
    const map = JSON.parse((await run('bpftool', ['map', 'show', 'id', String(id), '-j'])).stdout) as { name: string };
    if (map.name === name) return id;
  }
  throw new Error(`no map ${name} among ${prog.map_ids.join(', ')}`);
}

async function dumpMap(id: number): Promise<Array<[Buffer, Buffer]>> {
  const { stdout } = await run('bpftool', ['map', 'dump', 'id', String(id), '-j'], { maxBuffer: 64 << 20 });
  const bytes = (hex: string[]) => Buffer.from(hex.map((h) => parseInt(h, 16)));
  return (JSON.parse(stdout) as Array<{ key: string[]; value: string[] }>).map((e) => [bytes(e.key), bytes(e.value)]);
}

/** Runs argv in the cgroup from its first instruction; resolves with its exit status. */
function inCgroup(cgroups: PodCgroups, dir: string, argv: string[]): Promise<number | null> {
  return new Promise((resolve) => {
    const child = cgroups.spawnIn(dir, argv, { stdio: 'ignore' });
    child.once('exit', (code) => resolve(code));
  });
}

async function oneRun(spec: RunSpec, dnsPort: number): Promise<RunResult> {
  const args = spec.args;
  const cgroups = new PodCgroups('kubepulse-matrix');
  const pod = cgroups.container(randomUUID(), randomBytes(32).toString('hex'));
  const probes = [...new Set(spec.checks)].join(',');
  const daemon = await startDaemon(['--probes', probes, '--dns-ports', String(dnsPort), '--dns-timeout', '2s', ...args]);
  const servers: Server[] = [];
  let result: RunResult | undefined;
  let failure: unknown;
  try {
    await daemon.waitReady(180_000);
    const podRoot = join(cgroups.base, 'kubepods.slice');
    if (spec.checks.includes('flows') || spec.checks.includes('syscalls')) {
      const deadline = Date.now() + 30_000;
      while (!daemon.logs.some((l) => l.msg === 'pod root found' && l.path === podRoot) && Date.now() < deadline) await sleep(100);
    }
    const server = await listen((s) => s.end());
    const resetter = await listen((s) => s.resetAndDestroy());
    const closed = await listen(() => undefined);
    const closedPort = portOf(closed);
    await new Promise((r) => closed.close(r));
    servers.push(server, resetter);

    const before = await daemon.scrape();
    if (spec.checks.includes('tcp')) {
      for (let i = 0; i < TRAFFIC.established; i++) await connectOnce(portOf(server));
      for (let i = 0; i < TRAFFIC.refused; i++) await connectOnce(closedPort);
      for (let i = 0; i < TRAFFIC.reset; i++) await resetOnce(portOf(resetter));
      for (let i = 0; i < TRAFFIC.timeout; i++) {
        const errno = await timeoutOnce();
        if (errno !== '110') throw new Error(`the dropped-SYN connect ended with ${errno}, not ETIMEDOUT`);
      }
    }
    if (spec.checks.includes('dns')) {
      for (let i = 0; i < TRAFFIC.dns.noerror; i++) await dig(dnsPort, `www${i}.example.co.uk`);
      for (let i = 0; i < TRAFFIC.dns.nxdomain; i++) await dig(dnsPort, `nx.n${i}.example.com`);
      for (let i = 0; i < TRAFFIC.dns.servfail; i++) await dig(dnsPort, `fail.f${i}.example.org`);
      for (let i = 0; i < TRAFFIC.dns.silent; i++) await dig(dnsPort, `silent.s${i}.example.net`);
      for (let i = 0; i < TRAFFIC.dnsTcp.noerror; i++) await dig(dnsPort, `www${i}.tcp-example.co.uk`, true);
      for (let i = 0; i < TRAFFIC.dnsTcp.nxdomain; i++) await dig(dnsPort, `nx.n${i}.tcp-example.com`, true);
    }
    if (spec.checks.includes('flows')) {
      const js = `require('node:net').connect(${portOf(server)}, '127.0.0.1').on('connect', function () { this.end() }).on('error', () => process.exit(1))`;
      if ((await inCgroup(cgroups, pod.dir, [process.execPath, '-e', js])) !== 0) throw new Error('the pod-shaped cgroup could not connect');
    }
    if (spec.checks.includes('syscalls')) {
      if ((await inCgroup(cgroups, pod.dir, ['uname', '-r'])) !== 0) throw new Error('uname failed in the pod-shaped cgroup');
    }

    const host = { namespace: '', pod: '' };
    let after: Sample[] = before;
    const grown = (name: string, labels: Record<string, string> = {}): number =>
      sumOf(after, name, { ...host, ...labels }) - sumOf(before, name, { ...host, ...labels });
    // Until the unanswered query has timed out (2 s) and the TCP results
    // asserted below (reset, the dropped SYN's timeout) arrived.
    const deadline = Date.now() + 60_000;
    const settled = (): boolean =>
      (!spec.checks.includes('dns') || grown('kubepulse_dns_responses_total', { rcode: 'timeout' }) >= TRAFFIC.dns.silent) &&
      (!spec.checks.includes('tcp') ||
        (grown('kubepulse_tcp_connections_total', { result: 'reset' }) >= TRAFFIC.reset &&
          grown('kubepulse_tcp_connections_total', { result: 'timeout' }) >= TRAFFIC.timeout));
    do {
      await sleep(500);
      after = await daemon.scrape();
    } while (Date.now() < deadline && !settled());

    const podFlows = spec.checks.includes('flows')
      ? (await dumpMap(await mapOf(daemon, 'packets', 'flows')))
          .map(([k]) => decodeFlowKey(k))
          .filter((k) => k.cgroupId === pod.cgroupId)
          .map(({ peer, port, protocol, direction }) => ({ peer, port, protocol, direction }))
      : [];
    const podSyscalls = spec.checks.includes('syscalls')
      ? (await dumpMap(await mapOf(daemon, 'syscalls', 'syscall_bits')))
          .filter(([k]) => Number(k.readBigUInt64LE()) === pod.cgroupId)
          .flatMap(([, v]) => syscallNumbers(v).map((nr) => syscallName(nr, syscallTable(nodeArch()))))
      : [];
    const hooks: Record<string, string> = {};
    for (const s of after) if (s.name === 'kubepulse_probe_info') hooks[s.labels.probe as string] = s.labels.hook as string;
    result = {
      args: spec.args,
      hooks,
      failedPlans: daemon.logs
        .filter((l) => l.msg === 'hook plan failed, trying the next')
        .map((l) => ({ probe: String(l.probe), hook: String(l.hook), error: String(l.error) })),
      serverPort: portOf(server),
      podFlows,
      podSyscalls,
      grown: {
        established: grown('kubepulse_tcp_connections_total', { result: 'established' }),
        refused: grown('kubepulse_tcp_connections_total', { result: 'refused' }),
        timeout: grown('kubepulse_tcp_connections_total', { result: 'timeout' }),
        reset: grown('kubepulse_tcp_connections_total', { result: 'reset' }),
        tcpLatencyCount: grown('kubepulse_tcp_latency_seconds_count'),
        tcpDurationCount: grown('kubepulse_tcp_connection_duration_seconds_count'),
        dnsQueriesExampleCoUk: grown('kubepulse_dns_queries_total', { domain: 'example.co.uk' }),
        dnsQueriesExampleCom: grown('kubepulse_dns_queries_total', { domain: 'example.com' }),
        dnsTcpQueriesCoUk: grown('kubepulse_dns_queries_total', { domain: 'tcp-example.co.uk' }),
        dnsTcpQueriesCom: grown('kubepulse_dns_queries_total', { domain: 'tcp-example.com' }),
        noerror: grown('kubepulse_dns_responses_total', { rcode: 'NOERROR' }),
        nxdomain: grown('kubepulse_dns_responses_total', { rcode: 'NXDOMAIN' }),
        servfail: grown('kubepulse_dns_responses_total', { rcode: 'SERVFAIL' }),
        dnsTimeout: grown('kubepulse_dns_responses_total', { rcode: 'timeout' }),
        dnsLatencyCount: grown('kubepulse_dns_latency_seconds_count'),
        dnsLatencyUnder1s: grown('kubepulse_dns_latency_seconds_bucket', { le: '1' }),
        dropped: sumOf(after, 'kubepulse_events_dropped_total'),
      },
    };
  } catch (err) {
    failure = err;
  }
  for (const s of servers) s.close();
  const code = await daemon.stop();
  await cgroups.cleanup();
  if (failure !== undefined) throw failure;
  if (code !== 0) {
    const last = daemon.logs.filter((l) => l.level === 'error' || l.level === 'warn').slice(-3);
    throw new Error(`daemon ${spec.name} exited ${code}: ${JSON.stringify(last)}`);
  }
  return result as RunResult;
}

/** `kubepulse check` with these flags: its status and what it printed. */
function check(spec: CheckSpec): Promise<{ exitCode: number | null; output: string }> {
  const argv = [process.execPath, CLI, 'check', ...spec.args];
  // A private mount namespace: the unmounts are seen by this command only.
  const noTracefs = 'umount -l /sys/kernel/tracing 2>/dev/null; umount -l /sys/kernel/debug 2>/dev/null; exec "$@"';
  const [cmd, ...rest] = spec.withoutTracefs ? ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', noTracefs, 'sh', ...argv] : argv;
  return new Promise((resolve) => {
    const child = spawn(cmd!, rest, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.once('close', (exitCode) => resolve({ exitCode, output }));
  });
}

async function main(): Promise<void> {
  const out = process.env.OUT;
  if (!out) throw new Error('set OUT to the directory for result.json');
  const runs = JSON.parse(process.env.RUNS ?? '[]') as RunSpec[];
  const checks = JSON.parse(process.env.CHECKS ?? '[]') as CheckSpec[];
  const result: TrafficResult = { kernel: (await run('uname', ['-r'])).stdout.trim(), runs: {}, checks: {} };
  const save = () => writeFileSync(join(out, 'result.json'), JSON.stringify(result, null, 2));
  for (const c of checks) {
    result.checks[c.name] = { args: c.args, ...(await check(c)) };
    save();
  }
  const dns = await startDnsServer();
  try {
    for (const r of runs) {
      const started = Date.now();
      try {
        result.runs[r.name] = await oneRun(r, dns.port);
      } catch (err) {
        result.runs[r.name] = { args: r.args, hooks: {}, failedPlans: [], grown: {}, podFlows: [], serverPort: 0, podSyscalls: [], error: String(err) };
      }
      console.log(`run ${r.name}: ${Date.now() - started} ms`);
      save();
    }
  } finally {
    await dns.close();
  }
}

if (process.argv[1]?.endsWith('traffic.js')) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
