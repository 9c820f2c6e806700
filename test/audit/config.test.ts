// --audit.checks and its companions.
import t from 'tap';
import { AUDIT_CHECKS } from '../../src/api/audit.js';
import { parseAuditChecks } from '../../src/audit/config.js';
import { parseConfig } from '../../src/config.js';

t.test('--audit.checks', async (t) => {
  t.same([...parseAuditChecks('all')], [...AUDIT_CHECKS]);
  t.same([...parseAuditChecks('none')], []);
  t.same([...parseAuditChecks('privileged, host_path')].sort(), ['host_path', 'privileged']);
  t.same([...parseAuditChecks('-image_tag,-no_limits')], AUDIT_CHECKS.filter((c) => c !== 'image_tag' && c !== 'no_limits'));
  t.same([...parseAuditChecks('all,-writable_root_fs')], AUDIT_CHECKS.filter((c) => c !== 'writable_root_fs'));
  t.throws(() => parseAuditChecks('privileged,root'), { message: /--audit.checks: unknown check "root"/ });
  t.throws(() => parseAuditChecks('none,privileged'), { message: /cannot be combined/ });
});

t.test('the daemon flags', async (t) => {
  const { config } = parseConfig(['--audit.exempt-namespaces', 'kube-system, kubepulse', '--audit.allowed-registries', 'ghcr.io/acme,registry.k8s.io', '--audit.interval', '10s'], {});
  t.same([...config.audit.exemptNamespaces], ['kube-system', 'kubepulse']);
  t.same(config.audit.allowedRegistries, ['ghcr.io/acme', 'registry.k8s.io']);
  t.equal(config.audit.intervalMs, 10_000);
  t.equal(config.audit.checks.size, AUDIT_CHECKS.length, 'every check by default');
  const defaults = parseConfig([], {}).config.audit;
  t.same([...defaults.exemptNamespaces], []);
  t.same(defaults.allowedRegistries, []);
  t.equal(defaults.intervalMs, 30_000);
  t.equal(parseConfig([], { KUBEPULSE_AUDIT_CHECKS: '-no_network_policy' }).config.audit.checks.has('no_network_policy'), false, 'from the environment');
  t.throws(() => parseConfig(['--audit.interval', 'soon'], {}), { message: /--audit.interval/ });
});
