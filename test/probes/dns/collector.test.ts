// src/probes/dns/collector.ts on records in the kernel's layout: pairing
// queries with responses, TCP framing, malformed input counted by reason.
import t from 'tap';
import { Registry } from 'prom-client';
import type { PodIdentity, Resolver } from '../../../src/metadata/resolver.js';
import { DnsCollector, MALFORMED_REASONS } from '../../../src/probes/dns/collector.js';
import { DIRECTION_QUERY, DIRECTION_RESPONSE } from '../../../src/probes/dns/event.js';
import { dnsMessage, dnsRecord, type DnsEventFields } from '../../support/batches.js';
import { parseMetrics, sumOf } from '../../support/metrics.js';

const POD: PodIdentity = { namespace: 'shop', pod: 'web-1', workload: 'web', container: 'app', podUid: 'u1' };
const resolver: Resolver = { resolve: () => POD };
const QUERY = 0x0100;
const RESPONSE = 0x8180;

function setup() {
  const registry = new Registry();
  const dns = new DnsCollector(registry, resolver, { node: 'n1', timeoutMs: 5000, maxDomains: 100, clusterDomain: 'cluster.local' });
  const feed = (f: DnsEventFields): boolean => {
    const r = dnsRecord(f);
    return dns.handle(new DataView(r.buffer, r.byteOffset, r.byteLength), 0, r.length);
  };
  const metrics = async () => parseMetrics(await registry.metrics());
  return { dns, feed, metrics };
}

t.test('every malformed reason is exported at 0 before the first packet', async (t) => {
  const { metrics } = setup();
  const samples = (await metrics()).filter((s) => s.name === 'kubepulse_dns_malformed_total');
  t.same(samples.map((s) => [s.labels.reason, s.value]), MALFORMED_REASONS.map((r) => [r, 0]));
  t.ok(MALFORMED_REASONS.includes('bad_event') && MALFORMED_REASONS.includes('pointer_loop'));
});

t.test('a response pairs with its query by socket cookie and id', async (t) => {
  const { feed, metrics } = setup();
  feed({ direction: DIRECTION_QUERY, message: dnsMessage(7, QUERY, 'www.example.com'), cookie: 5n, tsNs: 1_000_000_000n });
  feed({ direction: DIRECTION_QUERY, message: dnsMessage(7, QUERY, 'www.example.com'), cookie: 5n, tsNs: 1_001_000_000n }); // resend
  feed({ direction: DIRECTION_RESPONSE, message: dnsMessage(7, RESPONSE | 3, 'www.example.com'), cookie: 6n, tsNs: 1_002_000_000n }); // other socket
  feed({ direction: DIRECTION_RESPONSE, message: dnsMessage(7, RESPONSE | 3, 'www.example.com'), cookie: 5n, tsNs: 1_003_000_000n });
  feed({ direction: DIRECTION_RESPONSE, message: dnsMessage(7, RESPONSE | 3, 'www.example.com'), cookie: 5n, tsNs: 1_004_000_000n }); // duplicate
  const m = await metrics();
  const pod = { namespace: 'shop', pod: 'web-1' };
  t.equal(sumOf(m, 'kubepulse_dns_queries_total', { ...pod, domain: 'example.com', qtype: 'A' }), 1, 'a resend is the same query');
  t.equal(sumOf(m, 'kubepulse_dns_responses_total', { ...pod, rcode: 'NXDOMAIN' }), 1);
  t.equal(sumOf(m, 'kubepulse_dns_unmatched_responses_total'), 2, 'the other socket and the duplicate');
  t.equal(sumOf(m, 'kubepulse_dns_latency_seconds_count', pod), 1);
  t.equal(sumOf(m, 'kubepulse_dns_latency_seconds_sum', pod), 0.003, 'timed from the first send');
  t.equal(sumOf(m, 'kubepulse_dns_latency_seconds_bucket', { ...pod, le: '0.001' }), 0);
  t.equal(sumOf(m, 'kubepulse_dns_latency_seconds_bucket', { ...pod, le: '0.005' }), 1);
});

