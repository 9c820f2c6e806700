// The syscalls probe: which syscalls each container makes, read from
// syscalls.bpf.o's per-cgroup bitmaps (/api/v1/syscalls, seccomp profiles).

import { SeccompDriftTracker } from '../../drift/seccomp-drift.js';
import { UserError } from '../../errors.js';
import { nodeArch } from '../../policy/syscall-table.js';
import type { ProbeModule } from '../module.js';
import { SyscallsCollector } from './collector.js';
import { syscallsProbe } from './probe.js';

/** ?on=true|false of POST /api/v1/syscalls/recording. */
export function recordingSwitch(url: URL): boolean {
  const on = url.searchParams.get('on');
  if (on === 'true' || on === '1') return true;
  if (on === 'false' || on === '0') return false;
  throw new UserError(`?on= must be true or false, not ${on === null ? 'missing' : JSON.stringify(on)}`);
}

export const syscallsModule: ProbeModule = {
  name: 'syscalls',
  kernelObjects: () => [syscallsProbe()],
  create(ctx) {
    const syscalls = new SyscallsCollector(ctx.registry, ctx.resolver, ctx.pods, {
      node: ctx.config.nodeName,
      podRoots: ctx.podRoots,
      recording: ctx.config.syscallsRecording,
    });
    const drift = ctx.drift;
    if (drift !== undefined) {
      const tracker = new SeccompDriftTracker({
        registry: ctx.registry,
        pods: ctx.pods,
        seccompRoot: ctx.config.drift.seccompRoot,
        exportedProfiles: ctx.config.drift.seccompProfiles,
        arch: nodeArch(),
        log: ctx.log,
        containers: () => syscalls.read(),
      });
      drift.report.addSeccomp(() => tracker.list());
    }
    return {
      attached: (probe) => {
        if (probe.name === 'syscalls') syscalls.attach(probe.object);
      },
      routes: {
        '/api/v1/syscalls': () => syscalls.snapshot(),
        '/api/v1/syscalls/recording': () => syscalls.recordingState(),
      },
      postRoutes: { '/api/v1/syscalls/recording': (url) => syscalls.setRecording(recordingSwitch(url)) },
      podDeleted: (pod) => syscalls.podGone(pod.uid),
      stop: () => syscalls.stop(),
    };
  },
};
