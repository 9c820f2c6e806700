// The flows probe: who talks to whom, read from flows.bpf.o's map at scrape
// time and for /api/v1/flows (the policy exporter's input).

import { NetworkDriftTracker } from '../../drift/network-drift.js';
import { FlowTicker } from '../../stream/flow-ticker.js';
import type { ProbeModule } from '../module.js';
import { FlowsCollector } from './collector.js';
import { flowsProbe } from './probe.js';

export const flowsModule: ProbeModule = {
  name: 'flows',
  kernelObjects: () => [flowsProbe],
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
        if (probe.name === flowsProbe.name) flows.attach(probe.object);
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
