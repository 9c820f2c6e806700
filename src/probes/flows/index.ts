// The flows probe: who talks to whom, read from the packets object's flows
// map (bpf/packets.bpf.c, bpf/flows.bpf.h) at scrape time and for
// /api/v1/flows (the policy exporter's input).

import { NetworkDriftTracker } from '../../drift/network-drift.js';
import { FlowTicker } from '../../stream/flow-ticker.js';
import type { ProbeModule } from '../module.js';
import { FlowsCollector } from './collector.js';
import { PACKETS_OBJECT, packetsProbe } from '../packets.js';

export const flowsModule: ProbeModule = {
  name: 'flows',
  kernelObjects: (config) => [packetsProbe(config)],
  create(ctx) {
    const flows = new FlowsCollector(ctx.registry, ctx.resolver, ctx.peers, ctx.pods, {
      node: ctx.config.nodeName,
      maxFlowsPerPod: ctx.config.flowsPerPod,
      numCpus: ctx.numCpus,
      podRoots: ctx.podRoots,
    });
    const drift = ctx.drift;
    if (drift?.policies !== undefined) {
      const tracker = new NetworkDriftTracker({ registry: ctx.registry, pods: ctx.pods, policies: drift.policies, nodeAddresses: drift.nodeAddresses });
      flows.onRead((records) => tracker.observe(records));
      drift.report.addNetwork(() => {
        flows.readIfOlder(500);
        return tracker.list();
      });
      tracker.beforeCollect(() => flows.readIfOlder(500));
    }
    // Flow events for the live stream: the map read about once a second.
    const ticker = new FlowTicker(ctx.stream, flows);
    ticker.start();
    return {
      attached: (probe) => {
        // Alone, the programs can hang below the pod roots (host packets never
        // run them); with DNS they stay at the root, where DNS needs them.
        if (probe.name === PACKETS_OBJECT) flows.attach(probe.object, { belowPodRoots: !ctx.config.probes.includes('dns') });
      },
      routes: { '/api/v1/flows': () => flows.snapshot() },
      podDeleted: (pod) => flows.podGone(pod.uid),
      stop: () => {
        ticker.stop();
        flows.stop();
      },
    };
  },
};
