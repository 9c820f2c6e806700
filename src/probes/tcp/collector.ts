// TCP metrics from the TCP probe's events: connect latency, connection
// duration and connection results, per pod.

import type { Registry } from 'prom-client';
import type { Resolver } from '../../metadata/resolver.js';
import { CounterFamily, HistogramFamily, type CounterCell, type HistogramCell } from '../../metrics/cells.js';
import { POD_LABEL_NAMES, PodCells, type PodLabels } from '../../metrics/pod-cells.js';
import type { UnattributedSink } from '../../metrics/unattributed.js';
import { RESULT_CLOSED, RESULT_ESTABLISHED, RESULT_RESET, TCP_EVENT_LAYOUT, TCP_RESULTS, tcpEvent } from './event.js';
import type { EventHub } from '../../stream/hub.js';
import { monotonicToWallMs } from '../../stream/clock.js';

/** The design's network-tuned buckets: 100 µs (LAN) to 1 s (WAN). */
export const LATENCY_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
/** Connection lifetimes: 1 ms to 1 h. */
export const DURATION_BUCKETS = [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600];

/** A pod's cells, each created on its first use so no empty series appear. */
interface TcpCells {
  labels: PodLabels;
  latency: HistogramCell | undefined;
  duration: HistogramCell | undefined;
  /** Indexed by enum kp_tcp_result. */
  results: Array<CounterCell | undefined>;
}

export class TcpCollector {
  readonly latency: HistogramFamily<string>;
  readonly duration: HistogramFamily<string>;
  readonly connections: CounterFamily<string>;
  private readonly cells: PodCells<TcpCells>;
  /** The live stream, when the daemon has one; events go there only while it wants them. */
  stream: EventHub | undefined;

  constructor(
    registry: Registry,
    private readonly resolver: Resolver,
    node: string,
    unattributed?: UnattributedSink,
  ) {
    this.latency = new HistogramFamily({
      name: 'kubepulse_tcp_latency_seconds',
      help: 'Time from SYN sent to connection established, in seconds, for outgoing TCP connections.',
      labelNames: POD_LABEL_NAMES,
      buckets: LATENCY_BUCKETS,
      registry,
    });
    this.duration = new HistogramFamily({
      name: 'kubepulse_tcp_connection_duration_seconds',
      help: 'Lifetime of established outgoing TCP connections, from connect to close, in seconds.',
      labelNames: POD_LABEL_NAMES,
      buckets: DURATION_BUCKETS,
      registry,
    });
    this.connections = new CounterFamily({
      name: 'kubepulse_tcp_connections_total',
      help:
        'Outgoing TCP connections by result. Each attempt ends as established, refused, timeout or error; ' +
        'an established connection later torn down by a reset from its peer is counted again as reset.',
      labelNames: [...POD_LABEL_NAMES, 'result'],
      registry,
    });
    this.cells = new PodCells(node, (labels) => ({ labels, latency: undefined, duration: undefined, results: [] }), unattributed);
  }

  handle(view: DataView, at: number, length: number): boolean {
    if (length < TCP_EVENT_LAYOUT.size) return false;
    const result = tcpEvent.result(view, at);
    if (result < 1 || result >= TCP_RESULTS.length) return false;
    const tsNs = tcpEvent.tsNs(view, at);
    const id = this.resolver.resolve(tcpEvent.tgid(view, at), tcpEvent.cgroupId(view, at), tsNs);
    const c = this.cells.get(id);
    const seconds = tcpEvent.elapsedNs(view, at) / 1e9;
    if (result === RESULT_CLOSED || result === RESULT_RESET) {
      (c.duration ??= this.duration.cell(c.labels)).observe(seconds);
    } else if (result === RESULT_ESTABLISHED) {
      (c.latency ??= this.latency.cell(c.labels)).observe(seconds);
    }
    // "closed" is the normal end of a connection, not a result worth a series.
    const hub = this.stream;
    if (hub !== undefined && hub.wanted)
      hub.publishTcp(monotonicToWallMs(tsNs), id, result, seconds, tcpEvent.dport(view, at), tcpEvent.family(view, at),
        tcpEvent.daddrWord(view, at, 0), tcpEvent.daddrWord(view, at, 1), tcpEvent.daddrWord(view, at, 2), tcpEvent.daddrWord(view, at, 3));
    if (result !== RESULT_CLOSED) (c.results[result] ??= this.connections.cell({ ...c.labels, result: TCP_RESULTS[result] as string })).value += 1;
    return true;
  }

  forgetPod(namespace: string, pod: string): void {
    this.cells.forgetPod(namespace, pod);
  }
}
