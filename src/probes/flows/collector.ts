// Flows per workload, read from the kernel's flows map when asked (at
// scrape time unless the live stream read it within the second, and for
// /api/v1/flows), never per packet in user space.
//
// Bounds: the kernel map holds 16384 flows per node (new ones beyond are
// counted, kubepulse_flows_overflow_total{reason="node_map_full"}); each pod
// (and the host) keeps at most --flows-per-pod distinct flows in the API and
// each workload as many series (reason="pod_limit"). Entries and series of
// pods that are gone are removed.
//
// The kernel counts pods' sockets only (cgroups below the pod roots that
// PodRoots registers), so host traffic never fills the map. Only flows of
// known pods are exported (API and series): pods this node does not know
// (yet) have no namespace or workload, which the policy exporter needs and
// the series are labelled by. A peer is resolved again at every read, and a
// series follows its peer when the answer changes (a pod IP that was external
// before the cluster-wide pod list arrived).

import { Counter, Gauge, type Registry } from 'prom-client';
import type { BpfObjectHandle } from '../../bpf/addon.js';
import type { PodIndex } from '../../metadata/pod-index.js';
import type { PodIdentity, Resolver } from '../../metadata/resolver.js';
import { sumPerCpu } from '../../bytes.js';
import type { PodRoots } from '../pod-roots.js';
import { FLOW_SERIES_LABELS, type FlowRecord, type FlowsSnapshot, type Peer } from '../../api/v1.js';
import { decodeFlowCounts, decodeFlowKey } from './map.js';
import type { PeerResolver } from '../../peers/resolver.js';

const LABELS = FLOW_SERIES_LABELS;

interface Series {
  labels: Record<(typeof LABELS)[number], string>;
  child: Counter.Internal;
  keys: Set<string>;
}

export interface FlowsCollectorOptions {
  node: string;
  maxFlowsPerPod: number;
  numCpus: number;
  /** Fills the kernel's pod roots; without it the kernel counts no flow. */
  podRoots?: PodRoots;
  /** A flow of a pod this node does not know, idle this long, leaves the kernel map (default 2 min). */
  unknownIdleMs?: number;
}

const UNKNOWN_IDLE_MS = 120_000;
/** A scrape reads the map unless a read (the live stream's) is younger than this. */
const SCRAPE_READ_MAX_AGE_MS = 1000;

/** Why a flow was not kept (kubepulse_flows_overflow_total{reason}). */
export const OVERFLOW_REASONS = ['node_map_full', 'pod_limit'] as const;

export class FlowsCollector {
  private object: BpfObjectHandle | undefined;
  private readonly flowsTotal: Counter<string>;
  private readonly overflowTotal: Counter<string>;
  /** kernel key (hex) → count already added to its series */
  private readonly counted = new Map<string, number>();
  /** kernel key (hex) → series it feeds */
  private readonly seriesOfKey = new Map<string, Series>();
  private readonly series = new Map<string, Series>();
  /** pod UID → kernel keys of its cgroups (to delete when the pod goes) */
  private readonly keysOfPod = new Map<string, Set<string>>();
  private podLimitOverflow = 0;
  private lastNodeOverflow = 0;
  /** Entries in the kernel map at the last read, exported or not. */
  private kernelEntries = 0;
  private readonly readers: Array<(flows: readonly FlowRecord[]) => void> = [];
  /** performance.now() of the last read (monotonic: a wall clock stepped back must not hold reads off). */
  private lastReadMs = -Infinity;

  constructor(
    registry: Registry,
    private readonly resolver: Resolver,
    private readonly peers: PeerResolver,
    private readonly pods: PodIndex,
    private readonly options: FlowsCollectorOptions,
  ) {
    const self = this;
    this.flowsTotal = new Counter({
      name: 'kubepulse_flows_total',
      help:
        'Flows seen per workload and peer: TCP connections established (both ends) and UDP packets that open or continue a flow, ' +
        'by direction, protocol, server port and peer (pod, service, node or external).',
      labelNames: LABELS,
      registers: [registry],
      // The live stream reads the map every second (stream/flow-ticker.ts):
      // a scrape then takes that read's counts, at most a second old, and
      // leaves the map walk (thousands of entries under pod churn) off its path.
      collect() {
        self.readIfOlder(SCRAPE_READ_MAX_AGE_MS);
      },
    });
    this.overflowTotal = new Counter({
      name: 'kubepulse_flows_overflow_total',
      help: 'Flows not kept: reason="node_map_full" when the kernel map was full, "pod_limit" beyond --flows-per-pod for one pod.',
      labelNames: ['reason'],
      registers: [registry],
    });
    // Both reasons at 0 from the start, so dashboards say 0 and rate() works from the first scrape.
    for (const reason of OVERFLOW_REASONS) this.overflowTotal.inc({ reason }, 0);
    new Gauge({
      name: 'kubepulse_flows_tracked',
      help: 'Flows currently held in the kernel map.',
      registers: [registry],
      collect() {
        this.set(self.kernelEntries);
      },
    });
  }

