// kubepulse_ring_buffer_utilization on this machine's kernel: the TCP probe
// loaded with nothing reading its ring, real connections fill it, the gauge
// rises; a reader drains it, the gauge falls back to 0.

import t from 'tap';
import { createServer, connect, type Server } from 'node:net';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { loadAddon } from '../../src/bpf/addon.js';
import { EventStream } from '../../src/bpf/event-stream.js';
import { detectKernel } from '../../src/bpf/kernel.js';
import { loadContext, loadProbe } from '../../src/bpf/probe.js';
import { createLogger } from '../../src/log.js';
import { registerSelfMetrics } from '../../src/metrics/self.js';
import { TCP_EVENT_LAYOUT, TCP_EVENT_TYPE } from '../../src/probes/tcp/event.js';
import { tcpProbe } from '../../src/probes/tcp/probe.js';
import { ROOT } from '../support/daemon.js';
import { needsBpf } from '../support/privileges.js';
import { until } from '../support/until.js';

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

const connectOnce = (port: number): Promise<void> =>
  new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => s.end());
    s.once('close', () => resolve());
    s.once('error', () => resolve());
  });

t.test('the ring buffer gauge follows the fill level of the ring', needsBpf(), async (t) => {
  const addon = loadAddon();
  const kernel = detectKernel({ procfs: '/proc', sysfs: '/sys' });
  const log = createLogger('error', () => {});
  const ring = 1 << 16;
  const ctx = loadContext({ attach: 'tracepoint', bpfObjectDir: join(ROOT, 'build', 'bpf'), ringBufferBytes: ring }, kernel, addon, log);
  const probe = loadProbe(tcpProbe, ctx);
  t.teardown(() => probe.object.close());
  const stream = new EventStream(new Map([[TCP_EVENT_TYPE, () => {}]]));
  const registry = new Registry();
  registerSelfMetrics(registry, {
    version: 'test',
    node: 'n',
    probes: () => [probe],
    failedProbes: () => [],
    stream,
    eventTypes: { [TCP_EVENT_TYPE]: 'tcp' },
    ready: () => true,
    numCpus: addon.numPossibleCpus(),
  });
  const gauge = async (): Promise<number> => {
    const m = await registry.getSingleMetric('kubepulse_ring_buffer_utilization')!.get();
    const v = m.values.find((x) => x.labels.probe === 'tcp');
    if (v === undefined) throw new Error('no tcp series');
    return v.value;
  };

  const server = createServer((s) => s.end());
  const port = await listen(server);
  t.teardown(() => server.close());

  const start = await gauge();
  // Each connection writes two records (established, closed) of 48 bytes + an 8-byte ring header.
  const connections = 100;
  for (let i = 0; i < connections; i++) await connectOnce(port);
  const filled = await gauge();
  const record = TCP_EVENT_LAYOUT.size + 8;
  t.ok(filled - start >= (2 * connections * record) / ring, `the gauge rose by at least our own records (${start} → ${filled})`);
  t.ok(filled < 1, 'not full');

  stream.start(addon, [probe], { flushIntervalMs: 10 });
  t.teardown(() => stream.stop());
  await until('the ring drained', async () => (await gauge()) < filled - (2 * connections * record) / ring / 2, { timeoutMs: 5000, describe: () => 'still full' });
  t.pass('a reader drains the ring and the gauge falls');
});
