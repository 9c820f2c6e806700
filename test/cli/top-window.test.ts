// kubepulse top's arithmetic: rates over the window, connect p99, failure shares.
import t from 'tap';
import { TopWindow } from '../../src/cli/top-window.js';

t.test('rates, p99 and failure shares per workload over the window', async (t) => {
  const w = new TopWindow(10);
  const now = Date.parse('2026-12-01T01:00:00Z');
  for (let i = 0; i < 100; i++) w.add({ type: 'tcp', namespace: 'shop', workload: 'web', result: 'established', latency_seconds: (i + 1) / 1000 }, now - 500);
  for (let i = 0; i < 100; i++) w.add({ type: 'tcp', namespace: 'shop', workload: 'web', result: 'closed', duration_seconds: 1 }, now - 500);
  for (let i = 0; i < 25; i++) w.add({ type: 'tcp', namespace: 'shop', workload: 'web', result: 'refused', latency_seconds: 0.0001 }, now - 400);
  for (let i = 0; i < 40; i++) w.add({ type: 'dns', namespace: 'shop', workload: 'web', rcode: i < 10 ? 'NXDOMAIN' : 'NOERROR' }, now - 300);
  w.add({ type: 'dns', namespace: 'data', workload: 'db', rcode: 'NOERROR' }, now - 20_000);
  const rows = w.rows(now);
  t.equal(rows.length, 1, 'a workload with nothing in the window is gone');
  t.match(rows[0], { namespace: 'shop', workload: 'web', connectionsPerSecond: 12.5, connectFailurePercent: 20, dnsPerSecond: 4, dnsFailurePercent: 25 });
  t.equal(rows[0]!.connectP99Seconds, 0.099, 'p99 of the established connects');
});
