// The collectors' side of the contract: they build stream records only while
// the hub wants them (history on, or someone subscribed), and what they
// publish carries the event's pod, result, time and peer (address and port).
import t from 'tap';
import { Registry } from 'prom-client';
import { EventStream } from '../../src/bpf/event-stream.js';
import { HOST_IDENTITY, type PodIdentity, type Resolver } from '../../src/metadata/resolver.js';
import { TcpCollector } from '../../src/probes/tcp/collector.js';
import { TCP_EVENT_TYPE } from '../../src/probes/tcp/event.js';
import { parseStreamQuery } from '../../src/stream/filter.js';
import { EventHub } from '../../src/stream/hub.js';
import { recordJson, type StreamRecord } from '../../src/stream/record.js';
import { DnsCollector } from '../../src/probes/dns/collector.js';
import { DIRECTION_QUERY, DIRECTION_RESPONSE, DNS_EVENT_TYPE } from '../../src/probes/dns/event.js';
import { dnsMessage, dnsRecord, frame, tcpRecord } from '../support/batches.js';
import { addressBytes } from '../support/stream-records.js';

const web: PodIdentity = Object.freeze({ namespace: 'shop', pod: 'web-1', workload: 'web', container: 'app', podUid: 'u1' });
const resolver: Resolver = { resolve: (_tgid, cgroupId) => (cgroupId === 7 ? web : HOST_IDENTITY) };

function setup(historySize: number) {
  const tcp = new TcpCollector(new Registry(), resolver, 'node-1');
  const hub = new EventHub({ node: 'node-1', historySize, queueSize: 100 });
  tcp.stream = hub;
  const stream = new EventStream(new Map([[TCP_EVENT_TYPE, (v: DataView, at: number, len: number) => void tcp.handle(v, at, len)]]));
  const feed = () =>
    stream.dispatch(frame([
      tcpRecord({ cgroupId: 7n, result: 2, elapsedNs: 50_000n, dport: 8080, daddr: addressBytes('10.0.0.7') }),
      tcpRecord({ cgroupId: 7n, result: 5, elapsedNs: 2_000_000_000n, family: 10, dport: 443, daddr: addressBytes('fd00:10:96::20') }),
    ]));
  return { tcp, hub, feed };
}

t.test('no history and no subscriber: nothing is built', async (t) => {
  const { tcp, hub, feed } = setup(0);
  feed();
  t.equal(hub.published, 0, 'no record published');
  t.equal(tcp.connections.cell({ namespace: 'shop', workload: 'web', pod: 'web-1', node: 'node-1', result: 'refused' }).value, 1, 'the metrics still count');
});

t.test('a subscriber: records with the event\'s fields', async (t) => {
  const { hub, feed } = setup(0);
  const got: StreamRecord[] = [];
  hub.subscribe(parseStreamQuery(new URLSearchParams('')), { write: (r) => void got.push(...r), full: false });
  const before = Date.now();
  feed();
  await new Promise((r) => setImmediate(r));
  t.equal(got.length, 2);
  const [refused, closed] = got.map((r) => recordJson(r, 'node-1'));
  t.match(refused, { node: 'node-1', type: 'tcp', namespace: 'shop', workload: 'web', pod: 'web-1', container: 'app', result: 'refused', latency_seconds: 0.00005, peer: '10.0.0.7:8080', peer_kind: 'external' });
  t.match(closed, { result: 'closed', duration_seconds: 2, peer: '[fd00:10:96::20]:443', peer_kind: 'external' });
  t.notOk('latency_seconds' in closed!, 'a closed connection has a duration, not a latency');
  // tsNs 1 in the fixture: the monotonic clock's start, converted to wall time, is before now.
  t.ok(Date.parse(String(refused!.time)) <= before, 'wall-clock time from the kernel timestamp');
});

t.test('a history: every event kept, also without a subscriber', async (t) => {
  const { hub, feed } = setup(10);
  feed();
  t.equal(hub.history(parseStreamQuery(new URLSearchParams('last=10'))).length, 2);
});

t.test('a DNS record names the server the query went to', async (t) => {
  const dns = new DnsCollector(new Registry(), resolver, { node: 'node-1', timeoutMs: 5000, maxDomains: 10, clusterDomain: 'cluster.local' });
  const hub = new EventHub({ node: 'node-1', historySize: 0, queueSize: 100 });
  dns.stream = hub;
  const got: StreamRecord[] = [];
  hub.subscribe(parseStreamQuery(new URLSearchParams('')), { write: (r) => void got.push(...r), full: false });
  const stream = new EventStream(new Map([[DNS_EVENT_TYPE, (v: DataView, at: number, len: number) => void dns.handle(v, at, len)]]));
  const v6Server = addressBytes('fd00:10:96::a');
  stream.dispatch(frame([
    dnsRecord({ direction: DIRECTION_QUERY, cgroupId: 7n, cookie: 1n, tsNs: 1_000_000n, message: dnsMessage(1, 0x0100, 'a.example.com'), server: addressBytes('10.96.0.10') }),
    dnsRecord({ direction: DIRECTION_RESPONSE, cgroupId: 7n, cookie: 1n, tsNs: 2_000_000n, message: dnsMessage(1, 0x8183, 'a.example.com'), server: addressBytes('10.96.0.10') }),
    dnsRecord({ direction: DIRECTION_QUERY, cgroupId: 7n, cookie: 2n, tsNs: 3_000_000n, message: dnsMessage(2, 0x0100, 'b.example.com', 28), server: v6Server }),
    dnsRecord({ direction: DIRECTION_RESPONSE, cgroupId: 7n, cookie: 2n, tsNs: 4_000_000n, message: dnsMessage(2, 0x8180, 'b.example.com', 28), server: v6Server }),
  ]));
  await new Promise((r) => setImmediate(r));
  t.match(got.map((r) => recordJson(r, 'node-1')), [
    { type: 'dns', pod: 'web-1', name: 'a.example.com', rcode: 'NXDOMAIN', server: '10.96.0.10:53' },
    { type: 'dns', pod: 'web-1', name: 'b.example.com', qtype: 'AAAA', rcode: 'NOERROR', server: '[fd00:10:96::a]:53' },
  ]);
});
