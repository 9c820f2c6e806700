// The flows collector over a fake kernel map: what it exports (known pods'
// flows only), and series that follow their peer when it resolves anew.
import t from 'tap';
import { Registry } from 'prom-client';
import type { BpfObjectHandle } from '../../../src/bpf/addon.js';
import { HOST_IDENTITY, type PodIdentity, type Resolver } from '../../../src/metadata/resolver.js';
import { PodIndex } from '../../../src/metadata/pod-index.js';
import { FlowsCollector } from '../../../src/probes/flows/collector.js';
import { FLOW_MAP_LAYOUT } from '../../../src/probes/flows/map.js';
import type { Peer } from '../../../src/api/v1.js';
import type { PeerResolver } from '../../../src/peers/resolver.js';

function flowKey(cgroupId: number, peer: [number, number, number, number], port: number, direction: 1 | 2): Buffer {
  const k = Buffer.alloc(FLOW_MAP_LAYOUT.keySize);
  k.writeUInt32LE(cgroupId, FLOW_MAP_LAYOUT.key.cgroup_id);
  Buffer.from(peer).copy(k, FLOW_MAP_LAYOUT.key.peer);
  k.writeUInt16LE(port, FLOW_MAP_LAYOUT.key.port);
  k.writeUInt8(direction, FLOW_MAP_LAYOUT.key.direction);
  k.writeUInt8(6, FLOW_MAP_LAYOUT.key.protocol);
  k.writeUInt16LE(2, FLOW_MAP_LAYOUT.key.family);
  return k;
}

function flowValue(count: number): Buffer {
  const v = Buffer.alloc(FLOW_MAP_LAYOUT.valueSize);
  v.writeUInt32LE(count, FLOW_MAP_LAYOUT.value.count);
  const now = Number(process.hrtime.bigint());
  v.writeBigUInt64LE(BigInt(now), FLOW_MAP_LAYOUT.value.first_ns);
  v.writeBigUInt64LE(BigInt(now), FLOW_MAP_LAYOUT.value.last_ns);
  return v;
}

function fakeObject(entries: Map<string, Buffer>): BpfObjectHandle {
  const none = () => {
    throw new Error('not used');
  };
  return {
    programs: none,
    maps: none,
    setAutoload: none,
    setMapMaxEntries: none,
    setConst: none,
    load: none,
    attach: none,
    detachAll: none,
    detachCgroup: none,
    mapLookup: () => null,
    mapUpdate: none,
    mapDelete: (_map, key) => void entries.delete(key.toString('hex')),
    mapEntries: () => [...entries].map(([k, v]) => [Buffer.from(k, 'hex'), v]),
    mapDump: none,
    programIds: none,
    ringUsage: none,
    close: none,
  };
}

const POD: PodIdentity = { namespace: 'shop', pod: 'web-1', workload: 'web', container: 'app', podUid: 'uid-1' };

t.test('only known pods are exported; a series follows its peer', async (t) => {
  const resolver: Resolver = { resolve: (_tgid, cgroupId) => (cgroupId === 1 ? POD : cgroupId === 3 ? { ...HOST_IDENTITY, podUid: 'unknown' } : HOST_IDENTITY) };
  let known = false;
  const peers: PeerResolver = {
    peerOf: (address): Peer => (known ? { kind: 'pod', address, namespace: 'db', pod: 'pg-0', workload: 'pg' } : { kind: 'external', address }),
  };
  const registry = new Registry();
  const collector = new FlowsCollector(registry, resolver, peers, new PodIndex(), { node: 'n', maxFlowsPerPod: 16, numCpus: 1 });
  const map = new Map<string, Buffer>([
    [flowKey(1, [10, 0, 0, 9], 5432, 1).toString('hex'), flowValue(3)],
    [flowKey(2, [127, 0, 0, 1], 9090, 2).toString('hex'), flowValue(7)], // host
    [flowKey(3, [10, 0, 0, 8], 80, 1).toString('hex'), flowValue(1)], // a pod this node does not know
  ]);
  collector.attach(fakeObject(map));

  const first = collector.snapshot();
  t.equal(first.flows.length, 1, 'host and unknown-pod flows are not exported');
  t.match(first.flows[0], { namespace: 'shop', workload: 'web', direction: 'egress', port: 5432, peer: { kind: 'external', address: '10.0.0.9' }, count: 3 });
  let text = await registry.metrics();
  t.match(text, /kubepulse_flows_total\{namespace="shop",workload="web",direction="egress",protocol="TCP",port="5432",peer_kind="external",peer_namespace="",peer_workload=""\} 3/);
  t.notMatch(text, /\{namespace=""/, 'no series without a namespace');
  t.match(text, /kubepulse_flows_tracked 3/, 'the kernel map holds all three');

  known = true;
  t.match(collector.snapshot().flows[0], { peer: { kind: 'pod', namespace: 'db', workload: 'pg' } }, 'the API answers with the new resolution');
  text = await registry.metrics();
  t.match(text, /peer_kind="pod",peer_namespace="db",peer_workload="pg"\} 3/, 'the series moved to the new peer labels');
  t.notMatch(text, /peer_kind="external"/, 'the old series is gone');

  map.set(flowKey(1, [10, 0, 0, 9], 5432, 1).toString('hex'), flowValue(5));
  // A scrape takes a read younger than a second (next test): the next read is a second on.
  await new Promise((r) => setTimeout(r, 1050));
  text = await registry.metrics();
  t.match(text, /peer_workload="pg"\} 5/, 'and keeps counting');
});

