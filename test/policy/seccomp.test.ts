import t from 'tap';
import { parse } from 'yaml';
import {
  buildSeccompProfile,
  generateSeccompProfiles,
  renderSeccompJson,
  renderSpoSeccompProfile,
  RUNC_BASELINE,
  type SeccompProfile,
} from '../../src/policy/seccomp.js';
import { toYaml } from '../../src/policy/network-policy.js';
import { syscallTable } from '../../src/policy/syscall-table.js';
import { buildProbe, buildSeccompExec, LOADER_BASELINE, PROBE_SYSCALLS, runUnderProfile, straceSyscalls } from '../support/seccomp.js';
import { syscallsReport } from './fixtures/load.js';

/** Problems against the OCI runtime spec's LinuxSeccomp shape, as runc reads it. */
function profileProblems(p: SeccompProfile, arch = 'x86_64'): string[] {
  const table = syscallTable(arch)!;
  const problems: string[] = [];
  if (p.defaultAction !== 'SCMP_ACT_ERRNO') problems.push(`defaultAction ${p.defaultAction}`);
  if (!p.architectures.every((a) => /^SCMP_ARCH_[A-Z0-9_]+$/.test(a))) problems.push('architectures');
  if (p.syscalls.length !== 1 || p.syscalls[0]!.action !== 'SCMP_ACT_ALLOW') problems.push('one allow rule');
  const names = p.syscalls[0]?.names ?? [];
  if (names.join() !== [...new Set(names)].sort().join()) problems.push('names sorted and unique');
  for (const n of names) if (table.number(n) === undefined) problems.push(`unknown ${arch} syscall ${n}`);
  return problems;
}