  /**
   * Called once the programs are attached at the cgroup v2 root. The
   * object's pod roots are kept current from now on. With belowPodRoots the
   * programs move below each kubepods cgroup instead: host packets then
   * never run them (the kernel's verdict still skips the kubepods cgroup
   * itself, which is no container).
   */
  attach(object: BpfObjectHandle, { belowPodRoots = true }: { belowPodRoots?: boolean } = {}): void {
    this.object = object;
    const podRoots = this.options.podRoots;
    if (!podRoots) return;
    if (!belowPodRoots) {
      podRoots.add('flows', object);
      return;
    }
    const programs = Object.keys(object.programIds());
    object.detachAll();
    podRoots.add('flows', object, {
      rootAdded: (root) => {
        for (const name of programs) object.attach(name, { cgroup: root.path });
      },
      rootGone: (root) => object.detachCgroup(root.path),
    });
  }

  stop(): void {
    if (this.object) this.options.podRoots?.remove(this.object);
  }

  /** Called with the flows of every read (the drift tracker judges them there: no read of its own). */
  onRead(reader: (flows: readonly FlowRecord[]) => void): void {
    this.readers.push(reader);
  }

  /** Reads the map unless a read happened within maxAgeMs (a collector that only needs fresh-enough flows). */
  readIfOlder(maxAgeMs: number): void {
    if (performance.now() - this.lastReadMs >= maxAgeMs) this.read();
  }

  /** Reads the kernel map: updates the metrics and returns the flows. */
  read(): FlowRecord[] {
    if (!this.object) return [];
    const nowMono = Number(process.hrtime.bigint());
    const nowWall = Date.now();
    const wall = (ns: number): string => new Date(nowWall - (nowMono - ns) / 1e6).toISOString();
    const records = new Map<string, FlowRecord>();
    const perPod = new Map<string, number>();
    const present = new Set<string>();
    let limited = 0;

    const entries = this.object.mapEntries('flows');
    this.kernelEntries = entries.length;
    for (const [kb, vb] of entries) {
      const hex = kb.toString('hex');
      present.add(hex);
      const key = decodeFlowKey(kb);
      const counts = decodeFlowCounts(vb);
      const id = this.resolver.resolve(0, key.cgroupId);
      if (id.namespace === '') {
        // Not a known pod's: counted in the kernel, not exported. Nothing
        // else ever deletes it (podGone only knows known pods' keys), so
        // once idle it goes: a removed cgroup's flows would otherwise hold
        // their slots of the node's map for good. The soak found the map
        // full of a deleted pod's port scan, every later flow of every pod
        // refused (node_map_full), and each read walking 16,384 dead entries.
        if ((nowMono - counts.lastNs) / 1e6 > (this.options.unknownIdleMs ?? UNKNOWN_IDLE_MS)) {
          this.object.mapDelete('flows', kb);
          this.kernelEntries--;
        }
        present.delete(hex);
        continue;
      }
      // Known pods only: podGone runs once, at the pod's deletion, and a
      // deleted pod's late flows resolve as unknown (deleted above when
      // idle); recorded for them, the set would outlive the pod for good.
      if (id.podUid) {
        let keys = this.keysOfPod.get(id.podUid);
        if (!keys) this.keysOfPod.set(id.podUid, (keys = new Set()));
        keys.add(hex);
      }
      const peer = this.peers.peerOf(key.peer);

      const owner = id.podUid || 'host';
      const recordKey = `${owner}|${key.direction}|${key.protocol}|${key.port}|${key.peer}`;
      let record = records.get(recordKey);
      if (!record) {
        const n = perPod.get(owner) ?? 0;
        if (n >= this.options.maxFlowsPerPod) {
          limited++;
          continue;
        }
        perPod.set(owner, n + 1);
        const pod = id.podUid ? this.pods.byUid(id.podUid) : undefined;
        record = {
          namespace: id.namespace,
          pod: id.pod,
          workload: id.workload,
          workloadKind: pod?.workloadKind ?? '',
          podLabels: { ...(pod?.labels ?? {}) },
          direction: key.direction,
          protocol: key.protocol,
          port: key.port,
          peer,
          count: 0,
          firstSeen: wall(counts.firstNs),
          lastSeen: wall(counts.lastNs),
        };
        records.set(recordKey, record);
      } else {
        if (wall(counts.firstNs) < record.firstSeen) record.firstSeen = wall(counts.firstNs);
        if (wall(counts.lastNs) > record.lastSeen) record.lastSeen = wall(counts.lastNs);
      }
      record.count += counts.count;
      this.countSeries(hex, id, key.direction, key.protocol, key.port, peer, counts.count);
    }
    // Keys the kernel no longer has (deleted with their pod) stop feeding series.
    for (const hex of [...this.counted.keys()]) if (!present.has(hex)) this.dropKey(hex);
    if (limited > this.podLimitOverflow) {
      this.overflowTotal.inc({ reason: 'pod_limit' }, limited - this.podLimitOverflow);
      this.podLimitOverflow = limited;
    }
    const nodeOverflow = sumPerCpu(this.object.mapLookup('flow_overflow', Buffer.alloc(4)), this.options.numCpus);
    if (nodeOverflow > this.lastNodeOverflow) this.overflowTotal.inc({ reason: 'node_map_full' }, nodeOverflow - this.lastNodeOverflow);
    this.lastNodeOverflow = nodeOverflow;
    const flows = [...records.values()];
    this.lastReadMs = performance.now();
    for (const reader of this.readers) reader(flows);
    return flows;
  }

