// Label selectors with apimachinery's semantics.
import t from 'tap';
import type { V1LabelSelector } from '@kubernetes/client-node';
import { selectorMatches } from '../../src/drift/label-selector.js';

t.test('selectorMatches', async (t) => {
  const labels = { app: 'web', tier: 'front' };
  const cases: Array<[string, V1LabelSelector | undefined, boolean]> = [
    ['absent selector: everything', undefined, true],
    ['empty selector: everything', {}, true],
    ['matchLabels equal', { matchLabels: { app: 'web' } }, true],
    ['matchLabels differ', { matchLabels: { app: 'db' } }, false],
    ['matchLabels missing key', { matchLabels: { env: 'prod' } }, false],
    ['In', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['front', 'back'] }] }, true],
    ['In, absent key', { matchExpressions: [{ key: 'env', operator: 'In', values: ['prod'] }] }, false],
    ['NotIn', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['front'] }] }, false],
    ['NotIn, absent key matches', { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] }, true],
    ['Exists', { matchExpressions: [{ key: 'app', operator: 'Exists' }] }, true],
    ['DoesNotExist', { matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, false],
    ['labels and expressions ANDed', { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['back'] }] }, false],
    ['unknown operator selects nothing', { matchExpressions: [{ key: 'app', operator: 'Gt', values: ['1'] }] }, false],
  ];
  for (const [name, selector, want] of cases) t.equal(selectorMatches(selector, labels), want, name);
});
