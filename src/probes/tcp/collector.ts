// TCP metrics from the TCP probe's events: connect latency, connection
// duration and connection results, per pod.

import { Counter, Histogram, type Registry } from 'prom-client';
import type { Resolver } from '../../metadata/resolver.js';
import { POD_LABEL_NAMES, PodChildren } from '../../metrics/pod-series.js';
import { RESULT_CLOSED, RESULT_ESTABLISHED, RESULT_RESET, TCP_RESULTS, tcpEvent } from './event.js';

/** The design's network-tuned buckets: 100 µs (LAN) to 1 s (WAN). */
export const LATENCY_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
/** Connection lifetimes: 1 ms to 1 h. */
export const DURATION_BUCKETS = [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600];

interface TcpChildren {
  latency: Histogram.Internal<string>;
  duration: Histogram.Internal<string>;
  /** Indexed by enum kp_tcp_result. */
  results: Array<Counter.Internal | undefined>;
}

export class TcpCollector {
  readonly latency: Histogram<string>;
  readonly duration: Histogram<string>;
  readonly connections: Counter<string>;
  private readonly children: PodChildren<TcpChildren>;

  constructor(
    registry: Registry,
    private readonly resolver: Resolver,
    node: string,
  ) {
    this.latency = new Histogram({
      name: 'kubepulse_tcp_latency_seconds',
      help: 'Time from SYN sent to connection established, in seconds, for outgoing TCP connections.',
      labelNames: POD_LABEL_NAMES,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'kubepulse_tcp_connection_duration_seconds',
      help: 'Lifetime of established outgoing TCP connections, from connect to close, in seconds.',
      labelNames: POD_LABEL_NAMES,
      buckets: DURATION_BUCKETS,
      registers: [registry],
    });
    this.connections = new Counter({
      name: 'kubepulse_tcp_connections_total',
      help:
        'Outgoing TCP connections by result. Each attempt ends as established, refused, timeout or error; ' +
        'an established connection later torn down by a reset from its peer is counted again as reset.',
      labelNames: [...POD_LABEL_NAMES, 'result'],
      registers: [registry],
    });
    this.children = new PodChildren(node, (labels) => {
      const results: TcpChildren['results'] = [];
      for (let r = 1; r < TCP_RESULTS.length; r++) {
        // "closed" is the normal end of a connection, not a result worth a series.
        if (r !== RESULT_CLOSED) results[r] = this.connections.labels({ ...labels, result: TCP_RESULTS[r] as string });
      }
      return { latency: this.latency.labels(labels), duration: this.duration.labels(labels), results };
    });
  }

  handle(view: DataView, at: number, length: number): boolean {
    if (length < 64) return false;
    const result = tcpEvent.result(view, at);
    if (result < 1 || result >= TCP_RESULTS.length) return false;
    const id = this.resolver.resolve(tcpEvent.tgid(view, at), tcpEvent.cgroupId(view, at));
    const c = this.children.get(id);
    const seconds = tcpEvent.elapsedNs(view, at) / 1e9;
    if (result === RESULT_CLOSED || result === RESULT_RESET) {
      c.duration.observe(seconds);
    } else if (result === RESULT_ESTABLISHED) {
      c.latency.observe(seconds);
    }
    c.results[result]?.inc();
    return true;
  }

  forgetPod(namespace: string, pod: string): void {
    this.children.forgetPod(namespace, pod);
  }
}
