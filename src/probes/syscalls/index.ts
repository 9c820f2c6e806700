// The syscalls probe: which syscalls each container makes, read from
// syscalls.bpf.o's per-cgroup bitmaps (/api/v1/syscalls, seccomp profiles).

import type { ProbeModule } from '../module.js';
import { SyscallsCollector } from './collector.js';
import { syscallsProbe } from './probe.js';

export const syscallsModule: ProbeModule = {
  name: 'syscalls',
  kernelObjects: () => [syscallsProbe()],
  create(ctx) {
    const syscalls = new SyscallsCollector(ctx.registry, ctx.resolver, ctx.pods, { node: ctx.config.nodeName, podRoots: ctx.podRoots });
    return {
      attached: (probe) => {
        if (probe.name === 'syscalls') syscalls.attach(probe.object);
      },
      routes: { '/api/v1/syscalls': () => syscalls.snapshot() },
      podDeleted: (pod) => syscalls.podGone(pod.uid),
      stop: () => syscalls.stop(),
    };
  },
};
