// How the flows probe attaches: cgroup_skb, on every kernel (see
// bpf/flows.bpf.c). It counts pods' sockets only: loaded at the cgroup v2
// root, its programs are then moved below each pod root PodRoots finds
// (../pod-roots.ts, FlowsCollector.attach), so host packets never run them.

import type { ProbeSpec } from '../../bpf/probe.js';

export const flowsProbe: ProbeSpec = {
  name: 'flows',
  objectFile: 'flows.bpf.o',
  plans: [
    {
      hook: 'cgroup_skb/egress+cgroup_skb/ingress',
      mode: 'any',
      programs: [
        { name: 'kp_flows_egress', cgroup: true },
        { name: 'kp_flows_ingress', cgroup: true },
      ],
      unavailable: (k) => {
        if (!k.cgroup2) return 'needs a cgroup v2 mount (cgroup2 in /proc/self/mounts, or --path.cgroupfs)';
        if (!k.capabilities.netAdmin) return 'needs CAP_NET_ADMIN (cgroup_skb programs)';
        return undefined;
      },
    },
  ],
};
