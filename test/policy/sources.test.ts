import t from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { agentUrlsFromPods, describeError, fetchPrometheusFlows, flowsQuery, joinUrl, parsePrometheusFlows, SourceError } from '../../src/policy/sources.js';
import { prometheusMissing, startPrometheus } from '../support/prometheus.js';

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
  t.equal(flowsQuery('1h30m'), 'sum by (namespace, workload, direction, protocol, port, peer_kind, peer_namespace, peer_workload) (max_over_time(kubepulse_flows_total[1h30m])) > 0');
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

// A flow that happened once, before its series was first scraped, sits at 1
// forever: increase() never sees it grow and dropped it. The query must keep
// every series that held a positive count in the range.
t.test('a real Prometheus keeps flows whose counter never grew', { skip: prometheusMissing() ?? false, timeout: 90_000 }, async (t) => {
  const labels = (port: string, peer: string) =>
    `namespace="shop",workload="web",direction="egress",protocol="TCP",port="${port}",peer_kind="pod",peer_namespace="db",peer_workload="${peer}"`;
  let scrapes = 0;
  const exporter = createServer((_, res) => {
    scrapes++;
    res.setHeader('content-type', 'text/plain; version=0.0.4');
    res.end(
      [
        '# HELP kubepulse_flows_total flows',
        '# TYPE kubepulse_flows_total counter',
        `kubepulse_flows_total{${labels('5432', 'pg')}} 1`, // once, before the first scrape
        `kubepulse_flows_total{${labels('6379', 'redis')}} ${scrapes}`, // growing
        `kubepulse_flows_total{${labels('9999', 'never')}} 0`, // a series without a flow
        '',
      ].join('\n'),
    );
  });
  await new Promise<void>((r) => exporter.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => exporter.close(() => r())));
  const prom = await startPrometheus({ scrape: [{ job: 'kubepulse', targets: [`127.0.0.1:${(exporter.address() as AddressInfo).port}`] }] });
  t.teardown(() => prom.stop());
  await prom.waitForTargetsUp('kubepulse', { timeoutMs: 30_000 });
  // Enough scrapes that increase() would have had an answer for the growing one.
  await prom.waitForQuery('count_over_time(kubepulse_flows_total{port="6379"}[5m]) >= 3', { timeoutMs: 30_000 });
  const flows = await fetchPrometheusFlows(prom.url, '5m', { timeoutMs: 5000 });
  t.same(
    flows.map((f) => `${f.port} ${f.peer.workload} ${f.count! >= 1 ? 'counted' : f.count}`).sort(),
    ['5432 pg counted', '6379 redis counted'],
    'the flow that never grew is kept; a zero series is not a flow',
  );
});
