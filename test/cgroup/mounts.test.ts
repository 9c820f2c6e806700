import t from 'tap';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cgroup2At, cgroupIdOf, findCgroup2Mount, findMount } from '../../src/cgroup/mounts.js';

t.test('the first mount of a type, octal escapes decoded', async (t) => {
  const mounts = [
    'tmpfs /sys/fs/cgroup tmpfs rw 0 0',
    'cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0',
    'cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0',
    'cgroup2 /second cgroup2 rw 0 0',
    'tracefs /sys/kernel/my\\040tracing tracefs rw 0 0',
  ].join('\n');
  t.equal(findMount(mounts, 'cgroup2'), '/sys/fs/cgroup/unified');
  t.equal(findMount(mounts, 'tracefs'), '/sys/kernel/my tracing');
  t.equal(findMount(mounts, 'bpf'), undefined);
});

t.test('the cgroup v2 mount from <procfs>/mounts; the id is the inode', async (t) => {
  const procfs = mkdtempSync(join(tmpdir(), 'kp-mounts-'));
  t.teardown(() => rmSync(procfs, { recursive: true, force: true }));
  writeFileSync(join(procfs, 'mounts'), 'proc /proc proc rw 0 0\ncgroup2 /sys/fs/cgroup/with\\040space cgroup2 rw 0 0\n');
  t.equal(findCgroup2Mount(procfs), '/sys/fs/cgroup/with space');
  t.throws(() => findCgroup2Mount(join(procfs, 'missing')), 'an unreadable table is an error, not "no mount"');
  t.equal(cgroupIdOf(procfs), statSync(procfs).ino);
});

t.test('--path.cgroupfs: the path when it is cgroup2, else the cgroup2 mount below it (a hybrid host)', async (t) => {
  const unified = 'cgroup2 /host/sys/fs/cgroup cgroup2 ro 0 0\n';
  t.equal(cgroup2At(unified, '/host/sys/fs/cgroup'), '/host/sys/fs/cgroup');
  t.equal(cgroup2At(unified, '/host/sys/fs/cgroup/'), '/host/sys/fs/cgroup/');
  const hybrid = [
    'cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0',
    'tmpfs /host/sys/fs/cgroup tmpfs ro 0 0',
    'cgroup /host/sys/fs/cgroup/cpu cgroup ro,cpu 0 0',
    'cgroup2 /host/sys/fs/cgroup/unified cgroup2 ro 0 0',
  ].join('\n');
  t.equal(cgroup2At(hybrid, '/host/sys/fs/cgroup'), '/host/sys/fs/cgroup/unified');
  t.equal(cgroup2At(hybrid, '/host/sys/fs/cgroup/unified'), '/host/sys/fs/cgroup/unified');
  t.equal(cgroup2At(hybrid, '/host/sys/fs/cgroup-other'), '/host/sys/fs/cgroup-other', 'only below the path, not beside it');
  t.equal(cgroup2At('', '/fixture/tree'), '/fixture/tree', 'a path with no mount at all is taken as given (fixture trees)');
});