t.test('a scrape takes the counts of a read younger than a second (the live stream reads every second) and walks the map when none is', async (t) => {
  const resolver: Resolver = { resolve: () => POD };
  const registry = new Registry();
  const collector = new FlowsCollector(registry, resolver, { peerOf: (address) => ({ kind: 'external', address }) }, new PodIndex(), { node: 'n', maxFlowsPerPod: 16, numCpus: 1 });
  const map = new Map<string, Buffer>([[flowKey(1, [10, 0, 0, 9], 5432, 1).toString('hex'), flowValue(3)]]);
  const object = fakeObject(map);
  let walks = 0;
  const entries = object.mapEntries.bind(object);
  object.mapEntries = (name) => (walks++, entries(name));
  collector.attach(object);
  const count = async () => /kubepulse_flows_total\{[^}]*\} (\d+)/.exec(await registry.metrics())?.[1];

  t.equal(await count(), '3', 'the first scrape reads the map');
  t.equal(walks, 1);
  map.set(flowKey(1, [10, 0, 0, 9], 5432, 1).toString('hex'), flowValue(4));
  collector.read(); // the live stream's read
  t.equal(walks, 2);
  map.set(flowKey(1, [10, 0, 0, 9], 5432, 1).toString('hex'), flowValue(9));
  t.equal(await count(), '4', "a scrape just after: that read's counts");
  t.equal(walks, 2, 'no walk of its own');
  await new Promise((r) => setTimeout(r, 1050));
  t.equal(await count(), '9', 'a second on: its own read');
  t.equal(walks, 3);
});

t.test('both overflow reasons are exported at 0 before any flow, attached or not', async (t) => {
  const registry = new Registry();
  const collector = new FlowsCollector(registry, { resolve: () => HOST_IDENTITY }, { peerOf: (address) => ({ kind: 'external', address }) }, new PodIndex(), { node: 'n', maxFlowsPerPod: 16, numCpus: 1 });
  const overflow = () => registry.metrics().then((text) => text.split('\n').filter((l) => l.startsWith('kubepulse_flows_overflow_total{')));
  t.same(await overflow(), ['kubepulse_flows_overflow_total{reason="node_map_full"} 0', 'kubepulse_flows_overflow_total{reason="pod_limit"} 0']);
  collector.attach(fakeObject(new Map()));
  t.same(await overflow(), ['kubepulse_flows_overflow_total{reason="node_map_full"} 0', 'kubepulse_flows_overflow_total{reason="pod_limit"} 0']);
});

t.test('an unknown pod\'s idle flows leave the kernel map; known pods\' and recent ones stay', async (t) => {
  const resolver: Resolver = { resolve: (_tgid, cgroupId) => (cgroupId === 1 ? POD : { ...HOST_IDENTITY, podUid: 'unknown' }) };
  const peers: PeerResolver = { peerOf: (address): Peer => ({ kind: 'external', address }) };
  const collector = new FlowsCollector(new Registry(), resolver, peers, new PodIndex(), { node: 'n', maxFlowsPerPod: 16, numCpus: 1, unknownIdleMs: 60_000 });
  const aged = (count: number, idleMs: number): Buffer => {
    const v = flowValue(count);
    v.writeBigUInt64LE(BigInt(Number(process.hrtime.bigint()) - idleMs * 1e6), FLOW_MAP_LAYOUT.value.last_ns);
    return v;
  };
  const knownIdle = flowKey(1, [10, 0, 0, 9], 5432, 1).toString('hex');
  const unknownIdle = flowKey(2, [10, 0, 0, 8], 80, 1).toString('hex'); // e.g. a removed pod's port scan
  const unknownRecent = flowKey(3, [10, 0, 0, 7], 443, 1).toString('hex'); // a pod the watch has not delivered yet
  const map = new Map<string, Buffer>([
    [knownIdle, aged(3, 10 * 60_000)],
    [unknownIdle, aged(1, 2 * 60_000)],
    [unknownRecent, aged(1, 1000)],
  ]);
  collector.attach(fakeObject(map));
  t.equal(collector.snapshot().flows.length, 1, 'the known pod\'s flow is exported');
  t.same([...map.keys()].sort(), [knownIdle, unknownRecent].sort(), 'the unknown pod\'s idle flow is deleted; the rest stay');
  // podGone runs once per known pod; an unknown (or deleted) pod's keys kept for it would outlive it.
  t.equal(collector.podsTracked, 1, 'only the known pod\'s keys are remembered');
  collector.podGone(POD.podUid);
  t.equal(collector.podsTracked, 0);
  t.same([...map.keys()], [unknownRecent], "the known pod's flow leaves with it");
});
