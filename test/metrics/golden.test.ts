// The /metrics page for a fixed set of kernel events, byte for byte: the
// real collectors (TCP, DNS, flows, syscalls, self) fed through the real
// EventStream and served by the real HttpServer, with a fixed resolver and
// fake kernel maps. A change to any name, help text, label, bucket or
// ordering shows here as a diff a reviewer reads; promtool (Prometheus' own
// lint, Debian's prometheus package) checks the page.
// Regenerate after an intended change: UPDATE_GOLDEN=1 npx tap test/metrics/golden.test.ts
// The process_* and nodejs_* metrics (createRegistry) measure this process
// and are left out.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import type { BpfObjectHandle } from '../../src/bpf/addon.js';
import { EventStream } from '../../src/bpf/event-stream.js';
import type { LoadedProbe } from '../../src/bpf/probe.js';
import { HttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/log.js';
import { PodIndex } from '../../src/metadata/pod-index.js';
import { HOST_IDENTITY, type PodIdentity, type Resolver } from '../../src/metadata/resolver.js';
import { registerSelfMetrics } from '../../src/metrics/self.js';
import { DnsCollector } from '../../src/probes/dns/collector.js';
import { DIRECTION_QUERY, DIRECTION_RESPONSE, DNS_EVENT_TYPE } from '../../src/probes/dns/event.js';
import { FlowsCollector } from '../../src/probes/flows/collector.js';
import { FLOW_MAP_LAYOUT } from '../../src/probes/flows/map.js';
import { SyscallsCollector } from '../../src/probes/syscalls/collector.js';
import { TcpCollector } from '../../src/probes/tcp/collector.js';
import { TCP_EVENT_TYPE } from '../../src/probes/tcp/event.js';
import { dnsMessage, dnsRecord, frame, tcpRecord } from '../support/batches.js';

const GOLDEN = new URL('./golden.prom', import.meta.url);

const WEB: PodIdentity = { namespace: 'shop', pod: 'web-1', workload: 'web', container: 'app', podUid: 'uid-web' };
const PG: PodIdentity = { namespace: 'db', pod: 'pg-0', workload: 'pg', container: 'postgres', podUid: 'uid-pg' };
const resolver: Resolver = { resolve: (_tgid, cgroupId) => (cgroupId === 1 ? WEB : cgroupId === 2 ? PG : HOST_IDENTITY) };

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

/** A kernel object whose maps hold the given entries; lookups of drop/overflow counters answer `perCpu`. */
function fakeObject(maps: Record<string, Array<[Buffer, Buffer]>>, perCpu: Record<string, number> = {}): BpfObjectHandle {
  return {
    mapEntries: (name: string) => maps[name] ?? [],
    mapLookup: (name: string) => (name in perCpu ? u64(perCpu[name]!) : null),
    mapDelete: () => {},
    mapUpdate: () => {},
  } as unknown as BpfObjectHandle;
}

function flowEntry(cgroupId: number, peer: number[], port: number, direction: 1 | 2, protocol: number, count: number): [Buffer, Buffer] {
  const k = Buffer.alloc(FLOW_MAP_LAYOUT.keySize);
  k.writeUInt32LE(cgroupId, FLOW_MAP_LAYOUT.key.cgroup_id);
  Buffer.from(peer).copy(k, FLOW_MAP_LAYOUT.key.peer);
  k.writeUInt16LE(port, FLOW_MAP_LAYOUT.key.port);
  k.writeUInt8(direction, FLOW_MAP_LAYOUT.key.direction);
  k.writeUInt8(protocol, FLOW_MAP_LAYOUT.key.protocol);
  k.writeUInt16LE(2, FLOW_MAP_LAYOUT.key.family);
  const v = Buffer.alloc(FLOW_MAP_LAYOUT.valueSize);
  v.writeUInt32LE(count, FLOW_MAP_LAYOUT.value.count);
  v.writeBigUInt64LE(1_000n, FLOW_MAP_LAYOUT.value.first_ns);
  v.writeBigUInt64LE(2_000n, FLOW_MAP_LAYOUT.value.last_ns);
  return [k, v];
}

function syscallEntry(cgroupId: number, numbers: number[]): [Buffer, Buffer] {
  const bits = Buffer.alloc(64);
  for (const nr of numbers) {
    const at = Math.floor(nr / 64) * 8 + (nr % 64 >= 32 ? 4 : 0);
    bits.writeUInt32LE((bits.readUInt32LE(at) | (1 << nr % 32)) >>> 0, at);
  }
  return [u64(cgroupId), bits];
}

async function renderMetrics(): Promise<string> {
  const registry = new Registry();
  const node = 'node-1';
  const tcp = new TcpCollector(registry, resolver, node);
  const dns = new DnsCollector(registry, resolver, { node, timeoutMs: 5000, maxDomains: 1000, clusterDomain: 'cluster.local' });
  const flows = new FlowsCollector(registry, resolver, { peerOf: (address) => (address === '10.0.0.20' ? { kind: 'pod', address, namespace: 'db', pod: 'pg-0', workload: 'pg' } : { kind: 'external', address }) }, new PodIndex(), { node, maxFlowsPerPod: 256, numCpus: 1 });
  const syscalls = new SyscallsCollector(registry, resolver, new PodIndex(), { node, arch: 'x86_64' });
  const stream = new EventStream(
    new Map([
      [TCP_EVENT_TYPE, (v: DataView, at: number, len: number) => void tcp.handle(v, at, len)],
      [DNS_EVENT_TYPE, (v: DataView, at: number, len: number) => void dns.handle(v, at, len)],
    ]),
  );
  const tcpObject = fakeObject({}, { dropped: 0 });
  const dnsObject = fakeObject({}, { dropped: 3 });
  // cgroup 9 is no pod the resolver knows, its flow idle since boot: it
  // leaves the kernel map (unknown pods' flows go after 2 idle minutes), so
  // three flows stay tracked.
  const flowsObject = fakeObject(
    { flows: [flowEntry(1, [10, 0, 0, 20], 5432, 1, 6, 4), flowEntry(2, [10, 0, 0, 10], 5432, 2, 6, 4), flowEntry(1, [8, 8, 8, 8], 53, 1, 17, 2), flowEntry(9, [1, 1, 1, 1], 443, 1, 6, 1)] },
    { flow_overflow: 0 },
  );
  const syscallsObject = fakeObject({ syscall_bits: [syscallEntry(1, [0, 1, 3, 232, 288]), syscallEntry(2, [0, 1, 17, 18, 257])] });
  const probes = [
    { name: 'tcp', hook: 'tp_btf', streams: true, object: tcpObject },
    { name: 'dns', hook: 'cgroup_skb', streams: true, object: dnsObject },
    { name: 'flows', hook: 'cgroup_skb', streams: false, object: flowsObject },
  ] as unknown as LoadedProbe[];
  registerSelfMetrics(registry, { version: '0.0.0-golden', node, probes: () => probes, failedProbes: () => ['syscalls'], stream, eventTypes: { [TCP_EVENT_TYPE]: 'tcp', [DNS_EVENT_TYPE]: 'dns' }, ready: () => true, numCpus: 1 });
  flows.attach(flowsObject);
  syscalls.attach(syscallsObject);

  const ms = (n: number) => BigInt(n) * 1_000_000n;
  stream.dispatch(
    frame([
      tcpRecord({ cgroupId: 1n, elapsedNs: 300_000n, result: 1 }), // established in 0.3 ms
      tcpRecord({ cgroupId: 1n, elapsedNs: 7_000_000n, result: 1 }),
      tcpRecord({ cgroupId: 1n, elapsedNs: 2_000_000_000n, result: 5 }), // closed after 2 s
      tcpRecord({ cgroupId: 1n, elapsedNs: 1_000_000n, result: 2 }), // refused
      tcpRecord({ cgroupId: 2n, elapsedNs: 40_000_000n, result: 1 }),
      tcpRecord({ cgroupId: 2n, elapsedNs: 60_000_000_000n, result: 6 }), // reset after a minute
      tcpRecord({ cgroupId: 7n, elapsedNs: 100_000n, result: 3 }), // a host process timed out
    ]),
  );
  stream.dispatch(
    frame([
      dnsRecord({ direction: DIRECTION_QUERY, cgroupId: 1n, cookie: 1n, tsNs: ms(1000), message: dnsMessage(1, 0x0100, 'api.example.com') }),
      dnsRecord({ direction: DIRECTION_RESPONSE, cgroupId: 1n, cookie: 1n, tsNs: ms(1002), message: dnsMessage(1, 0x8180, 'api.example.com') }),
      dnsRecord({ direction: DIRECTION_QUERY, cgroupId: 1n, cookie: 1n, tsNs: ms(1010), message: dnsMessage(2, 0x0100, 'pg.db.svc.cluster.local', 28) }),
      dnsRecord({ direction: DIRECTION_RESPONSE, cgroupId: 1n, cookie: 1n, tsNs: ms(1011), message: dnsMessage(2, 0x8183, 'pg.db.svc.cluster.local', 28) }),
      dnsRecord({ direction: DIRECTION_QUERY, cgroupId: 2n, cookie: 2n, tsNs: ms(1020), message: dnsMessage(3, 0x0100, 'www.xn--bcher-kva.de') }),
      dnsRecord({ direction: DIRECTION_RESPONSE, cgroupId: 2n, cookie: 9n, tsNs: ms(1030), message: dnsMessage(3, 0x8182, 'nobody.asked.org') }), // unmatched
      dnsRecord({ direction: DIRECTION_QUERY, cgroupId: 1n, cookie: 1n, tsNs: ms(1040), message: Buffer.from([0, 1, 1]) }), // truncated
    ]),
  );
  dns.expire(Number(ms(7000))); // the query of pg-0 is never answered
  const server = new HttpServer({ registry, readiness: () => ({ ready: true, reasons: [] }), log: createLogger('error', () => {}) });
  const port = await server.listen(0, '127.0.0.1');
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    return await res.text();
  } finally {
    await server.close();
  }
}

t.test('/metrics for the fixed events is the golden file, byte for byte', async (t) => {
  const text = await renderMetrics();
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(GOLDEN, text);
  t.equal(text, readFileSync(GOLDEN, 'utf8'), 'regenerate with UPDATE_GOLDEN=1 after an intended change, and read the diff');
  t.equal(await renderMetrics(), text, 'the same events give the same page');
});

const promtool = spawnSync('promtool', ['--version']).status === 0;
t.test('promtool check metrics accepts it', { skip: promtool ? false : 'promtool not installed (Debian package prometheus)' }, async (t) => {
  const res = spawnSync('promtool', ['check', 'metrics'], { input: readFileSync(GOLDEN), encoding: 'utf8' });
  t.equal(res.status, 0, `promtool: ${res.stdout}${res.stderr}`);
  t.equal(`${res.stdout}${res.stderr}`.trim(), '', 'no lint findings');
});
