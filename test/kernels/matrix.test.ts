// Issue 7's kernel matrix: the same TCP and DNS checks on this host's kernel
// (no kprobes here) and on Debian's 6.1 under QEMU (kprobes), where the
// daemon must choose kprobes by itself. traffic.ts makes the traffic and
// reports; the assertions are here, identical for both kernels.

import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { detectKernel } from '../../src/bpf/kernel.js';
import { needsBpf } from '../support/privileges.js';
import { prepareGuest, repoRoot, runInGuest } from './guest.js';
import { TRAFFIC, type TrafficResult } from './traffic.js';

const run = promisify(execFile);

/** traffic.ts and what it imports, compiled to plain JS in dir. */
async function compileTraffic(dir: string): Promise<string> {
  const tsconfig = join(dir, 'tsconfig.json');
  await writeFile(
    tsconfig,
    JSON.stringify({
      extends: join(repoRoot, 'tsconfig.json'),
      compilerOptions: { outDir: join(dir, 'js'), rootDir: repoRoot, sourceMap: false, typeRoots: [join(repoRoot, 'node_modules', '@types')] },
      include: [],
      files: [join(repoRoot, 'test', 'kernels', 'traffic.ts')],
    }),
  );
  await run(join(repoRoot, 'node_modules', '.bin', 'tsc'), ['-p', tsconfig]);
  await writeFile(join(dir, 'js', 'package.json'), '{"type":"module"}\n');
  return join(dir, 'js', 'test', 'kernels', 'traffic.js');
}

function holdsTheChecks(t: Tap.Test, r: TrafficResult): void {
  const g = r.grown;
  t.ok((g.established ?? 0) >= TRAFFIC.established, `established ${g.established} ≥ ${TRAFFIC.established}`);
  t.ok((g.refused ?? 0) >= TRAFFIC.refused, `refused ${g.refused} ≥ ${TRAFFIC.refused}`);
  t.ok((g.tcpLatencyCount ?? 0) >= TRAFFIC.established, 'a connect latency per established connection');
  t.ok((g.tcpDurationCount ?? 0) >= TRAFFIC.established, 'a duration per closed connection');
  t.equal(g.dnsQueriesExampleCoUk, TRAFFIC.dns.noerror, 'queries by registered domain (example.co.uk)');
  t.equal(g.dnsQueriesExampleCom, TRAFFIC.dns.nxdomain, 'queries by registered domain (example.com)');
  t.equal(g.noerror, TRAFFIC.dns.noerror, 'NOERROR');
  t.equal(g.nxdomain, TRAFFIC.dns.nxdomain, 'NXDOMAIN');
  t.equal(g.servfail, TRAFFIC.dns.servfail, 'SERVFAIL');
  t.equal(g.timeout, TRAFFIC.dns.silent, 'unanswered → timeout');
  const answered = TRAFFIC.dns.noerror + TRAFFIC.dns.nxdomain + TRAFFIC.dns.servfail;
  t.equal(g.dnsLatencyCount, answered, 'a DNS latency per answered query');
  t.equal(g.dnsLatencyUnder1s, answered, 'loopback answers within 1 s');
  t.equal(g.dropped, 0, 'no events dropped');
}

// Compiling once serves both kernels.
const work = await mkdtemp(join(tmpdir(), 'kp-matrix-'));
t.teardown(() => rm(work, { recursive: true, force: true }));
const bpfSkip = needsBpf().skip;
const script = bpfSkip ? '' : await compileTraffic(work);

t.test("this host's kernel", { skip: bpfSkip }, async (t) => {
  const out = await mkdtemp(join(work, 'host-'));
  await run(process.execPath, [script], { env: { ...process.env, OUT: out, KUBEPULSE_ROOT: repoRoot }, timeout: 180_000 });
  const r = JSON.parse(await readFile(join(out, 'result.json'), 'utf8')) as TrafficResult;
  t.comment(`kernel ${r.kernel}: tcp via ${r.hooks.tcp}, dns via ${r.hooks.dns}`);
  const kprobes = detectKernel({ procfs: '/proc', sysfs: '/sys' }).kprobes;
  t.match(r.hooks.tcp, kprobes ? /^kprobe\// : /^(tp_btf|tracepoint)\//, kprobes ? 'kprobes where the kernel has them' : 'tracepoints where it has no kprobes');
  t.match(r.hooks.dns, /^cgroup_skb\//);
  holdsTheChecks(t, r);
});

t.test("Debian's 6.1 kernel under QEMU (kprobes)", { skip: bpfSkip }, async (t) => {
  const avail = await prepareGuest();
  if (!avail.ok) {
    t.skip(`guest kernel unavailable: ${avail.reason}`);
    return;
  }
  const out = await mkdtemp(join(work, 'guest-'));
  // The guest's /tmp is its own; the run directory (work: the compiled
  // script and out/) is shared with it at the same path.
  const g = await runInGuest({
    command: ['node', script],
    env: { OUT: out, KUBEPULSE_ROOT: repoRoot },
    runDir: work,
    timeoutMs: 280_000,
  });
  t.equal(g.exitCode, 0, `checks ran in the guest (boot ${g.bootMs} ms, cycle ${g.durationMs} ms)`, { output: g.output.slice(-3000), error: g.error });
  if (g.exitCode !== 0) return;
  const r = JSON.parse(await readFile(join(out, 'result.json'), 'utf8')) as TrafficResult;
  t.comment(`kernel ${r.kernel}: tcp via ${r.hooks.tcp}, dns via ${r.hooks.dns}`);
  t.match(r.kernel, /^6\.1\./, 'the guest runs 6.1');
  t.equal(r.hooks.tcp, 'kprobe/tcp_connect+kprobe/tcp_set_state', 'the daemon chose kprobes on its own');
  t.match(r.hooks.dns, /^cgroup_skb\//);
  holdsTheChecks(t, r);
});
