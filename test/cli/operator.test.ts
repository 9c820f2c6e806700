// The operator commands against agents that misbehave in every way an
// operator meets (down, slow, speaking something else) and several agents
// at once: exit codes, one line per bad agent, merging in time order,
// flows summed over agents, discovery through the Kubernetes API. The agents
// here are small HTTP servers speaking the agent's API; the real daemon is
// exercised in test/stream/events.e2e.test.ts and terminal.e2e.test.ts.
import t, { type Test } from 'tap';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/daemon.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function serve(t: Test, handler: Handler): Promise<string> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  }));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

const status = (node: string, ready = true) => ({
  node, version: '0.1.0', uptime_seconds: 3725, ready, reasons: ready ? [] : ['pod metadata not synced (connection refused)'],
  probes: [{ name: 'tcp', attached: true, hook: 'tp_btf/inet_sock_set_state', events_per_second: 12.5, events_total: 100, dropped_total: 0 }],
  pods_known: 12, flows_tracked: 40, stream: { subscribers: 1, history: 500, dropped_total: 0 },
});

const ev = (node: string, time: string, pod: string) => ({ time, node, type: 'dns', namespace: 'shop', workload: 'web', pod, name: 'x.example.com', domain: 'example.com', qtype: 'A', rcode: 'SERVFAIL', latency_seconds: 0.001, server: '10.96.0.10:53' });

/** An agent whose /api/v1/events replays `history` (for last=) and ends. */
function sseAgent(history: object[]): Handler {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/api/v1/status') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(status('n')));
    if (url.pathname !== '/api/v1/events') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(': hello\n\n');
    history.forEach((e, i) => res.write(`id: ${i + 1}\ndata: ${JSON.stringify(e)}\n\n`));
    if (url.searchParams.get('follow') === 'true') {
      res.write(`event: live\ndata: {"history":${history.length}}\n\n`);
      res.write('event: dropped\ndata: {"missed":7,"dropped_total":7}\n\n');
      res.end('event: end\ndata: {"reason":"agent stopping"}\n\n');
    } else res.end(`event: end\ndata: {"reason":"history","events":${history.length}}\n\n`);
  };
}

