// The TCP probe: connect latency, connection duration and results per pod,
// from the events of tcp.bpf.o.

import type { ProbeModule } from '../module.js';
import { TcpCollector } from './collector.js';
import { TCP_EVENT_TYPE } from './event.js';
import { tcpProbe } from './probe.js';

export const tcpModule: ProbeModule = {
  name: 'tcp',
  kernelObjects: () => [tcpProbe],
  create(ctx) {
    const tcp = new TcpCollector(ctx.registry, ctx.resolver, ctx.config.nodeName, ctx.unattributed.forProbe('tcp'));
    tcp.stream = ctx.stream;
    return {
      events: new Map([[TCP_EVENT_TYPE, (view, at, length) => void tcp.handle(view, at, length)]]),
      forgetPodSeries: (namespace, pod) => tcp.forgetPod(namespace, pod),
    };
  },
};
