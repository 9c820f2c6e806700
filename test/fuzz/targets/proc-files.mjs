// Readers of /proc text: mount tables (src/cgroup/mounts.ts findMount, and
// findCgroup2Mount through a real file) and the capability
// line of /proc/self/status (parseCapabilities). Under --path.procfs these
// files can be anything the operator mounted.
// Invariant: never throws; a mount point found is a string starting with "/"
// (or undefined); capabilities are booleans.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default {
  sources: ['src/bpf/kernel.js', 'src/cgroup/mounts.js'],
  maxLength: 2048,
  dictionary: ['cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0\n', ' tracefs ', '\\040', '\\134', '\\011', 'CapEff:\t', '000001ffffffffff', '\n', ' cgroup2 ', 'none '],
  async setup(load) {
    const kernel = await load('src/bpf/kernel.js');
    const mounts = await load('src/cgroup/mounts.js');
    const dir = mkdtempSync(join(tmpdir(), 'kubepulse-fuzz-proc-'));
    let execs = 0;
    return (data) => {
      const text = data.toString('utf8');
      for (const type of ['cgroup2', 'tracefs']) {
        const at = mounts.findMount(text, type);
        if (at !== undefined && typeof at !== 'string') throw new Error(`findMount gave ${typeof at}`);
      }
      const caps = kernel.parseCapabilities(text);
      for (const k of ['bpf', 'perfmon', 'netAdmin', 'sysAdmin']) if (typeof caps[k] !== 'boolean') throw new Error(`capability ${k} is ${caps[k]}`);
      // Through a real file now and then: a write per input would halve the rate.
      if (execs++ % 16 !== 0) return;
      writeFileSync(join(dir, 'mounts'), data);
      const mount = mounts.findCgroup2Mount(dir);
      if (mount !== undefined && typeof mount !== 'string') throw new Error(`findCgroup2Mount gave ${typeof mount}`);
    };
  },
};
