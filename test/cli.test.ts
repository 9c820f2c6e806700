// What a user sees when something is wrong: one line, a non-zero exit.

import t from 'tap';
import { createServer } from 'node:net';
import { detectKernel } from '../src/bpf/kernel.js';
import { CLI, runCli } from './support/daemon.js';
import { needsBpf } from './support/privileges.js';
import { execFileSync } from 'node:child_process';

const oneLine = (s: string): boolean => s.trim().split('\n').length === 1;

t.test('unknown flag', async (t) => {
  const r = await runCli(['--frobnicate']);
  t.equal(r.code, 2);
  t.equal(r.stderr, 'kubepulse: unknown flag --frobnicate (see kubepulse --help)\n');
});

t.test('--help documents every flag and exits 0', async (t) => {
  const r = await runCli(['--help']);
  t.equal(r.code, 0);
  t.match(r.stdout, /--attach/);
  t.match(r.stdout, /KUBEPULSE_PORT/);
});

t.test('port in use', needsBpf(), async (t) => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const r = await runCli(['--port', String(port), '--listen-address', '127.0.0.1', '--log-level', 'error']);
  t.equal(r.code, 1);
  t.ok(oneLine(r.stderr), r.stderr);
  t.equal(r.stderr.trim(), `kubepulse: port ${port} on 127.0.0.1 is already in use (choose another with --port)`);
});

t.test('forcing kprobes on a kernel without them fails with one line', needsBpf(), async (t) => {
  if (detectKernel({ procfs: '/proc', sysfs: '/sys' }).kprobes) {
    t.skip('this kernel has kprobes', () => {});
    return;
  }
  const r = await runCli(['--attach=kprobe', '--port', '0', '--log-level', 'error']);
  t.equal(r.code, 1);
  t.ok(oneLine(r.stderr), 'one line, no stack trace');
  t.match(r.stderr, /^kubepulse: cannot attach the tcp probe with --attach=kprobe: .*needs CONFIG_KPROBES/);
  const check = await runCli(['check', '--attach=kprobe']);
  t.equal(check.code, 1, 'check fails too');
  t.match(check.stdout, /probe tcp\s+FAIL .*needs CONFIG_KPROBES/);
});

t.test('check passes on this machine and names the hooks', needsBpf(), async (t) => {
  const r = await runCli(['check']);
  t.equal(r.code, 0, r.stdout);
  t.match(r.stdout, /probe tcp\s+ok\s+\S+/);
  t.match(r.stdout, /^OK: every probe loads and attaches$/m);
});

t.test('without privileges: one line naming the capabilities', needsBpf(), async (t) => {
  // Drop every capability, keep root's uid so file access is unchanged.
  try {
    execFileSync('setpriv', ['--help'], { stdio: 'ignore' });
  } catch {
    t.skip('setpriv (util-linux) is not installed', () => {});
    return;
  }
  const { spawnSync } = await import('node:child_process');
  const out = spawnSync('setpriv', ['--inh-caps=-all', '--bounding-set=-all', process.execPath, CLI, '--port', '0'], { encoding: 'utf8' });
  const r = { code: out.status, stderr: out.stderr };
  t.equal(r.code, 1);
  t.equal(r.stderr.trim(), 'kubepulse: cannot load BPF: operation not permitted (needs CAP_BPF and CAP_PERFMON, or root)');
});
