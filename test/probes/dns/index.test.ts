// src/probes/dns/index.ts as the daemon runs it, with its real 1 s expiry
// timer and the kernel's clock: an answer that waits in the ring buffer
// while the wall clock passes its query's timeout (a daemon starved of CPU)
// is counted as answered when it is handled, not as a timeout; a query that
// is never answered still times out on an idle node. The ring is a stand-in
// that reports whether it holds records (ringUsage, as the addon's does).
import t from 'tap';
import { Registry } from 'prom-client';
import type { LoadedProbe } from '../../../src/bpf/probe.js';
import { parseConfig } from '../../../src/config.js';
import type { PodIdentity } from '../../../src/metadata/resolver.js';
import { UnattributedEvents } from '../../../src/metrics/unattributed.js';
import { dnsModule } from '../../../src/probes/dns/index.js';
import { DIRECTION_QUERY, DIRECTION_RESPONSE } from '../../../src/probes/dns/event.js';
import type { ProbeContext } from '../../../src/probes/module.js';
import { EventHub } from '../../../src/stream/hub.js';
import { dnsMessage, dnsRecord } from '../../support/batches.js';
import { parseMetrics, sumOf } from '../../support/metrics.js';

const POD: PodIdentity = { namespace: 'shop', pod: 'web-1', workload: 'web', container: 'app', podUid: 'u1' };
const kernelNow = (): bigint => process.hrtime.bigint();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function start(t: { teardown(fn: () => void): void }) {
  const registry = new Registry();
  const { config } = parseConfig(['--node-name', 'n1', '--dns-timeout', '1s'], {});
  const ctx = { config, registry, resolver: { resolve: () => POD }, unattributed: new UnattributedEvents(registry), stream: new EventHub({ node: 'n1', historySize: 0, queueSize: 10 }) };
  const dns = dnsModule.create(ctx as unknown as ProbeContext);
  t.teardown(() => dns.stop?.());
  const ring = { used: 0 };
  dns.attached?.({ name: 'packets', hook: 'cgroup_skb', streams: true, object: { ringUsage: () => ({ used: ring.used, size: 1 << 22 }) } } as unknown as LoadedProbe);
  const handle = dns.events!.get(2)!;
  const send = (direction: number, tsNs: bigint) => {
    const r = dnsRecord({ direction, message: dnsMessage(77, direction === DIRECTION_QUERY ? 0x0100 : 0x8180, 'api.example.com'), cookie: 9n, tsNs });
    handle(new DataView(r.buffer, r.byteOffset, r.byteLength), 0, r.length);
  };
  const rcodes = async () => {
    const m = parseMetrics(await registry.metrics());
    return { answered: sumOf(m, 'kubepulse_dns_responses_total', { rcode: 'NOERROR' }), timeout: sumOf(m, 'kubepulse_dns_responses_total', { rcode: 'timeout' }) };
  };
  return { ring, send, rcodes };
}

t.test('an answer still in the ring when the wall clock passes the timeout is counted as answered', async (t) => {
  const { ring, send, rcodes } = start(t);
  const sent = kernelNow();
  send(DIRECTION_QUERY, sent);
  ring.used = 600; // the answer, stamped 300 ms after the query, waits there
  await sleep(3500); // three expiry ticks, each past the 1 s timeout by the wall clock
  t.same(await rcodes(), { answered: 0, timeout: 0 }, 'no timeout while the answer waits');
  send(DIRECTION_RESPONSE, sent + 300_000_000n);
  ring.used = 0;
  await sleep(1200);
  t.same(await rcodes(), { answered: 1, timeout: 0 });
});

t.test('a query never answered times out on an idle node, once', async (t) => {
  const { send, rcodes } = start(t);
  const sent = kernelNow();
  send(DIRECTION_QUERY, sent);
  const deadline = Date.now() + 15000;
  while ((await rcodes()).timeout === 0 && Date.now() < deadline) await sleep(100);
  const waited = Number(kernelNow() - sent) / 1e9;
  t.same(await rcodes(), { answered: 0, timeout: 1 });
  // 1 s timeout, then up to two 1 s ticks; more only when this machine is loaded enough to delay timers.
  t.ok(waited >= 1, `reported ${waited.toFixed(1)} s after the query`);
  t.comment(`timeout reported ${waited.toFixed(2)} s after the query (timeout 1 s)`);
});