t.test('a profile from a list: deny by default, sorted, deduplicated, baseline added', async (t) => {
  const p = buildSeccompProfile(['write', 'read', 'write', 'epoll_wait'], { baseline: ['execve'] });
  t.same(p, {
    defaultAction: 'SCMP_ACT_ERRNO',
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    syscalls: [{ names: ['epoll_wait', 'execve', 'read', 'write'], action: 'SCMP_ACT_ALLOW' }],
  });
  t.same(profileProblems(p), []);
  const withRunc = buildSeccompProfile(['read']);
  t.same(withRunc.syscalls[0]!.names, [...new Set(['read', ...RUNC_BASELINE])].sort());
  t.same(profileProblems(withRunc), []);
  t.same(buildSeccompProfile(['read'], { arches: ['aarch64'], baseline: [] }).architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  t.throws(() => buildSeccompProfile(['read'], { arches: ['mips'] }), /unsupported architecture "mips"/);
  t.equal(renderSeccompJson(p), `${JSON.stringify(p, null, 2)}\n`);
});

t.test('the runc baseline is small and every name is a real x86_64 and arm64 syscall', async (t) => {
  t.ok(RUNC_BASELINE.length <= 40, `${RUNC_BASELINE.length} names`);
  for (const arch of ['x86_64', 'aarch64']) t.same(RUNC_BASELINE.filter((n) => syscallTable(arch)!.number(n) === undefined), [], arch);
  t.same([...RUNC_BASELINE], [...RUNC_BASELINE].sort(), 'kept sorted');
  t.ok(RUNC_BASELINE.includes('execve'));
});

t.test('per container, merged across the pods of a workload', async (t) => {
  const { profiles, warnings } = generateSeccompProfiles([syscallsReport('syscalls-n1.json')], { baseline: [] });
  t.same(
    profiles.map((p) => `${p.namespace}/${p.workload}/${p.container}`),
    ['db/pg/pg', 'shop/web/istio-proxy', 'shop/web/web'],
  );
  const web = profiles.find((p) => p.container === 'web')!;
  t.same(web.profile.syscalls[0]!.names, ['accept4', 'close', 'epoll_wait', 'futex', 'read', 'recvfrom', 'sendto', 'write']);
  t.same(warnings, ['db/pg/sleeper: no syscalls observed; no profile written (one allowing only the baseline would stop it from starting)']);
  for (const p of profiles) t.same(profileProblems(p.profile), [], `${p.workload}/${p.container}`);
  const only = generateSeccompProfiles([syscallsReport('syscalls-n1.json')], { namespace: 'shop', workload: 'web', container: 'web' });
  t.equal(only.profiles.length, 1);
  const none = generateSeccompProfiles([syscallsReport('syscalls-n1.json')], { workload: 'ghost' });
  t.same(none.profiles, []);
  t.match(none.warnings[0], /no containers with observed syscalls match ghost/);
});

// An arm64 agent's answer (fixtures/syscalls-arm64.json): its names come from
// the arm64 table (epoll_pwait, never epoll_wait, which arm64 does not have).
t.test('arm64: the profile names the arm64 ABI and is checked against the arm64 table', async (t) => {
  const arm = syscallsReport('syscalls-arm64.json');
  const { profiles, warnings } = generateSeccompProfiles([arm], { baseline: [] });
  t.same(warnings, []);
  t.same(profiles.map((p) => `${p.namespace}/${p.workload}/${p.container}`), ['shop/web/web']);
  const web = profiles[0]!.profile;
  t.same(web.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  t.same(web.syscalls[0]!.names, ['accept4', 'close', 'epoll_pwait', 'futex', 'newfstatat', 'read', 'write']);
  t.same(profileProblems(web, 'aarch64'), []);
  t.same(profileProblems(buildSeccompProfile(['read'], { arches: ['aarch64'] }), 'aarch64'), [], 'the baseline exists on arm64');

  // A name the arm64 kernel cannot have made means the agent used the wrong table.
  const wrong = { ...arm, containers: arm.containers.map((c) => ({ ...c, syscalls: [...c.syscalls, 'epoll_wait', 'open'] })) };
  t.same(generateSeccompProfiles([wrong], { baseline: [] }).warnings, ['shop/web/web: syscall name(s) not in the aarch64 table, kept as observed: epoll_wait, open']);
  const goSpelling = { ...arm, arch: 'arm64' };
  t.same(generateSeccompProfiles([goSpelling], { baseline: [] }).profiles[0]!.profile, web, 'arm64 and aarch64 are one architecture');
});

t.test('a workload on x86_64 and arm64 nodes: one profile for both ABIs, each name checked on its own node', async (t) => {
  const { profiles, warnings } = generateSeccompProfiles([syscallsReport('syscalls-n1.json'), syscallsReport('syscalls-arm64.json')], { baseline: [], workload: 'web', container: 'web' });
  t.same(warnings, [], 'epoll_wait from the x86_64 node is no error though arm64 lacks it');
  const web = profiles[0]!.profile;
  t.same(web.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM', 'SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  t.same(web.syscalls[0]!.names, ['accept4', 'close', 'epoll_pwait', 'epoll_wait', 'futex', 'newfstatat', 'read', 'recvfrom', 'sendto', 'write']);
});

t.test('deterministic whatever the order of reports, containers and names', async (t) => {
  const a = syscallsReport('syscalls-n1.json');
  const b = { ...a, containers: [...a.containers].reverse().map((c) => ({ ...c, syscalls: [...c.syscalls].reverse() })) };
  const render = (r: typeof a) => generateSeccompProfiles([r]).profiles.map((p) => renderSeccompJson(p.profile)).join('');
  t.equal(render(b), render(a));
});

t.test('syscall_<n> (a number the agent cannot name) is reported but never put in a profile', async (t) => {
  const report = {
    node: 'n1',
    arch: 'x86_64',
    containers: [
      { namespace: 'shop', pod: 'web-1', workload: 'web', workloadKind: 'Deployment', container: 'web', podLabels: {}, syscalls: ['read', 'syscall_511', 'write', 'syscall_470'] },
      { namespace: 'shop', pod: 'web-1', workload: 'web', workloadKind: 'Deployment', container: 'odd', podLabels: {}, syscalls: ['syscall_500'] },
    ],
  };
  const { profiles, warnings } = generateSeccompProfiles([report], { baseline: [] });
  t.same(profiles.map((p) => `${p.container}: ${p.profile.syscalls[0]!.names.join(' ')}`), ['web: read write']);
  for (const p of profiles) t.same(profileProblems(p.profile), []);
  t.same(warnings, [
    'shop/web/odd: left out 1 syscall(s) the agent has no name for, which libseccomp cannot load: syscall_500; the profile denies them (add their names by hand if the container needs them)',
    'shop/web/odd: no named syscalls observed; no profile written',
    'shop/web/web: left out 2 syscall(s) the agent has no name for, which libseccomp cannot load: syscall_470, syscall_511; the profile denies them (add their names by hand if the container needs them)',
  ]);
});

t.test('Security Profiles Operator SeccompProfile', async (t) => {
  const { profiles } = generateSeccompProfiles([syscallsReport('syscalls-n1.json')], { baseline: [] });
  const web = profiles.find((p) => p.container === 'web')!;
  const obj = renderSpoSeccompProfile(web);
  t.same(obj, {
    apiVersion: 'security-profiles-operator.x-k8s.io/v1beta1',
    kind: 'SeccompProfile',
    metadata: {
      name: 'web-web',
      namespace: 'shop',
      labels: { 'app.kubernetes.io/managed-by': 'kubepulse' },
      annotations: { 'kubepulse.io/workload': 'web', 'kubepulse.io/container': 'web' },
    },
    spec: web.profile,
  });
  t.same(parse(toYaml(obj)), obj, 'round-trips through YAML');
});

// Privileged-ish part: compiles the loader and runs programs under real filters;
// skipped, with the reason printed, where cc, libseccomp-dev or strace is missing.
const loader = buildSeccompExec();
const probe = loader.ok ? buildProbe() : loader;
const echo = loader.ok ? straceSyscalls(['/bin/echo', 'hello']) : loader;

t.test('enforced: a libc-free program, exactly its syscalls pass, one fewer is EPERM', { skip: probe.ok ? false : probe.skip }, async (t) => {
  if (!loader.ok || !probe.ok) return;
  const observed = [...PROBE_SYSCALLS];
  const ok = runUnderProfile(loader.path, buildSeccompProfile(observed, { baseline: LOADER_BASELINE }), [probe.path]);
  t.same([ok.status, ok.stdout], [0, 'probe ok\n'], ok.stderr);

  const noWrite = runUnderProfile(loader.path, buildSeccompProfile(observed.filter((s) => s !== 'write'), { baseline: LOADER_BASELINE }), [probe.path]);
  t.equal(noWrite.status, 20 + 1, 'write failed with EPERM (1)');
  t.equal(noWrite.stdout, '');

  const noGetppid = runUnderProfile(loader.path, buildSeccompProfile(observed.filter((s) => s !== 'getppid'), { baseline: LOADER_BASELINE }), [probe.path]);
  t.equal(noGetppid.status, 10 + 1, 'getppid failed with EPERM (1)');

  const withRunc = runUnderProfile(loader.path, buildSeccompProfile(observed), [probe.path]);
  t.equal(withRunc.status, 0, 'the runc baseline only adds');

  const noExec = runUnderProfile(loader.path, buildSeccompProfile(observed, { baseline: [] }), [probe.path]);
  t.equal(noExec.status, 126, 'without the loader baseline the command never starts');

  // What the agent reports for a number newer than its table: the generated profile still loads.
  const report = { node: 'n1', arch: 'x86_64', containers: [{ namespace: 'a', pod: 'p', workload: 'w', workloadKind: 'Job', container: 'c', podLabels: {}, syscalls: [...observed, 'syscall_511'] }] };
  const generated = generateSeccompProfiles([report], { baseline: LOADER_BASELINE }).profiles[0]!.profile;
  const unnamed = runUnderProfile(loader.path, generated, [probe.path]);
  t.same([unnamed.status, unnamed.stdout], [0, 'probe ok\n'], `libseccomp loads the profile ${unnamed.stderr}`);
});

t.test('enforced: /bin/echo under the profile of its observed syscalls, and without write', { skip: echo.ok ? false : echo.skip }, async (t) => {
  if (!loader.ok || !echo.ok) return;
  t.ok(echo.names.includes('write'), `observed: ${echo.names.join(' ')}`);
  const ok = runUnderProfile(loader.path, buildSeccompProfile(echo.names, { baseline: LOADER_BASELINE }), ['/bin/echo', 'hello']);
  t.same([ok.status, ok.stdout], [0, 'hello\n'], ok.stderr);
  const denied = runUnderProfile(loader.path, buildSeccompProfile(echo.names.filter((s) => s !== 'write'), { baseline: LOADER_BASELINE }), ['/bin/echo', 'hello']);
  t.not(denied.status, 0);
  t.equal(denied.stdout, '');
  t.equal(denied.stderr, '', 'even the error report is denied');
});
