import t from 'tap';
import { UserError } from '../../src/errors.js';
import { rangeSeconds } from '../../src/ui/range.js';

t.test('Prometheus durations become seconds', async (t) => {
  t.equal(rangeSeconds('90s', 'range'), 90);
  t.equal(rangeSeconds('15m', 'range'), 900);
  t.equal(rangeSeconds('1h30m', 'range'), 5400);
  t.equal(rangeSeconds('7d', 'range'), 604_800);
});

t.test('anything else is one line naming the parameter', async (t) => {
  for (const bad of ['', '15', 'm', '15x', '1h30', '-5m', '0s', '500ms', '400d', 'forever', '1h 30m']) {
    t.throws(() => rangeSeconds(bad, 'range'), UserError, bad);
  }
  t.throws(() => rangeSeconds('soon', '--range'), { message: '--range: "soon" is not a duration between 1s and 366d (e.g. 15m, 1h30m, 7d)' });
});
