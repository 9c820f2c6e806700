// src/probes/dns/expiry.ts with the real collector: a query becomes
// rcode="timeout" only once the events up to its deadline have been handled,
// judged by kernel timestamps and by the pipeline's state — never because the
// wall clock alone passed it (false timeouts under CPU starvation).
import t from 'tap';
import { Registry } from 'prom-client';
import type { PodIdentity, Resolver } from '../../../src/metadata/resolver.js';
import { DnsCollector } from '../../../src/probes/dns/collector.js';
import { DIRECTION_QUERY, DIRECTION_RESPONSE } from '../../../src/probes/dns/event.js';
import { DnsExpiry } from '../../../src/probes/dns/expiry.js';
import { dnsMessage, dnsRecord } from '../../support/batches.js';
import { parseMetrics, sumOf } from '../../support/metrics.js';

const POD: PodIdentity = { namespace: 'shop', pod: 'web-1', workload: 'web', container: 'app', podUid: 'u1' };
const resolver: Resolver = { resolve: () => POD };
const S = 1e9;
const TICK = 1 * S;

function setup() {
  const registry = new Registry();
  const dns = new DnsCollector(registry, resolver, { node: 'n1', timeoutMs: 5000, maxDomains: 100, clusterDomain: 'cluster.local' });
  const pipeline = { ring: true, held: false };
  const expiry = new DnsExpiry(dns, { ringEmpty: () => pipeline.ring, held: () => pipeline.held }, TICK);
  const send = (direction: number, id: number, tsSeconds: number, cookie = 5n) => {
    const r = dnsRecord({ direction, message: dnsMessage(id, direction === DIRECTION_QUERY ? 0x0100 : 0x8180, 'www.example.com'), cookie, tsNs: BigInt(tsSeconds * S) });
    dns.handle(new DataView(r.buffer, r.byteOffset, r.byteLength), 0, r.length);
  };
  const rcodes = async () => {
    const m = parseMetrics(await registry.metrics());
    return { answered: sumOf(m, 'kubepulse_dns_responses_total', { rcode: 'NOERROR' }), timeout: sumOf(m, 'kubepulse_dns_responses_total', { rcode: 'timeout' }) };
  };
  return { dns, pipeline, expiry, send, rcodes };
}

t.test('the wall clock passes the timeout while the answer waits in the ring: answered, not timeout', async (t) => {
  const { pipeline, expiry, send, rcodes } = setup();
  send(DIRECTION_QUERY, 1, 100);
  pipeline.ring = false; // the answer, stamped 100.3 s, is in the ring; the daemon has not read it
  for (let now = 101; now <= 110; now++) t.equal(expiry.tick(now * S), 0, `tick at ${now} s: nothing expires`);
  send(DIRECTION_RESPONSE, 1, 100.3);
  pipeline.ring = true;
  for (let now = 111; now <= 114; now++) expiry.tick(now * S);
  t.same(await rcodes(), { answered: 1, timeout: 0 });
});

t.test('a stalled daemon: the first tick after the stall expires nothing the stall may have left unhandled', async (t) => {
  const { pipeline, expiry, send, rcodes } = setup();
  for (let now = 1; now <= 100; now++) expiry.tick(now * S); // an idle node, ticking on time
  send(DIRECTION_QUERY, 1, 100.5);
  // The ring is empty at every tick (the poll thread read the answer), but the
  // whole daemon stalled for 8 s: the answer may be in the poll thread's batch
  // or queued to JavaScript, behind the late timer.
  pipeline.ring = true;
  expiry.tick(101 * S);
  t.equal(expiry.tick(109 * S), 0, 'late tick: no expiry by the wall clock');
  send(DIRECTION_RESPONSE, 1, 104);
  expiry.tick(110 * S);
  expiry.tick(111 * S);
  t.same(await rcodes(), { answered: 1, timeout: 0 });
});

t.test('records held for a pod stop the wall clock', async (t) => {
  const { pipeline, expiry, send, rcodes } = setup();
  send(DIRECTION_QUERY, 1, 100);
  pipeline.held = true;
  for (let now = 101; now <= 109; now++) t.equal(expiry.tick(now * S), 0);
  pipeline.held = false;
  send(DIRECTION_RESPONSE, 1, 104.9);
  expiry.tick(110 * S);
  expiry.tick(111 * S);
  t.same(await rcodes(), { answered: 1, timeout: 0 });
});

t.test('a truly unanswered query on an idle node times out within two ticks of its timeout', async (t) => {
  const { expiry, send, rcodes } = setup();
  send(DIRECTION_QUERY, 1, 100);
  let now = 100;
  while ((await rcodes()).timeout === 0 && now < 120) expiry.tick(++now * S);
  t.same(await rcodes(), { answered: 0, timeout: 1 });
  t.ok(now > 105 && now <= 107, `reported at ${now} s for a deadline at 105 s`);
  t.equal(expiry.tick(++now * S), 0, 'once');
});

t.test('with DNS traffic the kernel timestamps decide, even with the ring never seen empty', async (t) => {
  const { pipeline, expiry, send, rcodes } = setup();
  pipeline.ring = false;
  send(DIRECTION_QUERY, 1, 100, 1n); // never answered
  for (let i = 0; i < 8; i++) {
    send(DIRECTION_QUERY, 100 + i, 100.5 + i, 2n);
    send(DIRECTION_RESPONSE, 100 + i, 100.6 + i, 2n);
    expiry.tick((101 + i) * S);
  }
  t.same(await rcodes(), { answered: 8, timeout: 1 }, 'events stamped past its deadline were handled: its answer is not coming');
});

t.test('a first tick, or a ring that cannot be read, never expires by the wall clock on its own', async (t) => {
  const { dns, send } = setup();
  send(DIRECTION_QUERY, 1, 100);
  const fresh = new DnsExpiry(dns, { ringEmpty: () => undefined, held: () => false }, TICK);
  t.equal(fresh.tick(110 * S), 0, 'no previous tick: nothing known about the pipeline yet');
  t.equal(fresh.tick(111 * S), 1, 'an unreadable ring is trusted to be read by the poll thread');
});

t.test('a starved daemon on a node without other DNS traffic still reports the timeout: 10 s after the deadline at the latest', async (t) => {
  const { pipeline, expiry, send, rcodes } = setup();
  send(DIRECTION_QUERY, 1, 100);
  pipeline.ring = false; // never seen empty, and every tick late
  let now = 100;
  while ((await rcodes()).timeout === 0 && now < 130) expiry.tick((now += 2) * S);
  t.same(await rcodes(), { answered: 0, timeout: 1 });
  t.ok(now >= 115 && now <= 117, `reported at ${now} s for a deadline at 105 s`);
});