  /** Pods whose kernel keys are remembered for podGone (known pods that have flows). */
  get podsTracked(): number {
    return this.keysOfPod.size;
  }

  snapshot(): FlowsSnapshot {
    const flows = this.read();
    return { node: this.options.node, generatedAt: new Date().toISOString(), flows, overflow: this.podLimitOverflow + this.lastNodeOverflow };
  }

  /** The pod is gone: forget its flows in the kernel and its series. */
  podGone(uid: string): void {
    const keys = this.keysOfPod.get(uid);
    this.keysOfPod.delete(uid);
    if (!keys || !this.object) return;
    for (const hex of keys) {
      this.object.mapDelete('flows', Buffer.from(hex, 'hex'));
      this.dropKey(hex);
    }
  }

  private countSeries(hex: string, id: PodIdentity, direction: string, protocol: string, port: number, peer: Peer, count: number): void {
    const labels = {
      namespace: id.namespace,
      workload: id.workload,
      direction,
      protocol,
      port: String(port),
      peer_kind: peer.kind,
      peer_namespace: peer.namespace ?? '',
      peer_workload: peer.workload ?? peer.name ?? '',
    };
    const seriesKey = LABELS.map((l) => labels[l]).join('\u0000');
    let series = this.seriesOfKey.get(hex);
    if (series && LABELS.some((l) => series!.labels[l] !== labels[l])) {
      // The peer (or the pod's workload) resolves differently now: the key
      // moves to the series of its new labels, which counts all of its flows.
      this.dropKey(hex);
      series = undefined;
    }
    if (!series) {
      series = this.series.get(seriesKey);
      if (!series) {
        series = { labels, child: this.flowsTotal.labels(labels), keys: new Set() };
        this.series.set(seriesKey, series);
      }
      series.keys.add(hex);
      this.seriesOfKey.set(hex, series);
    }
    const before = this.counted.get(hex) ?? 0;
    if (count > before) series.child.inc(count - before);
    this.counted.set(hex, count);
  }

  private dropKey(hex: string): void {
    this.counted.delete(hex);
    const series = this.seriesOfKey.get(hex);
    this.seriesOfKey.delete(hex);
    if (!series) return;
    series.keys.delete(hex);
    if (series.keys.size === 0) {
      this.flowsTotal.remove(series.labels);
      this.series.delete(LABELS.map((l) => series.labels[l]).join('\u0000'));
    }
  }
}
