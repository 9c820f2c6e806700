// The TCP and DNS checks the kernel matrix runs on each kernel (this host's
// and the QEMU guest's): start the real daemon, make real traffic, and write
// what /metrics says to $OUT/result.json. The assertions live on the host,
// in matrix.test.ts, so both kernels are held to exactly the same ones.
// Compiled by matrix.test.ts and run as plain JavaScript (the guest runs JS
// ~20x slower; no TypeScript loader there).

import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startDaemon } from '../support/daemon.js';
import { startDnsServer } from '../support/dns-server.js';
import { sumOf, type Sample } from '../support/metrics.js';

export const TRAFFIC = {
  established: 20,
  refused: 5,
  dns: { noerror: 3, nxdomain: 2, servfail: 2, silent: 1 },
};

export interface TrafficResult {
  kernel: string;
  hooks: Record<string, string>;
  grown: Record<string, number>;
}

const run = promisify(execFile);

function connectOnce(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.end();
      resolve('established');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
}

async function dig(port: number, name: string): Promise<void> {
  await run('dig', ['@127.0.0.1', '-p', String(port), '+time=1', '+tries=1', name]).catch(() => undefined);
}

async function main(): Promise<void> {
  const out = process.env.OUT;
  if (!out) throw new Error('set OUT to the directory for result.json');
  const dns = await startDnsServer();
  const daemon = await startDaemon(['--probes', 'tcp,dns', '--dns-ports', String(dns.port), '--dns-timeout', '2s']);
  try {
    await daemon.waitReady(120_000);
    const server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));

    const before = await daemon.scrape();
    for (let i = 0; i < TRAFFIC.established; i++) await connectOnce(port);
    for (let i = 0; i < TRAFFIC.refused; i++) await connectOnce(closedPort);
    for (let i = 0; i < TRAFFIC.dns.noerror; i++) await dig(dns.port, `www${i}.example.co.uk`);
    for (let i = 0; i < TRAFFIC.dns.nxdomain; i++) await dig(dns.port, `nx.n${i}.example.com`);
    for (let i = 0; i < TRAFFIC.dns.servfail; i++) await dig(dns.port, `fail.f${i}.example.org`);
    for (let i = 0; i < TRAFFIC.dns.silent; i++) await dig(dns.port, `silent.s${i}.example.net`);
    server.close();

    const host = { namespace: '', pod: '' };
    let after: Sample[] = before;
    const grown = (name: string, labels: Record<string, string> = {}): number =>
      sumOf(after, name, { ...host, ...labels }) - sumOf(before, name, { ...host, ...labels });
    // Until the unanswered query has timed out (2 s) and everything arrived.
    const deadline = Date.now() + 60_000;
    do {
      await new Promise((r) => setTimeout(r, 500));
      after = await daemon.scrape();
    } while (Date.now() < deadline && grown('kubepulse_dns_responses_total', { rcode: 'timeout' }) < TRAFFIC.dns.silent);

    const hooks: Record<string, string> = {};
    for (const s of after) if (s.name === 'kubepulse_probe_info') hooks[s.labels.probe as string] = s.labels.hook as string;
    const result: TrafficResult = {
      kernel: (await run('uname', ['-r'])).stdout.trim(),
      hooks,
      grown: {
        established: grown('kubepulse_tcp_connections_total', { result: 'established' }),
        refused: grown('kubepulse_tcp_connections_total', { result: 'refused' }),
        tcpLatencyCount: grown('kubepulse_tcp_latency_seconds_count'),
        tcpDurationCount: grown('kubepulse_tcp_connection_duration_seconds_count'),
        dnsQueriesExampleCoUk: grown('kubepulse_dns_queries_total', { domain: 'example.co.uk' }),
        dnsQueriesExampleCom: grown('kubepulse_dns_queries_total', { domain: 'example.com' }),
        noerror: grown('kubepulse_dns_responses_total', { rcode: 'NOERROR' }),
        nxdomain: grown('kubepulse_dns_responses_total', { rcode: 'NXDOMAIN' }),
        servfail: grown('kubepulse_dns_responses_total', { rcode: 'SERVFAIL' }),
        timeout: grown('kubepulse_dns_responses_total', { rcode: 'timeout' }),
        dnsLatencyCount: grown('kubepulse_dns_latency_seconds_count'),
        dnsLatencyUnder1s: grown('kubepulse_dns_latency_seconds_bucket', { le: '1' }),
        dropped: sumOf(after, 'kubepulse_events_dropped_total'),
      },
    };
    writeFileSync(join(out, 'result.json'), JSON.stringify(result, null, 2));
  } finally {
    process.exitCode = (await daemon.stop()) === 0 ? process.exitCode : 3;
    await dns.close();
  }
}

if (process.argv[1]?.endsWith('traffic.js')) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
