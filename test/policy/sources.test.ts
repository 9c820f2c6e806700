import t from 'tap';
import { agentUrlsFromPods, describeError, flowsQuery, joinUrl, parsePrometheusFlows, SourceError } from '../../src/policy/sources.js';

t.test('error reasons', async (t) => {
  const cases: Array<[unknown, string]> = [
    [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), 'connection refused'],
    [new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })], ''), 'connection refused'],
    [Object.assign(new Error('wrapped'), { cause: Object.assign(new Error('x'), { code: 'ENOTFOUND' }) }), 'host not found'],
    [Object.assign(new Error('t'), { code: 'UND_ERR_HEADERS_TIMEOUT' }), 'timed out waiting for the response (timeout 500ms)'],
    [new DOMException('The operation was aborted due to timeout', 'TimeoutError'), 'timed out after 500ms'],
    [new SourceError('agent x', 'HTTP 500'), 'HTTP 500'],
    [new Error('something else'), 'something else'],
  ];
  for (const [err, want] of cases) t.equal(describeError(err, 500), want, want);
});

t.test('urls and the query', async (t) => {
  t.equal(joinUrl('http://a:9090/', '/api/v1/flows'), 'http://a:9090/api/v1/flows');
  t.equal(joinUrl('http://a/prefix', '/api/v1/query'), 'http://a/prefix/api/v1/query');
  t.equal(flowsQuery('1h30m'), 'sum by (namespace, workload, direction, protocol, port, peer_kind, peer_namespace, peer_workload) (increase(kubepulse_flows_total[1h30m])) > 0');
  t.throws(() => flowsQuery('24h) or vector(1'), /invalid range/);
});

t.test('agent URLs from the DaemonSet pods', async (t) => {
  const r = agentUrlsFromPods(
    [
      { name: 'kp-c', phase: 'Running', podIP: 'fd00::5', ports: [] },
      { name: 'kp-a', phase: 'Running', podIP: '10.0.0.5', ports: [{ name: 'metrics', containerPort: 9100 }] },
      { name: 'kp-b', phase: 'Pending', ports: [] },
    ],
    undefined,
  );
  t.same(r, { urls: ['http://10.0.0.5:9100', 'http://[fd00::5]:9090'], skipped: ['kp-b (Pending, no IP)'] });
  t.same(agentUrlsFromPods([{ name: 'a', phase: 'Running', podIP: '10.0.0.5', ports: [{ name: 'metrics', containerPort: 9100 }] }], 8080).urls, ['http://10.0.0.5:8080']);
});

t.test('Prometheus answers', async (t) => {
  const ok = parsePrometheusFlows({
    status: 'success',
    data: {
      resultType: 'vector',
      result: [
        { metric: { namespace: 'a', workload: 'w', direction: 'egress', protocol: 'UDP', port: '53', peer_kind: 'service', peer_namespace: 'kube-system', peer_workload: 'kube-dns' }, value: [1, '4'] },
        { metric: { namespace: 'a', workload: 'w', direction: 'egress', protocol: 'TCP', port: '443', peer_kind: 'external', peer_namespace: '', peer_workload: '' }, value: [1, '1.5'] },
      ],
    },
  });
  t.same(ok, [
    { namespace: 'a', workload: 'w', direction: 'egress', protocol: 'UDP', port: 53, peer: { kind: 'service', namespace: 'kube-system', name: 'kube-dns' }, count: 4 },
    { namespace: 'a', workload: 'w', direction: 'egress', protocol: 'TCP', port: 443, peer: { kind: 'external' }, count: 1.5 },
  ]);
  const bad: Array<[unknown, RegExp]> = [
    [{ status: 'error', error: 'boom' }, /query failed: boom/],
    [{ status: 'success', data: { resultType: 'vector', result: [{ metric: { namespace: 'a' } }] } }, /result\[0\]\.metric\.port: missing/],
    [{ status: 'success', data: { resultType: 'vector', result: [{ metric: { namespace: 'a', workload: 'w', direction: 'egress', protocol: 'TCP', port: '99999', peer_kind: 'node' } }] } }, /metric\.port: expected a port/],
    [{ status: 'success', data: { resultType: 'vector', result: [{ metric: { namespace: 'a', workload: 'w', direction: 'egress', protocol: 'TCP', port: '80', peer_kind: 'pod' } }] } }, /metric\.peer_namespace: missing/],
  ];
  for (const [body, msg] of bad) t.throws(() => parsePrometheusFlows(body), msg);
});
