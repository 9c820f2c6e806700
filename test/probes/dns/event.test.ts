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
