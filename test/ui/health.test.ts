import t from 'tap';
import type { WorkloadFigures } from '../../src/api/topology.js';
import { isDnsFailure, workloadHealth } from '../../src/ui/health.js';

const figures = (f: Partial<WorkloadFigures>): WorkloadFigures => ({ connectP50Seconds: null, connectP99Seconds: null, connections: {}, dns: [], dnsFailureRatio: null, ...f });
const slow = { slowConnectSeconds: 0.5 };

t.test('DNS failures are what the alert rules call failures', async (t) => {
  t.notOk(isDnsFailure('NOERROR'));
  t.notOk(isDnsFailure('NXDOMAIN'), 'a name that does not exist is an answer');
  for (const r of ['SERVFAIL', 'timeout', 'REFUSED', 'FORMERR']) t.ok(isDnsFailure(r), r);
});

t.test('failing beats slow, and says why', async (t) => {
  t.same(workloadHealth(figures({ connections: { established: 10 } }), new Map([['NOERROR', 4]]), slow), { health: 'ok', reasons: [] });
  t.same(workloadHealth(figures({ connections: { established: 10, refused: 2, reset: 1 } }), new Map([['SERVFAIL', 1], ['timeout', 3]]), slow), {
    health: 'failing',
    reasons: ['tcp refused 2', 'tcp reset 1', 'dns timeout 3', 'dns SERVFAIL 1'],
  });
  t.same(workloadHealth(figures({ connectP99Seconds: 1.2 }), new Map(), slow), { health: 'slow', reasons: ['connect p99 1.2 s > 500 ms'] });
  t.equal(workloadHealth(figures({ connectP99Seconds: 0.5 }), new Map(), slow).health, 'ok', 'at the threshold is not beyond it');
});
