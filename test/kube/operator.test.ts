// Where an operator's command finds the Kubernetes API: kubectl's order.
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../src/errors.js';
import { operatorKube } from '../../src/kube/operator.js';

t.test('--kubeconfig, then $KUBECONFIG, then ~/.kube/config', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kp-operator-kube-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const home = join(dir, 'home');
  mkdirSync(join(home, '.kube'), { recursive: true });
  const given = join(dir, 'given');
  const fromEnv = join(dir, 'env');
  for (const f of [given, fromEnv, join(home, '.kube', 'config')]) writeFileSync(f, '{}');
  t.equal(operatorKube(given, { KUBECONFIG: fromEnv }, home).source, `kubeconfig ${given}`);
  t.equal(operatorKube(undefined, { KUBECONFIG: `${join(dir, 'missing')}:${fromEnv}` }, home).source, `kubeconfig ${fromEnv}`, 'the first file of $KUBECONFIG that exists');
  t.equal(operatorKube(undefined, {}, home).source, `kubeconfig ${join(home, '.kube', 'config')}`);
  t.throws(() => operatorKube(undefined, {}, join(dir, 'nobody')), UserError, 'none of them, and not in a pod: one line');
  t.throws(() => operatorKube(join(dir, 'missing'), {}, home), /cannot load kubeconfig/);
});
