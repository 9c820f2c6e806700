import t from 'tap';
import { isVolatileLabel, stableLabels, type PodLabelSample } from '../../src/policy/labels.js';

t.test('volatile label keys', async (t) => {
  const cases: Array<[string, boolean]> = [
    ['pod-template-hash', true],
    ['controller-revision-hash', true],
    ['pod-template-generation', true],
    ['statefulset.kubernetes.io/pod-name', true],
    ['apps.kubernetes.io/pod-index', true],
    ['job-name', true],
    ['controller-uid', true],
    ['batch.kubernetes.io/job-name', true],
    ['batch.kubernetes.io/controller-uid', true],
    ['batch.kubernetes.io/job-completion-index', true],
    ['app', false],
    ['app.kubernetes.io/name', false],
    ['k8s-app', false],
    ['security.istio.io/tlsMode', false],
  ];
  for (const [key, volatile] of cases) t.equal(isVolatileLabel(key), volatile, key);
});

t.test('stable labels of a workload', async (t) => {
  const cases: Array<[string, PodLabelSample[], Record<string, string>]> = [
    ['no pods', [], {}],
    ['one pod, hash dropped', [{ pod: 'web-7d9f-a', labels: { app: 'web', 'pod-template-hash': '7d9f' } }], { app: 'web' }],
    [
      'intersection across pods (a canary label on one pod is not stable)',
      [
        { pod: 'web-7d9f-a', labels: { app: 'web', tier: 'fe', 'pod-template-hash': '7d9f' } },
        { pod: 'web-8c1e-b', labels: { app: 'web', tier: 'fe', track: 'canary', 'pod-template-hash': '8c1e' } },
      ],
      { app: 'web', tier: 'fe' },
    ],
    ['different values are not shared', [{ pod: 'a', labels: { app: 'x', v: '1' } }, { pod: 'b', labels: { app: 'x', v: '2' } }], { app: 'x' }],
    ['a label whose value is the pod name is per pod', [{ pod: 'pg-0', labels: { app: 'pg', 'custom/instance': 'pg-0' } }], { app: 'pg' }],
    ['only volatile labels leave nothing', [{ pod: 'j-1', labels: { 'job-name': 'j', 'controller-uid': 'u' } }], {}],
    ['sorted by key', [{ pod: 'p', labels: { z: '1', a: '2', m: '3' } }], { a: '2', m: '3', z: '1' }],
  ];
  for (const [name, samples, want] of cases) {
    const got = stableLabels(samples);
    t.same(got, want, name);
    t.same(Object.keys(got), Object.keys(want), `${name}: key order`);
  }
});
