import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { TCP_EVENT_LAYOUT, TCP_EVENT_TYPE, TCP_RESULTS, tcpEvent } from '../../../src/probes/tcp/event.js';
import { ROOT } from '../../support/daemon.js';
import { tcpRecord } from '../../support/batches.js';

const addonPath = join(ROOT, 'build', 'Release', 'kubepulse.node');

t.test('the decoder follows struct kp_tcp_event as compiled from bpf/tcp.h', { skip: existsSync(addonPath) ? false : 'addon not built (make build)' }, async (t) => {
  const { loadAddon } = await import('../../../src/bpf/addon.js');
  const c = loadAddon().layouts().tcp;
  t.ok(c, 'the addon reports the tcp layout');
  t.equal(c?.size, TCP_EVENT_LAYOUT.size, 'sizeof');
  t.equal(c?.type, TCP_EVENT_TYPE, 'KP_EVENT_TCP');
  t.same(c?.offsets, TCP_EVENT_LAYOUT.offsets, 'offsetof every field');
});

t.test('decodes every field', async (t) => {
  const b = tcpRecord({ cgroupId: 2n ** 33n + 5n, elapsedNs: 1_234_567n, tgid: 4242, pid: 4243, result: 2, family: 10, dport: 5432, daddr: [0xfd, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef] });
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  t.equal(tcpEvent.cgroupId(v, 0), 2 ** 33 + 5);
  t.equal(tcpEvent.elapsedNs(v, 0), 1_234_567);
  t.equal(tcpEvent.tgid(v, 0), 4242);
  t.equal(tcpEvent.pid(v, 0), 4243);
  t.equal(TCP_RESULTS[tcpEvent.result(v, 0)], 'refused');
  t.equal(tcpEvent.family(v, 0), 10);
  t.equal(tcpEvent.dport(v, 0), 5432);
  t.same([0, 1, 2, 3].map((i) => tcpEvent.daddrWord(v, 0, i)), [0xfd000010, 0, 0, 0xdeadbeef], 'the peer address, network-order words');
});

t.test('result names follow enum kp_tcp_result', async (t) => {
  t.same(TCP_RESULTS.slice(1), ['established', 'refused', 'timeout', 'error', 'closed', 'reset']);
});
