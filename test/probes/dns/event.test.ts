import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DNS_EVENT_LAYOUT, DNS_EVENT_TYPE } from '../../../src/probes/dns/event.js';
import { ROOT } from '../../support/daemon.js';

const addonPath = join(ROOT, 'build', 'Release', 'kubepulse.node');

t.test('the decoder follows struct kp_dns_event as compiled from bpf/dns.h', { skip: existsSync(addonPath) ? false : 'addon not built (make build)' }, async (t) => {
  const { loadAddon } = await import('../../../src/bpf/addon.js');
  const c = loadAddon().layouts().dns as unknown as typeof DNS_EVENT_LAYOUT & { type: number };
  t.equal(c.size, DNS_EVENT_LAYOUT.size, 'sizeof');
  t.equal(c.type, DNS_EVENT_TYPE, 'KP_EVENT_DNS');
  t.equal(c.maxPayload, DNS_EVENT_LAYOUT.maxPayload, 'KP_DNS_MAX_PAYLOAD');
  t.equal(c.maxPorts, DNS_EVENT_LAYOUT.maxPorts, 'KP_DNS_MAX_PORTS');
  t.same(c.offsets, DNS_EVENT_LAYOUT.offsets, 'offsetof every field');
});

t.test('decodes the server address', async (t) => {
  const { dnsEvent } = await import('../../../src/probes/dns/event.js');
  const { DIRECTION_QUERY } = await import('../../../src/probes/dns/event.js');
  const { dnsMessage, dnsRecord } = await import('../../support/batches.js');
  const v4 = dnsRecord({ direction: DIRECTION_QUERY, message: dnsMessage(1, 0x0100, 'a.example.com'), server: [10, 96, 0, 10] });
  const v6 = dnsRecord({ direction: DIRECTION_QUERY, message: dnsMessage(1, 0x0100, 'a.example.com'), server: [0xfd, 0, 0, 0x10, 0, 0x96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a] });
  const words = (b: Buffer) => [0, 1, 2, 3].map((i) => dnsEvent.serverWord(new DataView(b.buffer, b.byteOffset, b.byteLength), 0, i));
  t.same(words(v4), [0x0a60000a, 0, 0, 0], 'IPv4 in the first word');
  t.same(words(v6), [0xfd000010, 0x00960000, 0, 0x0000000a], 'IPv6 in four');
  t.equal(dnsEvent.family(new DataView(v6.buffer, v6.byteOffset, v6.byteLength), 0), 10);
});
