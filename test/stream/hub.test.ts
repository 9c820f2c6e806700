// The event hub: history bounds, what collectors are told (wanted), queues
// bounded per subscriber with drops counted and reported, and no JSON made
// for subscribers an event does not match.
import t from 'tap';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Registry } from 'prom-client';
import { parseStreamQuery } from '../../src/stream/filter.js';
import { EventHub, type SubscriberSink } from '../../src/stream/hub.js';
import { recordJson, type TcpRecord, type StreamRecord } from '../../src/stream/record.js';
import type { PeerResolver } from '../../src/peers/resolver.js';
import { addressWords, dnsRec, tcpRec } from '../support/stream-records.js';

const id = { namespace: 'shop', pod: 'web-1', workload: 'web', container: 'app', podUid: 'u' };
const rec = (i: number, result = 'established') => tcpRec(1_000_000 + i, id, result, 0.001, 80);
const q = (s: string) => parseStreamQuery(new URLSearchParams(s));
const tick = () => new Promise((r) => setImmediate(r));

function sink(): SubscriberSink & { got: StreamRecord[]; missed: number[]; isFull: boolean } {
  const s = {
    got: [] as StreamRecord[],
    missed: [] as number[],
    isFull: false,
    write(records: readonly StreamRecord[], missed: number) {
      s.got.push(...records);
      if (missed > 0) s.missed.push(missed);
    },
    get full() {
      return s.isFull;
    },
  };
  return s;
}

t.test('wanted: only with a history or a subscriber', async (t) => {
  const hub = new EventHub({ node: 'n', historySize: 0, queueSize: 10 });
  t.equal(hub.wanted, false, 'no history, no subscriber: collectors skip the stream');
  const s = hub.subscribe(q(''), sink());
  t.equal(hub.wanted, true);
  hub.unsubscribe(s);
  t.equal(hub.wanted, false);
  t.equal(new EventHub({ node: 'n', historySize: 5, queueSize: 10 }).wanted, true, 'a history wants every event');
});

t.test('the history keeps the newest N, answers last and since in order', async (t) => {
  const hub = new EventHub({ node: 'n', historySize: 5, queueSize: 10 });
  for (let i = 1; i <= 8; i++) hub.publish(rec(i, i % 2 === 0 ? 'refused' : 'established'));
  t.same(hub.history(q('last=100')).map((r) => r.timeMs - 1_000_000), [4, 5, 6, 7, 8], 'bounded to 5');
  t.same(hub.history(q('last=2')).map((r) => r.timeMs - 1_000_000), [7, 8]);
  t.same(hub.history(q('last=10&result=refused')).map((r) => r.timeMs - 1_000_000), [4, 6, 8], 'filtered');
  t.same(hub.history(q('')), [], 'nothing without last or since');
});

t.test('a subscriber that cannot take more loses events, counted, and is told', async (t) => {
  const registry = new Registry();
  const hub = new EventHub({ node: 'n', historySize: 0, queueSize: 3, registry });
  const slow = sink();
  const fast = sink();
  hub.subscribe(q(''), slow);
  hub.subscribe(q(''), fast);
  slow.isFull = true;
  for (let i = 0; i < 10; i++) hub.publish(rec(i));
  await tick();
  t.equal(fast.got.length, 10, 'the other subscriber gets all (flushed when its queue fills)');
  t.equal(slow.got.length, 0, 'nothing written to a full sink');
  slow.isFull = false;
  const subs = [...(hub as unknown as { subscribers: Set<unknown> }).subscribers];
  hub.flush(subs[0] as never);
  t.same(slow.got.map((r) => r.timeMs - 1_000_000), [0, 1, 2], 'the queue kept the first 3');
  t.same(slow.missed, [7], 'and the sink is told 7 were missed');
  t.equal(hub.dropped, 7);
  const text = await registry.metrics();
  t.match(text, /kubepulse_stream_dropped_total 7/);
  t.match(text, /kubepulse_stream_subscribers 2/);
});

t.test('filters run before anything is written', async (t) => {
  const hub = new EventHub({ node: 'n', historySize: 0, queueSize: 100 });
  const refusedOnly = sink();
  hub.subscribe(q('result=refused'), refusedOnly);
  hub.publish(rec(1));
  hub.publish(rec(2, 'refused'));
  await tick();
  t.same(refusedOnly.got.map((r) => (r as TcpRecord).result), ['refused']);
});

