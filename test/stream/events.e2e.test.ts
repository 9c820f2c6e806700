// The live stream end to end (issue 13): the real daemon on this machine's
// kernel, a kubelet-shaped pod cgroup with a bash "container" in it, the
// Kubernetes API stand-in serving the pod, the test DNS server; and the real
// `kubepulse observe` reading /api/v1/events.
//
// Checks that `kubepulse observe -o json --namespace NS --type tcp,dns` shows
// exactly the container's events (connects that succeed and are refused,
// DNS NOERROR / NXDOMAIN / SERVFAIL / unanswered) with the pod's labels, each
// within 1 s of its time; that `--last` after the fact shows them again;
// flow events of the pod; and the hostile-client rules: 400 with one line for
// a bad filter, 429 beyond --api.max-streams, heartbeats on an idle stream,
// and `event: end` to every client when the daemon gets SIGTERM.
import t from 'tap';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBashContainer } from '../support/bash-container.js';
import { startCli } from '../support/cli-process.js';
import { runCli, startDaemon, type RunningDaemon } from '../support/daemon.js';
import { startDnsServer } from '../support/dns-server.js';
import { TestKubeApiServer } from '../support/kube-api-server.js';
import { writeKubeconfig } from '../support/kubeconfig.js';
import { needsPodCgroups, PodCgroups } from '../support/pod-cgroups.js';
import { needsBpf } from '../support/privileges.js';
import { until } from '../support/until.js';
import { makePod, randomContainerId } from '../metadata/fixtures/pods.js';

function skipReason(): { skip: string | false } {
  const bpf = needsBpf();
  if (bpf.skip !== false) return bpf;
  return needsPodCgroups();
}
const skip = skipReason();

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

type Ev = Record<string, unknown>;

/** A comparable summary of an event: what the test caused, not when. */
function key(e: Ev): string {
  if (e.type === 'tcp') return `tcp ${String(e.result)} ${String(e.peer)}`;
  if (e.type === 'dns') return `dns ${String(e.rcode)} ${String(e.qtype)} ${String(e.name)}`;
  return `${String(e.type)}`;
}

