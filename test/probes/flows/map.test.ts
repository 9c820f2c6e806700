import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { decodeFlowCounts, decodeFlowKey, FLOW_MAP_LAYOUT } from '../../../src/probes/flows/map.js';
import { ROOT } from '../../support/daemon.js';

const addonPath = join(ROOT, 'build', 'Release', 'kubepulse.node');

t.test('the decoders follow struct kp_flow_key / kp_flow_value from bpf/flows.h', { skip: existsSync(addonPath) ? false : 'addon not built (make build)' }, async (t) => {
  const { loadAddon } = await import('../../../src/bpf/addon.js');
  const c = loadAddon().layouts().flows as unknown as typeof FLOW_MAP_LAYOUT;
  t.equal(c.keySize, FLOW_MAP_LAYOUT.keySize);
  t.equal(c.valueSize, FLOW_MAP_LAYOUT.valueSize);
  t.same(c.key, FLOW_MAP_LAYOUT.key);
  t.same(c.value, FLOW_MAP_LAYOUT.value);
});

t.test('decodes a key and its counts', async (t) => {
  const k = Buffer.alloc(FLOW_MAP_LAYOUT.keySize);
  k.writeBigUInt64LE(4242n, 0);
  Buffer.from([10, 0, 1, 7]).copy(k, 8);
  k.writeUInt16LE(5432, 24);
  k.writeUInt8(1, 26); // egress
  k.writeUInt8(6, 27); // TCP
  k.writeUInt16LE(2, 28); // AF_INET
  t.same(decodeFlowKey(k), { cgroupId: 4242, peer: '10.0.1.7', port: 5432, direction: 'egress', protocol: 'TCP' });
  k.writeUInt8(2, 26);
  k.writeUInt8(17, 27);
  k.writeUInt16LE(10, 28); // AF_INET6
  Buffer.alloc(16).copy(k, 8);
  k[23] = 1;
  t.same(decodeFlowKey(k), { cgroupId: 4242, peer: '::1', port: 5432, direction: 'ingress', protocol: 'UDP' });
  const v = Buffer.alloc(FLOW_MAP_LAYOUT.valueSize);
  v.writeBigUInt64LE(12n, 0);
  v.writeBigUInt64LE(1000n, 8);
  v.writeBigUInt64LE(2000n, 16);
  t.same(decodeFlowCounts(v), { count: 12, firstNs: 1000, lastNs: 2000 });
});