t.test('TCP events kept in columns without a subscriber come back as records, in order with the rest', async (t) => {
  const hub = new EventHub({ node: 'n', historySize: 4, queueSize: 10 });
  hub.publishTcp(1000, id, 2, 0.0001, 8080, ...addressWords('10.0.0.7')); // refused
  hub.publish(dnsRec(1001, id, 'a.example.com', 'example.com', 'A', 'NXDOMAIN', 0.002));
  hub.publishTcp(1002, id, 5, 2.5, 443, ...addressWords('fd00:10:96::20')); // closed
  const got = hub.history(q('last=10'));
  t.same(got.map((r) => [r.seq, r.type, r.timeMs]), [[1, 'tcp', 1000], [2, 'dns', 1001], [3, 'tcp', 1002]]);
  t.match(got[0], { result: 'refused', seconds: 0.0001, peerPort: 8080, peerAddress: '10.0.0.7', id });
  t.match(got[2], { result: 'closed', seconds: 2.5, peerPort: 443, peerAddress: 'fd00:10:96::20' });
  t.equal(hub.history(q('last=1'))[0], got[2], 'made once, then shared');
  for (let i = 0; i < 3; i++) hub.publishTcp(2000 + i, id, 1, 0.001, 80, ...addressWords('10.0.0.8'));
  t.same(hub.history(q('last=10')).map((r) => r.timeMs), [1002, 2000, 2001, 2002], 'the ring wraps');
  t.same(hub.history(q('since=1970-01-01T00:00:02.001Z')).map((r) => r.timeMs), [2001, 2002], 'since reads the columns too');
});

t.test("since= finds an event published after newer ones (a held cgroup's), and stops a few seconds before since", async (t) => {
  const hub = new EventHub({ node: 'n', historySize: 10, queueSize: 10 });
  const at = (ms: number) => hub.publishTcp(ms, id, 1, 0.001, 80, ...addressWords('10.0.0.8'));
  at(1_000); // older than since by more than any hold
  at(9_000);
  at(10_500);
  at(10_000); // a held pod's event, published after a newer one
  at(12_000);
  at(9_800); // held longer still: before since
  const since = (iso: string) => hub.history(q(`since=${iso}`)).map((r) => r.timeMs);
  t.same(since('1970-01-01T00:00:10.000Z'), [10_500, 10_000, 12_000], 'in publish order, the late ones included, the older ones not');
  t.same(since('1970-01-01T00:00:00.500Z'), [1_000, 9_000, 10_500, 10_000, 12_000, 9_800], 'everything since');
});

t.test('DNS events kept in columns without a subscriber come back as the records a subscriber would get', async (t) => {
  const hub = new EventHub({ node: 'n', historySize: 4, queueSize: 10 });
  hub.publishDns(1000, id, 'a.example.com', 'example.com', 'A', 'NXDOMAIN', 0.002, 53, ...addressWords('10.96.0.10'));
  hub.publishTcp(1001, id, 2, 0.0001, 8080, ...addressWords('10.0.0.7')); // refused
  hub.publishDns(1002, id, 'b.example.org', 'example.org', 'AAAA', 'timeout', 5, 5353, ...addressWords('fd00:10:96::a'));
  const got = hub.history(q('last=10'));
  t.same(got.map((r) => [r.seq, r.type, r.timeMs]), [[1, 'dns', 1000], [2, 'tcp', 1001], [3, 'dns', 1002]]);
  const live = sink();
  const subscriber = hub.subscribe(q(''), live);
  hub.publishDns(1003, id, 'a.example.com', 'example.com', 'A', 'NXDOMAIN', 0.002, 53, ...addressWords('10.96.0.10'));
  await tick();
  // The same event stored in the columns and sent live: the same JSON.
  t.same({ ...recordJson(got[0]!, 'n'), time: '' }, { ...recordJson(live.got[0]!, 'n'), time: '' });
  t.match(recordJson(got[0]!, 'n'), { type: 'dns', pod: 'web-1', name: 'a.example.com', domain: 'example.com', qtype: 'A', rcode: 'NXDOMAIN', latency_seconds: 0.002, server: '10.96.0.10:53' });
  t.match(recordJson(got[2]!, 'n'), { name: 'b.example.org', qtype: 'AAAA', rcode: 'timeout', server: '[fd00:10:96::a]:5353' });
  t.notOk('latency_seconds' in recordJson(got[2]!, 'n'), 'a timeout has no latency');
  t.same(hub.history(q('last=10&type=dns')).map((r) => r.timeMs), [1000, 1002, 1003], 'filters read them like records');
  hub.unsubscribe(subscriber);
  for (let i = 0; i < 4; i++) hub.publishTcp(2000 + i, id, 1, 0.001, 80, ...addressWords('10.0.0.8'));
  t.same(hub.history(q('last=10&type=dns')), [], 'TCP events overwrite DNS slots as the ring wraps');
});

