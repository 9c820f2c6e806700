// `kubepulse top` and `kubepulse observe` in a real terminal (tmux): the
// real daemon on this machine's kernel, a pod cgroup with a bash
// "container" making connections and failing DNS queries, the Kubernetes
// API stand-in; the commands run in tmux panes, the test reads the screen
// with capture-pane and quits them with the keys a user would press.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBashContainer } from '../support/bash-container.js';
import { CLI, runCli, startDaemon, type RunningDaemon } from '../support/daemon.js';
import { startDnsServer } from '../support/dns-server.js';
import { TestKubeApiServer } from '../support/kube-api-server.js';
import { writeKubeconfig } from '../support/kubeconfig.js';
import { needsPodCgroups, PodCgroups } from '../support/pod-cgroups.js';
import { needsBpf } from '../support/privileges.js';
import { until } from '../support/until.js';
import { makePod, randomContainerId } from '../metadata/fixtures/pods.js';

function skipReason(): { skip: string | false } {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
  } catch {
    process.stdout.write('# skipping: needs tmux\n');
    return { skip: 'needs tmux' };
  }
  const bpf = needsBpf();
  if (bpf.skip !== false) return bpf;
  return needsPodCgroups();
}
const skip = skipReason();

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

t.test('top and observe on a terminal', skip, async (t) => {
  const daemons: RunningDaemon[] = [];
  const cgroups = new PodCgroups('kubepulse-tty');
  const closers: Array<() => Promise<void> | void> = [];
  const socket = `kubepulse-test-${randomBytes(4).toString('hex')}`;
  const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
  t.teardown(async () => {
    try {
      tmux('kill-server');
    } catch {
      /* already gone */
    }
    for (const d of daemons) await d.stop().catch(() => undefined);
    await cgroups.cleanup();
    for (const close of closers.reverse()) await close();
  });

  const node = `tty-node-${randomBytes(3).toString('hex')}`;
  const ns = `tty-${randomBytes(3).toString('hex')}`;
  const dns = await startDnsServer();
  closers.push(() => dns.close());
  const listener = createServer((s) => {
    s.on('error', () => {});
    s.end();
  });
  const openPort = await listen(listener);
  closers.push(() => new Promise<void>((r) => listener.close(() => r())));
  const api = new TestKubeApiServer();
  await api.start();
  closers.push(() => api.stop());
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-tty-'));
  closers.push(() => rmSync(dir, { recursive: true, force: true }));
  const uid = randomUUID();
  const cid = randomContainerId();
  const box = startBashContainer(cgroups, uid, cid);
  api.addPod(makePod({ name: 'cart-6f7d9c8b7-m4p2x', namespace: ns, uid, nodeName: node, labels: { app: 'cart', 'pod-template-hash': '6f7d9c8b7' }, owner: { kind: 'ReplicaSet', name: 'cart-6f7d9c8b7' }, containers: { app: cid } }));
  const daemon = await startDaemon(['--kubeconfig', writeKubeconfig(dir, api.url, api.token), '--node-name', node, '--dns-ports', `53,${dns.port}`, '--probes', 'tcp,dns', '--api.history', '300000']);
  daemons.push(daemon);
  await daemon.waitReady(45_000);
  const agent = daemon.url('').replace(/\/$/, '');

  // Each pane runs one command and then says how it ended.
  const run = (name: string, args: string[]) =>
    tmux('new-window', '-d', '-t', 'main:', '-n', name, `env -u NO_COLOR -u FORCE_COLOR TERM=xterm-256color ${process.execPath} ${CLI} ${args.join(' ')}; echo "EXIT=$?"; sleep 60`);
  const screen = (name: string, escapes = false) => tmux('capture-pane', '-p', ...(escapes ? ['-e'] : []), '-t', `main:${name}`);
  tmux('new-session', '-d', '-s', 'main', '-x', '160', '-y', '45');
  run('top', ['top', '--agent', agent, '-n', ns, '--window', '5s', '--interval', '500ms']);
  run('observe', ['observe', '--agent', agent, '-n', ns]);

  // Traffic while they watch: connects and failing lookups, for a few seconds.
  let traffic = true;
  const load = (async () => {
    while (traffic) {
      await box.run(`tcp 20 ${openPort}`);
      await box.run(`dig ${dns.port} A fail.tty-test.example`);
      await box.run(`dig ${dns.port} A ok.tty-test.example`);
    }
  })();
  t.teardown(() => {
    traffic = false;
    return load;
  });

  const row = new RegExp(`${ns}/cart\\s+[0-9.]+\\s+0%\\s+\\S+\\s+[0-9.]+\\s+(\\d+(?:\\.\\d)?)%`);
  const topScreen = await until('top shows the workload', () => {
    const s = screen('top');
    // Until a refresh shows the workload in the failing table too (a window with only successes would not).
    const failingPart = s.slice(Math.max(0, s.indexOf('Most failing')));
    return s.includes('Most failing') && row.test(failingPart) ? s : undefined;
  }, { timeoutMs: 20_000, everyMs: 250, describe: () => screen('top') });
  t.comment(topScreen);
  t.match(topScreen, /kubepulse top — 1\/1 agents, last 5s/, 'the header');
  const failing = topScreen.slice(topScreen.indexOf('Most failing'));
  const dnsFail = Number(row.exec(failing)?.[1]);
  t.ok(dnsFail > 0, `the workload is among the most failing, DNS failures ${dnsFail}% (half its lookups fail; under load a window may hold only failures)`);
  t.match(screen('top', true), /\x1b\[/, 'in colour on a terminal');

  const observeScreen = await until('observe shows events', () => {
    const s = screen('observe');
    return /SERVFAIL A fail\.tty-test\.example/.test(s) && new RegExp(`established → 127\\.0\\.0\\.1:${openPort} \\(external\\)`).test(s) ? s : undefined;
  }, { timeoutMs: 15_000, everyMs: 250, describe: () => screen('observe') });
  t.match(observeScreen, new RegExp(`${ns}/cart-6f7d9c8b7-m4p2x\\s+dns\\s+SERVFAIL A fail\\.tty-test\\.example \\S+ @127\\.0\\.0\\.1:${dns.port}`), 'observe: who failed to resolve what, asking which server');
  t.match(screen('observe', true), /\x1b\[31mSERVFAIL/, 'failures in red');

  tmux('send-keys', '-t', 'main:top', 'q');
  await until('top quits on q', () => /EXIT=0/.test(screen('top')), { timeoutMs: 5000, everyMs: 100, describe: () => screen('top') });
  t.notMatch(screen('top'), /Busiest/, 'and leaves the alternate screen (the table is gone)');
  tmux('send-keys', '-t', 'main:observe', 'C-c');
  await until('observe quits on Ctrl-C', () => /EXIT=0/.test(screen('observe')), { timeoutMs: 5000, everyMs: 100, describe: () => screen('observe') });

  traffic = false;
  await load;
  const piped = await runCli(['observe', '--agent', agent, '-n', ns, '--last', '5']);
  t.equal(piped.stdout.trim().split('\n').length, 5, 'not a terminal: --last 5 prints five lines');
  t.notMatch(piped.stdout, /\x1b/, 'and no colour');
  const plainTop = await runCli(['top', '--agent', agent, '-n', ns, '--window', '2s']);
  t.equal(plainTop.code, 0);
  t.match(plainTop.stdout, /^kubepulse top — 1\/1 agents, last 2s/, 'top without a terminal prints one plain table');
  t.notMatch(plainTop.stdout, /\x1b/);
});
