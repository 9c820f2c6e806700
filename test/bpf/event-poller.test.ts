// The native poll thread (native/event_poller.cc) on this machine's kernel:
// with no record it sleeps without a timer (no wake-up at all, where it used
// to wake every 100 ms), the first record after the sleep wakes it and
// reaches JavaScript, and stop() ends it at once.
//
// The producer is the packets object's DNS part attached to a cgroup of this
// test's own, on a port of its own: nothing else on the machine writes to
// this ring, so "idle" is idle.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAddon } from '../../src/bpf/addon.js';
import { packetsProbe } from '../../src/probes/packets.js';
import { ROOT } from '../support/daemon.js';
import { needsPodCgroups, podCgroups } from '../support/pod-cgroups.js';
import { bpfUnavailable } from '../support/privileges.js';
import { until } from '../support/until.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function skipReason(): { skip: string | false } {
  const bpf = bpfUnavailable();
  if (bpf !== undefined) {
    process.stdout.write(`# skipping: ${bpf}\n`);
    return { skip: bpf };
  }
  return needsPodCgroups();
}

/** This process's thread named name, if any. */
function threadNamed(name: string): string | undefined {
  return readdirSync('/proc/self/task').find((tid) => {
    try {
      return readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === name;
    } catch {
      return false;
    }
  });
}

function wakeups(tid: string): number {
  return Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(readFileSync(`/proc/self/task/${tid}/status`, 'utf8'))?.[1]);
}

t.test('an idle poll thread sleeps until the first record, and stops at once', skipReason(), async (t) => {
  const addon = loadAddon();
  const port = 20000 + Math.floor(Math.random() * 20000);
  const object = new addon.BpfObject(join(ROOT, 'build', 'bpf', 'packets.bpf.o'));
  t.teardown(() => object.close());
  for (const p of object.programs()) object.setAutoload(p.name, p.name === 'kp_packets_egress');
  object.setMapMaxEntries('events', 1 << 16);
  packetsProbe({ probes: ['dns'], dnsPorts: [port] }).configure!(object);
  object.load();
  const cgroups = podCgroups(t, 'kubepulse-poller');
  const container = cgroups.container(randomUUID(), randomUUID().replaceAll('-', '') + randomUUID().replaceAll('-', ''));
  object.attach('kp_packets_egress', { cgroup: container.dir });

  let records = 0;
  const poller = new addon.EventPoller(
    [[object, 'events']],
    (batch) => {
      for (let at = 0; batch !== null && at + 8 <= batch.length; at += 8 + ((batch.readUInt32LE(at) + 7) & ~7)) records++;
    },
    { flushIntervalMs: 10 },
  );
  poller.start();
  let stopped = false;
  t.teardown(() => {
    if (!stopped) poller.stop();
  });
  const tid = await until('the poll thread is running, named kp-events', () => threadNamed('kp-events'));

  await sleep(300); // past start-up
  const before = wakeups(tid);
  await sleep(2000);
  const idle = wakeups(tid) - before;
  t.ok(idle <= 2, `no timer while idle: ${idle} wake-ups in 2 s (a 100 ms timeout would be 20)`);
  t.equal(records, 0, 'nothing was written to this ring meanwhile');

  // One UDP datagram to the port from inside the cgroup: one DNS-part record.
  const sender = cgroups.spawnIn(container.dir, ['bash', '-c', `printf 'kubepulse' > /dev/udp/127.0.0.1/${port}`], { stdio: 'ignore' });
  await new Promise((r) => sender.once('exit', r));
  await until('the first record after the sleep reached JavaScript', () => records > 0, { timeoutMs: 3000, describe: () => `${records} records` });
  t.equal(records, 1, 'the record, once');

  const began = performance.now();
  poller.stop();
  stopped = true;
  const ms = performance.now() - began;
  // Without the wake-up stop() would never return (the sleep has no timeout).
  t.ok(ms < 1000, `stop() while the thread sleeps took ${ms.toFixed(1)} ms`);
  t.equal(threadNamed('kp-events'), undefined, 'the thread is gone');
});