t.test('status: one row per agent, one line per bad one, exit 1 unless all are ready', async (t) => {
  const ok = await serve(t, (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(status('node-a'))));
  const unready = await serve(t, (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(status('node-b', false))));
  const html = await serve(t, (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hello</html>'));
  const wrongJson = await serve(t, (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"hello":1}'));
  const slow = await serve(t, () => undefined);

  const good = await runCli(['status', '--agent', ok]);
  t.equal(good.code, 0, good.stderr);
  t.match(good.stdout, /^AGENT\s+NODE\s+VERSION\s+UPTIME\s+READY\s+PODS\s+FLOWS\s+STREAMS\s+PROBES/);
  t.match(good.stdout, new RegExp(`${ok.replace(/[.]/g, '\\.')}\\s+node-a\\s+0\\.1\\.0\\s+1h2m\\s+yes\\s+12\\s+40\\s+1\\s+tcp\\(tp_btf/inet_sock_set_state, 12\\.5/s\\)`));

  const mixed = await runCli(['status', '--agent', ok, '--agent', unready, '--agent', html, '--agent', wrongJson, '--agent', slow, '--timeout', '700ms']);
  t.equal(mixed.code, 1, 'not all ready: exit 1');
  t.match(mixed.stdout, /node-b .*no: pod metadata not synced \(connection refused\)/, 'why an agent is not ready');
  const lines = mixed.stderr.trim().split('\n');
  t.same(lines.length, 4, `one line per bad agent, and a summary: ${mixed.stderr}`);
  t.match(mixed.stderr, new RegExp(`agent ${html.replace(/[.]/g, '\\.')}: invalid JSON from /api/v1/status`));
  t.match(mixed.stderr, new RegExp(`agent ${wrongJson.replace(/[.]/g, '\\.')}: unexpected answer from /api/v1/status \\(is this a KubePulse agent\\?\\)`));
  t.match(mixed.stderr, new RegExp(`agent ${slow.replace(/[.]/g, '\\.')}: timed out`));
  t.match(mixed.stderr, /3 of 5 agents unreachable/);

  const json = await runCli(['status', '--agent', ok, '-o', 'json']);
  t.match(JSON.parse(json.stdout), [{ agent: ok, node: 'node-a', ready: true }]);
});

t.test('observe: histories of several agents merged in time order; bad agents named; exit codes', async (t) => {
  const a = await serve(t, sseAgent([ev('a', '2026-12-01T01:00:00.100Z', 'a1'), ev('a', '2026-12-01T01:00:00.300Z', 'a2'), ev('a', '2026-12-01T01:00:00.500Z', 'a3')]));
  const b = await serve(t, sseAgent([ev('b', '2026-12-01T01:00:00.200Z', 'b1'), ev('b', '2026-12-01T01:00:00.400Z', 'b2')]));
  const notSse = await serve(t, (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('[]'));
  const badFilter = await serve(t, (_req, res) => res.writeHead(400, { 'content-type': 'text/plain' }).end('bad filter: nope\n'));

  const both = await runCli(['observe', '--agent', a, '--agent', b, '--last', '4', '-o', 'json']);
  t.equal(both.code, 0, both.stderr);
  t.same(both.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { pod: string }).pod), ['b1', 'a2', 'b2', 'a3'], 'the newest 4 of both, in time order');

  const table = await runCli(['observe', '--agent', a, '--last', '1']);
  t.equal(table.stdout, '01:00:00.500  shop/a3  dns   SERVFAIL A x.example.com 1.00ms @10.96.0.10:53\n', 'the table line');

  const oneDown = await runCli(['observe', '--agent', a, '--agent', 'http://127.0.0.1:1', '--agent', notSse, '--last', '10', '-o', 'json']);
  t.equal(oneDown.code, 0, 'the others go on');
  t.equal(oneDown.stdout.trim().split('\n').length, 3);
  t.match(oneDown.stderr, /agent http:\/\/127\.0\.0\.1:1: connection refused/);
  t.match(oneDown.stderr, /not an event stream \(content-type application\/json\): is this a KubePulse agent\?/);

  const noneUp = await runCli(['observe', '--agent', 'http://127.0.0.1:1', '--last', '10']);
  t.equal(noneUp.code, 1, 'no agent answers: exit 1');
  t.equal(noneUp.stderr, 'kubepulse observe: agent http://127.0.0.1:1: connection refused\n');

  const rejected = await runCli(['observe', '--agent', badFilter, '--type', 'dns']);
  t.equal(rejected.code, 2, 'an agent refusing the filter: exit 2');
  t.match(rejected.stderr, /HTTP 400: bad filter: nope/);

  const follow = await runCli(['observe', '--agent', a, '--last', '1', '--follow', '-o', 'json']);
  t.equal(follow.code, 0);
  t.match(follow.stderr, /agent .*: 7 events missed \(this client was too slow; the agent dropped them\)/, 'drops reported to the client');
  t.match(follow.stderr, /stream ended: agent stopping/);
});

t.test('flows: summed over agents, most frequent first', async (t) => {
  const flow = (pod: string, port: number, count: number) => ({ namespace: 'shop', pod, workload: 'web', workloadKind: 'Deployment', podLabels: {}, direction: 'egress', protocol: 'TCP', port, peer: { kind: 'service', address: '10.96.0.10', namespace: 'shop', name: 'db' }, count, firstSeen: '', lastSeen: '' });
  const n1 = await serve(t, (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ node: 'n1', flows: [flow('web-1', 5432, 3), flow('web-2', 5432, 10)], overflow: 0 })));
  const n2 = await serve(t, (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ node: 'n2', flows: [flow('web-1', 5432, 9), { ...flow('other', 80, 99), namespace: 'else' }], overflow: 0 })));
  const r = await runCli(['flows', '--agent', n1, '--agent', n2, '-n', 'shop']);
  t.equal(r.code, 0, r.stderr);
  t.same(r.stdout.trim().split('\n').map((l) => l.split(/\s+/).slice(0, 3).join(' ')), ['COUNT NAMESPACE POD', '12 shop web-1', '10 shop web-2']);
  t.match(r.stdout, /svc shop\/db\s+10\.96\.0\.10/);
});

