import t from 'tap';
import { histogramQuantile } from '../../src/topology/quantile.js';

t.test('as Prometheus histogram_quantile estimates it', async (t) => {
  const b = [[0.1, 10], [0.5, 60], [1, 100], [Infinity, 100]] as const;
  t.equal(histogramQuantile(0.5, b), 0.1 + 0.4 * (40 / 50));
  t.equal(histogramQuantile(0.99, b), 0.5 + 0.5 * (39 / 40));
  t.equal(histogramQuantile(0.05, b), 0.05, 'the first bucket starts at 0');
  t.equal(histogramQuantile(0.99, [[1, 5], [Infinity, 10]]), 1, 'in the +Inf bucket: the highest finite bound');
  t.equal(histogramQuantile(0.5, [[1, 0], [Infinity, 0]]), null, 'no observations');
  t.equal(histogramQuantile(0.5, []), null);
});
