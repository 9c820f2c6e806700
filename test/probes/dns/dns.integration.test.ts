// The DNS probe end to end on this machine's kernel: `dig` against a real
// DNS server on loopback, /metrics read back as a user would.

import t from 'tap';
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { promisify } from 'node:util';
import { startDaemon } from '../../support/daemon.js';
import { startDnsServer } from '../../support/dns-server.js';
import { sumOf, type Sample } from '../../support/metrics.js';
import { needsBpf } from '../../support/privileges.js';

const run = promisify(execFile);

async function dig(port: number, name: string, ...extra: string[]): Promise<string> {
  const server = extra.includes('-6') ? '::1' : '127.0.0.1';
  const args = [`@${server}`, '-p', String(port), '+time=1', '+tries=1', ...extra.filter((a) => a !== '-6'), name];
  const { stdout } = await run('dig', args).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  return stdout;
}

async function digAvailable(): Promise<boolean> {
  return run('dig', ['-v']).then(
    () => true,
    () => false,
  );
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !(await check())) await new Promise((r) => setTimeout(r, 200));
}

t.test('dig queries, rcodes, latency and timeouts on /metrics', needsBpf(), async (t) => {
  if (!(await digAvailable())) return t.skip('dig (dnsutils) is not installed', () => {});
  const server = await startDnsServer();
  t.teardown(() => server.close());
  const daemon = await startDaemon(['--dns-ports', String(server.port), '--dns-timeout', '2s']);
  t.teardown(() => daemon.stop());
  await daemon.waitReady();

  const host = { namespace: '', pod: '' };
  const before = await daemon.scrape();
  const grown = (after: Sample[], name: string, labels: Record<string, string> = {}): number =>
    sumOf(after, name, { ...host, ...labels }) - sumOf(before, name, { ...host, ...labels });

  t.match(await dig(server.port, 'www.example.co.uk'), /status: NOERROR/);
  t.match(await dig(server.port, 'api.www.example.co.uk'), /status: NOERROR/);
  t.match(await dig(server.port, 'WWW.Example.CO.UK.', 'AAAA'), /status: NOERROR/);
  t.match(await dig(server.port, 'nx.example.com'), /status: NXDOMAIN/);
  t.match(await dig(server.port, 'nx.other.example.com'), /status: NXDOMAIN/);
  t.match(await dig(server.port, 'fail.example.org'), /status: SERVFAIL/);
  t.match(await dig(server.port, 'refuse.example.org'), /status: REFUSED/);
  t.match(await dig(server.port, 'kubernetes.default.svc.cluster.local', 'SRV'), /status: NOERROR/);
  t.match(await dig(server.port, '1.0.0.127.in-addr.arpa', 'PTR'), /status: NOERROR/);
  t.match(await dig(server.port, 'six.example.net', '-6'), /status: NOERROR/, 'over IPv6');
  t.match(await dig(server.port, 'tcp.example.net', '+tcp', 'MX'), /status: NOERROR/, 'over TCP');
  await dig(server.port, 'silent.example.net'); // no answer: a timeout after 2 s
  const answered = 11; // all but the silent one

  let after: Sample[] = before;
  await until(async () => {
    after = await daemon.scrape();
    return grown(after, 'kubepulse_dns_responses_total', { rcode: 'timeout' }) >= 1;
  }, 8000);

  const q = (labels: Record<string, string>): number => grown(after, 'kubepulse_dns_queries_total', labels);
  t.equal(q({ domain: 'example.co.uk', qtype: 'A' }), 2, 'www and api.www.example.co.uk → example.co.uk, A');
  t.equal(q({ domain: 'example.co.uk', qtype: 'AAAA' }), 1, 'upper case and trailing dot fold the same');
  t.equal(q({ domain: 'example.com' }), 2);
  t.equal(q({ domain: 'example.org' }), 2);
  t.equal(q({ domain: 'cluster.local', qtype: 'SRV' }), 1, 'cluster-local names fold to the cluster domain');
  t.equal(q({ domain: 'in-addr.arpa', qtype: 'PTR' }), 1, 'reverse lookups fold');
  t.equal(q({ domain: 'example.net' }), 3, 'IPv6, TCP and the unanswered query');
  t.equal(q({ qtype: 'MX' }), 1, 'DNS over TCP');
  t.equal(after.filter((s) => s.name === 'kubepulse_dns_queries_total' && s.labels.domain?.includes('www')).length, 0, 'never the full name');

  const r = (rcode: string): number => grown(after, 'kubepulse_dns_responses_total', { rcode });
  t.equal(r('NOERROR'), 7);
  t.equal(r('NXDOMAIN'), 2);
  t.equal(r('SERVFAIL'), 1);
  t.equal(r('REFUSED'), 1);
  t.equal(r('timeout'), 1);
  t.equal(grown(after, 'kubepulse_dns_latency_seconds_count'), answered, 'one latency per answered query');
  t.ok(grown(after, 'kubepulse_dns_latency_seconds_bucket', { le: '0.1' }) >= answered - 1, 'loopback answers are fast');
  t.equal(sumOf(after, 'kubepulse_events_dropped_total', { type: 'dns' }), 0);

  t.test('malformed packets are counted and skipped', async (t) => {
    const malformedBefore = sumOf(await daemon.scrape(), 'kubepulse_dns_malformed_total');
    const socket = createSocket('udp4');
    const send = (b: Buffer): Promise<void> => new Promise((r) => socket.send(b, server.port, '127.0.0.1', () => r()));
    const header = (qdcount: number): Buffer => Buffer.from([0x12, 0x34, 0x01, 0x00, 0, qdcount, 0, 0, 0, 0, 0, 0]);
    await send(Buffer.from([1, 2, 3])); // shorter than a header
    await send(Buffer.concat([header(1), Buffer.from([7, 0x65, 0x78])])); // label cut short
    await send(Buffer.concat([header(1), Buffer.from([0xc0, 12, 0, 1, 0, 1])])); // pointer loop
    await send(Buffer.concat([header(1), Buffer.from([64]), Buffer.alloc(64, 0x61), Buffer.from([0, 0, 1, 0, 1])])); // label of 64
    await send(header(0)); // no question
    socket.close();
    t.match(await dig(server.port, 'after.example.co.uk'), /status: NOERROR/);
    let m: Sample[] = [];
    await until(async () => {
      m = await daemon.scrape();
      return (
        sumOf(m, 'kubepulse_dns_malformed_total') - malformedBefore >= 5 &&
        grown(m, 'kubepulse_dns_queries_total', { domain: 'example.co.uk', qtype: 'A' }) >= 3
      );
    }, 3000);
    t.equal(sumOf(m, 'kubepulse_dns_malformed_total') - malformedBefore, 5, 'each malformed query counted once');
    t.ok(sumOf(m, 'kubepulse_dns_malformed_total', { reason: 'pointer_loop' }) >= 1, 'by reason');
    t.equal(grown(m, 'kubepulse_dns_queries_total', { domain: 'example.co.uk', qtype: 'A' }), 3, 'later queries still counted');
    t.equal((await daemon.get('/healthz')).status, 200, 'daemon alive');
  });
});
