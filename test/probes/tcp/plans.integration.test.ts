// Every TCP hook plan this kernel offers, each loaded on its own (not only
// the one the daemon would choose): real connections in, the probe's own
// events out, read from its ring buffer. The kprobe plan runs in the kernel
// matrix (test/kernels), on a kernel that has kprobes.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { join } from 'node:path';
import { loadAddon } from '../../../src/bpf/addon.js';
import { EventStream } from '../../../src/bpf/event-stream.js';
import { detectKernel } from '../../../src/bpf/kernel.js';
import { loadContext, loadProbe } from '../../../src/bpf/probe.js';
import { createLogger } from '../../../src/log.js';
import { TCP_EVENT_TYPE, TCP_RESULTS, tcpEvent } from '../../../src/probes/tcp/event.js';
import { addressText } from '../../../src/stream/address.js';
import { tcpProbe } from '../../../src/probes/tcp/probe.js';
import { ROOT } from '../../support/daemon.js';
import { needsBpf } from '../../support/privileges.js';
import { until } from '../../support/until.js';

const TRACEFS = '/sys/kernel/tracing';

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

function connectOnce(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    socket.once('connect', () => {
      socket.end();
      resolve('established');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}

/** The classic tracepoint plan needs tracefs; mounted here when missing, unmounted after. */
function ensureTracefs(t: { teardown(fn: () => void): void }): void {
  if (existsSync(join(TRACEFS, 'events'))) return;
  execFileSync('mount', ['-t', 'tracefs', 'tracefs', TRACEFS]);
  t.teardown(() => execFileSync('umount', [TRACEFS]));
}

t.test('each TCP plan reports connects, refusals and closes', needsBpf(), async (t) => {
  ensureTracefs(t);
  const addon = loadAddon();
  const kernel = detectKernel({ procfs: '/proc', sysfs: '/sys' });
  const log = createLogger('error', () => {});
  const server = createServer((s) => s.end());
  const port = await listen(server);
  t.teardown(() => server.close());
  const closed = createServer();
  const refusedPort = await listen(closed);
  await new Promise((r) => closed.close(r));

  const plans = tcpProbe.plans.filter((p) => p.mode !== 'kprobe');
  for (const plan of plans) {
    const reason = plan.unavailable(kernel);
    if (reason) {
      t.comment(`${plan.programs[0]!.name}: ${reason}`);
      continue;
    }
    await t.test(`${plan.hook} (${plan.programs.map((p) => p.name).join(', ')})`, async (t) => {
      const ctx = loadContext({ attach: 'auto', bpfObjectDir: join(ROOT, 'build', 'bpf'), ringBufferBytes: 1 << 20 }, kernel, addon, log);
      const probe = loadProbe({ ...tcpProbe, plans: [plan] }, ctx);
      t.teardown(() => probe.object.close());
      const seen = new Map<string, number>();
      const stream = new EventStream(
        new Map([
          [
            TCP_EVENT_TYPE,
            (v: DataView, at: number) => {
              const dport = tcpEvent.dport(v, at);
              if (dport !== port && dport !== refusedPort) return;
              if (tcpEvent.tgid(v, at) !== process.pid) return;
              const w = (i: number) => tcpEvent.daddrWord(v, at, i);
              const peer = addressText(tcpEvent.family(v, at), w(0), w(1), w(2), w(3));
              const key = `${dport === port ? 'open' : 'closed'} ${TCP_RESULTS[tcpEvent.result(v, at)]} ${peer}`;
              seen.set(key, (seen.get(key) ?? 0) + 1);
            },
          ],
        ]),
      );
      stream.start(addon, [probe], { flushIntervalMs: 10 });
      t.teardown(() => stream.stop());

      // The peer's address as the kernel has it: IPv4 (any of 127/8 is
      // loopback), IPv6, and IPv4 through an IPv6 socket (mapped).
      const N = 10;
      const M = 4;
      for (let i = 0; i < N; i++) t.equal(await connectOnce(port), 'established');
      for (let i = 0; i < M; i++) t.equal(await connectOnce(refusedPort, '127.0.0.23'), 'ECONNREFUSED');
      t.equal(await connectOnce(refusedPort, '::1'), 'ECONNREFUSED');
      t.equal(await connectOnce(refusedPort, '::ffff:127.0.0.24'), 'ECONNREFUSED');
      const want = { 'open established 127.0.0.1': N, 'open closed 127.0.0.1': N, 'closed refused 127.0.0.23': M, 'closed refused ::1': 1, 'closed refused 127.0.0.24': 1 };
      const total = (m: Record<string, number>) => Object.values(m).reduce((a, b) => a + b, 0);
      await until('the events of every connection', () => total(Object.fromEntries(seen)) >= total(want), {
        timeoutMs: 5000,
        describe: () => JSON.stringify(Object.fromEntries(seen)),
      });
      t.same(
        Object.fromEntries(seen),
        want,
        'one established and one closed per connection, one refused per attempt, each with its peer address, nothing else',
      );
    });
  }
});
