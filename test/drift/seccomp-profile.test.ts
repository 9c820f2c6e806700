// Seccomp profile JSON (OCI / kubelet Localhost / `kubepulse policy
// seccomp`), allow-lists and deny-lists, log mode, architectures, and bad
// input with one clear error.
import t from 'tap';
import { parseSeccompProfile, SeccompProfileError } from '../../src/drift/seccomp-profile.js';
import { buildSeccompProfile, renderSeccompJson } from '../../src/policy/seccomp.js';

const allows = (profile: unknown, names: string[], arch = 'x86_64') => {
  const p = parseSeccompProfile(JSON.stringify(profile), arch);
  return Object.fromEntries(names.map((n) => [n, p.allows(n)]));
};

t.test('allow-lists: only what the rules allow', async (t) => {
  const profile = { defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' }] };
  t.same(allows(profile, ['read', 'write', 'mount']), { read: true, write: true, mount: false });
  // Log mode: what is not allowed runs and is logged; still not allowed.
  t.same(allows({ ...profile, defaultAction: 'SCMP_ACT_LOG' }, ['read', 'mount']), { read: true, mount: false });
  // The single-name form of older Docker profiles.
  t.same(allows({ defaultAction: 'SCMP_ACT_KILL', syscalls: [{ name: 'exit', action: 'SCMP_ACT_ALLOW' }] }, ['exit', 'read']), { exit: true, read: false });
});

t.test('deny-lists: all but what the rules deny or log', async (t) => {
  const profile = {
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [
      { names: ['mount', 'umount2'], action: 'SCMP_ACT_ERRNO' },
      { names: ['ptrace'], action: 'SCMP_ACT_LOG' },
    ],
  };
  t.same(allows(profile, ['read', 'mount', 'umount2', 'ptrace']), { read: true, mount: false, umount2: false, ptrace: false });
});

t.test('the first rule naming a syscall decides; conditional rules allow', async (t) => {
  const profile = {
    defaultAction: 'SCMP_ACT_ERRNO',
    syscalls: [
      { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }] },
      { names: ['personality', 'clone'], action: 'SCMP_ACT_ERRNO' },
    ],
  };
  t.same(allows(profile, ['personality', 'clone']), { personality: true, clone: false });
});

t.test('architectures and includes/excludes', async (t) => {
  const arm = { defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_AARCH64'], syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] };
  t.same(allows(arm, ['read'], 'x86_64'), { read: false }, 'a profile without the native architecture allows nothing');
  t.same(allows(arm, ['read'], 'aarch64'), { read: true });
  const docker = {
    defaultAction: 'SCMP_ACT_ERRNO',
    syscalls: [
      { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64', 'x32'] } },
      { names: ['sync_file_range2'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['arm64'] } },
      { names: ['open'], action: 'SCMP_ACT_ALLOW', excludes: { arches: ['arm64'] } },
    ],
  };
  t.same(allows(docker, ['arch_prctl', 'sync_file_range2', 'open'], 'x86_64'), { arch_prctl: true, sync_file_range2: false, open: true });
  t.same(allows(docker, ['arch_prctl', 'sync_file_range2', 'open'], 'aarch64'), { arch_prctl: false, sync_file_range2: true, open: false });
});

t.test('what `kubepulse policy seccomp` exports reads back', async (t) => {
  const text = renderSeccompJson(buildSeccompProfile(['getppid'], { baseline: ['execve'] }));
  const p = parseSeccompProfile(text, 'x86_64');
  t.same([p.allows('getppid'), p.allows('execve'), p.allows('write')], [true, true, false]);
});

t.test('bad input: one clear error', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['{', /^not JSON/],
    ['[]', /not a JSON object/],
    ['{"syscalls":[]}', /no defaultAction/],
    ['{"defaultAction":"ALLOW"}', /no defaultAction/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":{}}', /syscalls is not a list/],
  ];
  for (const [text, want] of cases) t.throws(() => parseSeccompProfile(text, 'x86_64'), { constructor: SeccompProfileError, message: want }, text);
});
