import t from 'tap';
import { HOST_IDENTITY, type PodIdentity } from '../../src/metadata/resolver.js';
import { PodCells, type PodLabels } from '../../src/metrics/pod-cells.js';

t.test('identities that name no pod share one cell; a pod has its own until forgotten', async (t) => {
  const made: PodLabels[] = [];
  const reasons: string[] = [];
  const cells = new PodCells('node-a', (labels) => {
    made.push(labels);
    return { labels };
  }, (reason) => reasons.push(reason));
  const host = cells.get(HOST_IDENTITY);
  // Pods the watch does not know: a fresh identity object per UID (and again when the resolver's LRU forgets one).
  for (let i = 0; i < 1000; i++) {
    const unknown: PodIdentity = Object.freeze({ ...HOST_IDENTITY, podUid: `uid-${i}`, unattributed: 'pod_unknown' as const });
    t.equal(cells.get(unknown), host);
  }
  t.equal(reasons.length, 1000, 'each counted as unattributed');
  t.equal(cells.size, 1, 'one cached label set for all of them');
  const pod: PodIdentity = { namespace: 'shop', pod: 'web-1', workload: 'web', container: 'app', podUid: 'u1' };
  const podCells = cells.get(pod);
  t.not(podCells, host);
  t.same(made[1], { namespace: 'shop', workload: 'web', pod: 'web-1', node: 'node-a' });
  t.equal(cells.get(pod), podCells);
  cells.forgetPod('shop', 'web-1');
  t.equal(cells.size, 1);
});