t.test('kubepulse observe shows a pod\'s TCP and DNS events live and from the history', skip, async (t) => {
  const daemons: RunningDaemon[] = [];
  const cgroups = new PodCgroups('kubepulse-stream');
  const closers: Array<() => Promise<void> | void> = [];
  t.teardown(async () => {
    for (const d of daemons) await d.stop().catch(() => undefined);
    await cgroups.cleanup();
    for (const close of closers.reverse()) await close();
  });

  const node = `stream-node-${randomBytes(3).toString('hex')}`;
  const ns = `stream-${randomBytes(3).toString('hex')}`;
  const dns = await startDnsServer();
  closers.push(() => dns.close());
  const listener = createServer((s) => {
    s.on('error', () => {});
    s.end();
  });
  const openPort = await listen(listener);
  closers.push(() => new Promise<void>((r) => listener.close(() => r())));
  // A port nothing listens on: bind, note the number, close.
  const closed = createServer();
  const closedPort = await listen(closed);
  await new Promise<void>((r) => closed.close(() => r()));

  const api = new TestKubeApiServer();
  await api.start();
  closers.push(() => api.stop());
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-stream-'));
  closers.push(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = writeKubeconfig(dir, api.url, api.token);

  const uid = randomUUID();
  const cid = randomContainerId();
  const pod = { namespace: ns, pod: 'checkout-5d8f7b9c4-q7k2m', workload: 'checkout', container: 'app' };
  const box = startBashContainer(cgroups, uid, cid);
  api.addPod(
    makePod({
      name: pod.pod,
      namespace: ns,
      uid,
      nodeName: node,
      labels: { app: 'checkout' },
      owner: { kind: 'ReplicaSet', name: 'checkout-5d8f7b9c4' },
      containers: { app: cid },
    }),
  );

  const daemon = await startDaemon([
    '--kubeconfig', kubeconfig,
    '--node-name', node,
    '--dns-ports', `53,${dns.port}`,
    '--dns-timeout', '1s',
    '--api.max-streams', '3',
    '--api.heartbeat', '300ms',
    // The history is the node's, shared with every other process's events:
    // other tests' connection storms on this machine must not push ours out.
    '--api.history', '300000',
  ]);
  daemons.push(daemon);
  await daemon.waitReady(45_000);
  const agent = daemon.url('').replace(/\/$/, '');

  // ── live: observe follows, the container acts ──
  const observe = startCli(['observe', '--agent', agent, '-o', 'json', '--namespace', ns, '--type', 'tcp,dns']);
  t.teardown(() => observe.stop());
  const subscribers = async () => ((JSON.parse((await daemon.get('/api/v1/status')).body) as { stream: { subscribers: number } }).stream.subscribers);
  await until('observe subscribed', async () => (await subscribers()) >= 1, { timeoutMs: 10_000, everyMs: 100 });

  t.equal(await box.run(`tcp 2 ${openPort}`), 'tcp 2', 'two connects succeed');
  t.equal(await box.run(`tcp 1 ${closedPort}`), 'tcp 0', 'one connect is refused');
  t.equal(await box.run(`dig ${dns.port} A ok.stream-test.example`), 'dig status: NOERROR');
  t.equal(await box.run(`dig ${dns.port} A nx.stream-test.example`), 'dig status: NXDOMAIN');
  t.equal(await box.run(`dig ${dns.port} AAAA fail.stream-test.example`), 'dig status: SERVFAIL');
  t.equal(await box.run(`dig ${dns.port} A silent.stream-test.example`), 'dig failed', 'the silent query is never answered');

  const expected = [
    `tcp established :${openPort}`,
    `tcp established :${openPort}`,
    `tcp closed :${openPort}`,
    `tcp closed :${openPort}`,
    `tcp refused :${closedPort}`,
    'dns NOERROR A ok.stream-test.example',
    'dns NXDOMAIN A nx.stream-test.example',
    'dns SERVFAIL AAAA fail.stream-test.example',
    'dns timeout A silent.stream-test.example',
  ].sort();
  const seen = () => observe.lines.map((l) => ({ at: l.at, e: JSON.parse(l.line) as Ev }));
  await until('every event on observe', () => seen().length >= expected.length, { timeoutMs: 5000, everyMs: 50, describe: () => observe.lines.map((l) => l.line).join('\n') + observe.stderr() });
  await new Promise((r) => setTimeout(r, 1500)); // anything extra would come now
  const live = seen();
  t.same(live.map((x) => key(x.e)).sort(), expected, 'observe shows exactly the container\'s events');
  for (const { at, e } of live) {
    t.match(e, { node, namespace: ns, pod: pod.pod, workload: 'checkout', container: 'app' }, `${key(e)}: the pod's labels`);
    const lag = at - Date.parse(String(e.time));
    t.ok(lag < 1000 && lag > -50, `${key(e)}: on screen ${lag} ms after it happened (< 1 s)`);
    if (e.type === 'tcp' && e.result !== 'closed') t.type(e.latency_seconds, 'number', `${key(e)}: connect latency`);
    if (e.type === 'tcp' && e.result === 'closed') t.type(e.duration_seconds, 'number', `${key(e)}: duration`);
    if (e.type === 'dns') {
      t.equal(e.domain, 'stream-test.example', `${key(e)}: the registered domain (PSL)`);
      t.equal(e.server, `:${dns.port}`);
      if (e.rcode !== 'timeout') t.ok((e.latency_seconds as number) > 0, `${key(e)}: latency`);
    }
  }

  // ── after the fact: --last ──
  const last = await runCli(['observe', '--agent', agent, '-o', 'json', '--namespace', ns, '--type', 'tcp,dns', '--last', '100']);
  t.equal(last.code, 0, `observe --last exits 0 ${last.stderr}`);
  const history = last.stdout.trim().split('\n').map((l) => JSON.parse(l) as Ev);
  t.same(history.map(key).sort(), expected, '--last shows the same events from the history');
  const times = history.map((e) => Date.parse(String(e.time)));
  t.same(times, [...times].sort((a, b) => a - b), 'in time order');
  const lastTwo = await runCli(['observe', '--agent', agent, '-o', 'json', '--namespace', ns, '--type', 'dns', '--rcode', 'SERVFAIL,timeout', '--last', '1']);
  t.same(lastTwo.stdout.trim().split('\n').map((l) => key(JSON.parse(l) as Ev)), ['dns timeout A silent.stream-test.example'], '--rcode with --last 1: the newest failure');
  const table = await runCli(['observe', '--agent', agent, '--namespace', ns, '--type', 'tcp', '--result', 'refused', '--since', '5m']);
  t.match(table.stdout, new RegExp(`${ns}/${pod.pod}\\s+tcp\\s+refused → :${closedPort}`), 'the table shows who was refused where');

  // ── flows: the kernel's flow map, once a second ──
  await box.run(`tcp 1 ${openPort}`);
  const flowEvent = await until('a flow event', async () => {
    const r = await runCli(['observe', '--agent', agent, '-o', 'json', '--namespace', ns, '--type', 'flow', '--since', '1m']);
    return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Ev).find((e) => e.port === openPort && e.direction === 'egress');
  }, { timeoutMs: 10_000, everyMs: 500 });
  t.match(flowEvent, { namespace: ns, pod: pod.pod, workload: 'checkout', protocol: 'TCP', peer: { address: '127.0.0.1' } }, 'a flow event with its peer');
  t.ok((flowEvent.delta as number) >= 1, 'with the count delta');

  // ── hostile clients ──
  const bad = await daemon.get('/api/v1/events?rcode=NOPE');
  t.equal(bad.status, 400, 'a bad filter is a 400');
  t.equal(bad.body.trim().split('\n').length, 1, `in one line: ${bad.body.trim()}`);
  t.equal((await daemon.get('/api/v1/events?colour=red')).status, 400, 'an unknown filter too');
  const badCli = await runCli(['observe', '--agent', agent, '--type', 'udp']);
  t.equal(badCli.code, 2, 'observe with a bad filter exits 2');
  t.equal(badCli.stderr.trim().split('\n').length, 1, `with one line: ${badCli.stderr.trim()}`);

  // observe holds one stream; two more fill --api.max-streams 3; heartbeats keep the idle ones alive.
  const idle = [new AbortController(), new AbortController()];
  const idleBodies = await Promise.all(
    idle.map(async (c) => {
      const res = await fetch(daemon.url('/api/v1/events?namespace=nobody-here'), { signal: c.signal });
      return res.body!.getReader();
    }),
  );
  const over = await daemon.get('/api/v1/events');
  t.equal(over.status, 429, 'a fourth stream is refused');
  t.match(over.body, /at most 3 \(--api\.max-streams\)/, 'saying why');
  const first = new TextDecoder().decode((await idleBodies[0]!.read()).value);
  let text = first;
  const deadline = Date.now() + 2000;
  while (!text.includes(': heartbeat') && Date.now() < deadline) text += new TextDecoder().decode((await idleBodies[0]!.read()).value);
  t.match(text, /: heartbeat/, 'an idle stream gets heartbeats');

  // ── SIGTERM: every stream is told, the daemon exits 0 ──
  const reading = idleBodies[1]!;
  const rest = (async () => {
    let s = '';
    for (;;) {
      const { value, done } = await reading.read().catch(() => ({ value: undefined, done: true }));
      if (done) return s;
      s += new TextDecoder().decode(value);
    }
  })();
  t.equal(await daemon.stop(), 0, 'the daemon exits 0 on SIGTERM with streams open');
  t.match(await rest, /event: end\ndata: \{"reason":"agent stopping"\}/, 'an open stream is ended with the reason');
  t.equal(await observe.exited(), 0, 'observe exits 0 when its agent stops');
  t.match(observe.stderr(), /stream ended: agent stopping/, 'and says why');
  idle.forEach((c) => c.abort());
});