t.test('--discover: the agents are the DaemonSet\'s pods', async (t) => {
  const agent = await serve(t, sseAgent([]));
  const agentPort = Number(new URL(agent).port);
  const api = await serve(t, (_req, res) => {
    const pod = (name: string, phase: string, podIP?: string) => ({ metadata: { name, namespace: 'kubepulse' }, spec: { containers: [{ name: 'kubepulse', ports: [{ name: 'metrics', containerPort: agentPort }] }] }, status: { phase, ...(podIP ? { podIP } : {}) } });
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: {}, items: [pod('kubepulse-a', 'Running', '127.0.0.1'), pod('kubepulse-b', 'Pending')] }));
  });
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-operator-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'test',
    clusters: [{ name: 'test', cluster: { server: api, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'test', user: { token: 'test-token' } }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'test' } }],
  }));
  const r = await runCli(['status', '--discover', '--kubeconfig', kubeconfig]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /http:\/\/127\.0\.0\.1:\d+\s+n\s+0\.1\.0/);
  t.match(r.stderr, /discovery: skipping agent pod kubepulse-b \(Pending, no IP\)/);
});

t.test('usage errors: one line, exit 2', async (t) => {
  for (const args of [['observe'], ['observe', '--agent', 'x'], ['observe', '--agent', 'http://a', '--rcode', 'NOPE'], ['observe', '--agent', 'http://a', '-o', 'yaml'], ['top', '--agent', 'http://a', '--window', 'soon'], ['status', '--bogus']]) {
    const r = await runCli(args);
    t.equal(r.code, 2, args.join(' '));
    t.equal(r.stderr.trim().split('\n').length, 1, r.stderr.trim());
    t.match(r.stderr, new RegExp(`^kubepulse ${args[0]}: `));
  }
});

t.test('the operator commands never load the native addon (they run where it cannot be built)', async (t) => {
  const agent = await serve(t, sseAgent([ev('a', '2026-12-01T01:00:00.100Z', 'a1')]));
  const { spawn } = await import('node:child_process');
  const { once } = await import('node:events').then((m) => m.default);
  const { CLI } = await import('../support/daemon.js');
  // Any native module load throws: dlopen is how Node loads a .node file.
  const noAddon = 'data:text/javascript,process.dlopen=()=>{throw new Error("a native addon was loaded")}';
  const run = async (args: string[]) => {
    const child = spawn(process.execPath, ['--import', noAddon, CLI, ...args], { env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const [code] = (await once(child, 'exit')) as [number | null];
    return { code, out };
  };
  for (const args of [['status', '--agent', agent], ['observe', '--agent', agent, '--last', '1'], ['top', '--agent', agent, '--window', '1s']]) {
    const r = await run(args);
    t.notMatch(r.out, /native addon was loaded/, `kubepulse ${args[0]} loads no addon`);
    t.equal(r.code, 0, `kubepulse ${args[0]} ran ${r.out}`);
  }
  const check = await run(['check']);
  t.match(check.out, /native addon was loaded/, 'while check does load it (the hook is effective)');
});

t.test('observe -f: live events of several agents merged in time order', async (t) => {
  /** An agent that sends its live events after a delay, then stops. */
  const liveAgent = (events: object[], delayMs: number): Handler => (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('event: live\ndata: {"history":0}\n\n');
    setTimeout(() => {
      events.forEach((e, i) => res.write(`id: ${i + 1}\ndata: ${JSON.stringify(e)}\n\n`));
      setTimeout(() => res.end('event: end\ndata: {"reason":"agent stopping"}\n\n'), 100);
    }, delayMs);
  };
  const a = await serve(t, liveAgent([ev('a', '2026-12-01T01:00:00.100Z', 'a1'), ev('a', '2026-12-01T01:00:00.300Z', 'a2')], 50));
  const b = await serve(t, liveAgent([ev('b', '2026-12-01T01:00:00.200Z', 'b1')], 150));
  const r = await runCli(['observe', '--agent', a, '--agent', b, '-o', 'json']);
  t.equal(r.code, 0, r.stderr);
  t.same(r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { pod: string }).pod), ['a1', 'b1', 'a2'], 'b1 arrived later than a2 but is shown before it');
});