t.test('a TCP peer is resolved only for an event a subscriber wants, once for all of them', async (t) => {
  const asked: string[] = [];
  const peers: PeerResolver = {
    peerOf(address) {
      asked.push(address);
      return address === '10.244.1.7' ? { kind: 'pod', address, namespace: 'shop', pod: 'cart-1', workload: 'cart' } : { kind: 'external', address };
    },
  };
  const hub = new EventHub({ node: 'n', historySize: 10, queueSize: 100, peers });
  // No subscriber: kept in the columns, nothing formatted or resolved.
  hub.publishTcp(1000, id, 1, 0.001, 8080, ...addressWords('10.244.1.7'));
  t.same(asked, [], 'no subscriber: no resolution');
  const dnsOnly = sink();
  const byPort = sink();
  const byName = sink();
  hub.subscribe(q('type=dns'), dnsOnly);
  hub.subscribe(q('peer=:9999'), byPort);
  hub.publishTcp(1001, id, 1, 0.001, 8080, ...addressWords('10.244.1.7'));
  t.same(asked, [], 'subscribers that do not want the event (type, port): no resolution');
  hub.subscribe(q('peer=shop/cart'), byName);
  hub.publishTcp(1002, id, 1, 0.001, 8080, ...addressWords('10.244.1.7'));
  hub.publishTcp(1003, id, 2, 0.001, 8080, ...addressWords('192.0.2.9'));
  await tick();
  t.same(asked, ['10.244.1.7', '192.0.2.9'], 'a filter on the identity resolves each event once');
  t.same(byName.got.map((r) => (r as TcpRecord).timeMs), [1002], 'and keeps the peer it names');
  t.match(recordJson(byName.got[0]!, 'n'), { peer: '10.244.1.7:8080', peer_kind: 'pod', peer_namespace: 'shop', peer_pod: 'cart-1', peer_workload: 'cart' });
  t.equal(asked.length, 2, 'the JSON reuses the resolved peer');
  // The history: records made from the columns resolve when a client asks.
  const replay = hub.history(q('last=10&type=tcp'));
  t.equal(asked.length, 2, 'replaying does not resolve by itself');
  t.match(recordJson(replay[0]!, 'n'), { peer: '10.244.1.7:8080', peer_kind: 'pod', peer_pod: 'cart-1' });
  t.match(recordJson(replay.at(-1)!, 'n'), { peer: '192.0.2.9:8080', peer_kind: 'external' });
  t.notOk('peer_namespace' in recordJson(replay.at(-1)!, 'n'), 'an external peer has no namespace');
});

t.test('a TCP event sent to a subscriber is not held by the history: it dies young instead of being promoted to the old generation', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const hub = new EventHub({ node: 'n', historySize: 100, queueSize: 100 });
  const s = sink();
  hub.subscribe(q(''), s);
  hub.publishTcp(1000, id, 1, 0.001, 80, ...addressWords('10.0.0.7'));
  await tick();
  t.equal(s.got.length, 1, 'the subscriber got it');
  t.equal(s.got[0]!.seq, 1);
  const sent = new WeakRef(s.got[0]!);
  s.got.length = 0;
  await tick();
  gc();
  t.equal(sent.deref(), undefined, 'collected: only the subscriber held it');
  t.same(hub.history(q('last=10')).map((r) => [r.seq, r.timeMs, (r as TcpRecord).peerAddress]), [[1, 1000, '10.0.0.7']], 'the history still has it, from the columns, same sequence number');
});