t.test('an unanswered query becomes rcode="timeout" after the timeout, once', async (t) => {
  const { dns, feed, metrics } = setup();
  feed({ direction: DIRECTION_QUERY, message: dnsMessage(9, QUERY, 'slow.example.org'), cookie: 8n, tsNs: 1_000_000_000n });
  t.equal(dns.expire(5_000_000_000), 0, 'not yet');
  t.equal(dns.expire(6_000_000_001), 1);
  t.equal(dns.expire(7_000_000_000), 0);
  feed({ direction: DIRECTION_RESPONSE, message: dnsMessage(9, RESPONSE, 'slow.example.org'), cookie: 8n, tsNs: 7_000_000_000n });
  const m = await metrics();
  t.equal(sumOf(m, 'kubepulse_dns_responses_total', { rcode: 'timeout' }), 1);
  t.equal(sumOf(m, 'kubepulse_dns_responses_total', { rcode: 'NOERROR' }), 0, 'a late answer is not counted as an answer');
  t.equal(sumOf(m, 'kubepulse_dns_unmatched_responses_total'), 1);
});

t.test('TCP: one whole message per segment is read past its length prefix; anything else is skipped, not malformed', async (t) => {
  const { feed, metrics } = setup();
  const q = dnsMessage(11, QUERY, 'api.example.net', 28);
  t.equal(feed({ direction: DIRECTION_QUERY, message: q, tcp: true, cookie: 3n }), true, 'whole message');
  t.equal(feed({ direction: DIRECTION_QUERY, message: dnsMessage(12, QUERY, 'big.example.net'), tcp: true, lengthPrefix: 900, cookie: 3n, wireLength: 200 }), false, 'first segment of a longer message');
  t.equal(feed({ direction: DIRECTION_QUERY, message: Buffer.alloc(0), tcp: false, cookie: 3n }), false, 'an empty UDP payload is malformed');
  const r = dnsRecord({ direction: DIRECTION_QUERY, message: Buffer.from([0]), cookie: 3n });
  r.writeUInt16LE(1, 44); // payload_len 1: less than a TCP length prefix
  r.writeUInt8(2, 37); // transport TCP
  const { dns } = setup();
  t.equal(dns.handle(new DataView(r.buffer, r.byteOffset, r.byteLength), 0, r.length), false, 'a segment shorter than the prefix');
  const m = await metrics();
  t.equal(sumOf(m, 'kubepulse_dns_queries_total', { domain: 'example.net', qtype: 'AAAA' }), 1);
  t.equal(sumOf(m, 'kubepulse_dns_queries_total'), 1);
  t.equal(sumOf(m, 'kubepulse_dns_malformed_total', { reason: 'truncated' }), 1, 'only the empty UDP payload');
  t.equal(sumOf(m, 'kubepulse_dns_malformed_total'), 1);
});

t.test('a record shorter than its payload length is bad_event', async (t) => {
  const { dns, metrics } = setup();
  const r = dnsRecord({ direction: DIRECTION_QUERY, message: dnsMessage(1, QUERY, 'a.example.com') });
  t.equal(dns.handle(new DataView(r.buffer, r.byteOffset, r.byteLength), 0, r.length - 1), false);
  t.equal(sumOf(await metrics(), 'kubepulse_dns_malformed_total', { reason: 'bad_event' }), 1);
});

t.test('a record too short for its own header, at the end of a batch, is bad_event (found by the event-batch fuzzer: a RangeError)', async (t) => {
  const { dns, metrics } = setup();
  const r = dnsRecord({ direction: DIRECTION_QUERY, message: dnsMessage(1, QUERY, 'a.example.com') }).subarray(0, 40);
  const view = new DataView(r.buffer, r.byteOffset, r.byteLength);
  t.equal(dns.handle(view, 0, r.length), false);
  t.equal(sumOf(await metrics(), 'kubepulse_dns_malformed_total', { reason: 'bad_event' }), 1);
});
