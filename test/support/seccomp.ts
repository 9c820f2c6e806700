// Real seccomp enforcement for tests: compiles test/support/seccomp-exec.c
// (needs a C compiler and libseccomp-dev) and runs commands under a
// generated profile. Every helper returns a skip reason instead of failing
// when this machine lacks what it needs.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { arch, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What seccomp-exec itself does after loading the filter: only the execve of the command. */
export const LOADER_BASELINE: readonly string[] = ['execve'];

export const LOADER_SOURCE = fileURLToPath(new URL('./seccomp-exec.c', import.meta.url));

export type Built = { ok: true; path: string } | { ok: false; skip: string };

export interface SeccompProfileLike {
  defaultAction: string;
  syscalls: { names: string[]; action: string }[];
}

export interface RunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

let workDir: string | undefined;

/** One temporary build directory per test process, removed on exit. */
export function buildDir(): string {
  if (workDir === undefined) {
    workDir = mkdtempSync(join(tmpdir(), 'kubepulse-seccomp-'));
    const dir = workDir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return workDir;
}

function seccompAvailable(): string | undefined {
  try {
    if (!/^Seccomp:/m.test(readFileSync('/proc/self/status', 'utf8'))) return 'the kernel has no seccomp (CONFIG_SECCOMP)';
  } catch {
    return 'cannot read /proc/self/status';
  }
  return undefined;
}

function compile(out: string, args: string[]): string | undefined {
  const cc = spawnSync('cc', ['-O2', '-Wall', '-o', out, ...args], { encoding: 'utf8' });
  if (cc.error !== undefined) return `no C compiler (cc): ${cc.error.message}`;
  if (cc.status !== 0) return cc.stderr.trim();
  return undefined;
}

/** cc seccomp-exec.c -lseccomp into the build directory. */
export function buildSeccompExec(): Built {
  const missing = seccompAvailable();
  if (missing !== undefined) return { ok: false, skip: missing };
  if (!existsSync('/usr/include/seccomp.h')) return { ok: false, skip: 'libseccomp-dev is not installed (no /usr/include/seccomp.h)' };
  const out = join(buildDir(), 'seccomp-exec');
  const err = compile(out, [LOADER_SOURCE, '-lseccomp']);
  return err === undefined ? { ok: true, path: out } : { ok: false, skip: `cannot build seccomp-exec: ${err}` };
}

/** What `sleep` needs once exec'd under seccomp-exec's allow list (Debian 12, x86_64 and arm64). */
export const SLEEP_SYSCALLS: readonly string[] = [
  'execve', 'brk', 'arch_prctl', 'mmap', 'munmap', 'mprotect', 'access', 'faccessat', 'faccessat2', 'openat', 'newfstatat', 'fstat', 'close', 'read', 'pread64',
  'set_tid_address', 'set_robust_list', 'rseq', 'prlimit64', 'getrandom', 'clock_nanosleep', 'nanosleep', 'exit_group', 'exit', 'rt_sigaction',
  'rt_sigprocmask', 'rt_sigreturn', 'futex', 'write', 'lseek', 'ioctl', 'getpid', 'uname', 'readlinkat', 'statx', 'fadvise64',
];

/** The syscalls PROBE_SOURCE makes, in order; its exit status names the one that failed. */
export const PROBE_SYSCALLS = ['getppid', 'write', 'exit_group'] as const;

/**
 * A program without libc whose every syscall is known: getppid, write
 * "probe ok\n" to stdout, exit_group(0). A failing call k (1 = getppid,
 * 2 = write) exits with 10*k + errno, so EPERM from write is status 21.
 */
export const PROBE_SOURCE = `
static long sys(long nr, long a, long b, long c) {
  long ret;
  __asm__ volatile ("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return ret;
}
static void quit(long code) { sys(231, code, 0, 0); for (;;) {} }
void _start(void) {
  static const char msg[] = "probe ok\\n";
  long r = sys(110, 0, 0, 0);
  if (r < 0) quit(10 - r);
  r = sys(1, 1, (long)msg, sizeof msg - 1);
  if (r < 0) quit(20 - r);
  quit(0);
}
`;

export function buildProbe(): Built {
  if (arch() !== 'x64') return { ok: false, skip: `the probe program is x86_64 assembly; this is ${arch()}` };
  const src = join(buildDir(), 'probe.c');
  writeFileSync(src, PROBE_SOURCE);
  const out = join(buildDir(), 'probe');
  const err = compile(out, ['-static', '-nostdlib', '-fno-stack-protector', src]);
  return err === undefined ? { ok: true, path: out } : { ok: false, skip: `cannot build the probe: ${err}` };
}

/** Names a profile allows; only the allow-list shape the generator writes is supported. */
export function allowedNames(profile: SeccompProfileLike): string[] {
  if (profile.defaultAction !== 'SCMP_ACT_ERRNO') throw new Error(`seccomp-exec implements defaultAction SCMP_ACT_ERRNO only, got ${profile.defaultAction}`);
  return profile.syscalls.flatMap((r) => {
    if (r.action !== 'SCMP_ACT_ALLOW') throw new Error(`seccomp-exec implements SCMP_ACT_ALLOW rules only, got ${r.action}`);
    return r.names;
  });
}

let runs = 0;

export function runUnderProfile(loader: string, profile: SeccompProfileLike, argv: readonly string[]): RunResult {
  const allow = join(buildDir(), `allow-${process.pid}-${runs++}.txt`);
  writeFileSync(allow, `${allowedNames(profile).join('\n')}\n`);
  const r = spawnSync(loader, [allow, ...argv], { encoding: 'utf8', timeout: 30_000 });
  if (r.error !== undefined) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The syscall names a command makes from its execve on, recorded with
 * strace (an observer stand-in for tests that have no BPF probe).
 */
export function straceSyscalls(argv: readonly string[]): { ok: true; names: string[] } | { ok: false; skip: string } {
  const out = join(buildDir(), `strace-${process.pid}-${runs++}.txt`);
  const r = spawnSync('strace', ['-f', '-qq', '-o', out, '--', ...argv], { encoding: 'utf8', timeout: 30_000 });
  if (r.error !== undefined) return { ok: false, skip: `strace is not available: ${r.error.message}` };
  if (r.status !== 0) return { ok: false, skip: `strace failed (${r.status}): ${r.stderr.trim()}` };
  const names = new Set<string>();
  for (const line of readFileSync(out, 'utf8').split('\n')) {
    const m = /^(?:\d+\s+)?([a-z_][a-z0-9_]*)\(/.exec(line);
    if (m !== null) names.add(m[1] as string);
  }
  return { ok: true, names: [...names].sort() };
}
