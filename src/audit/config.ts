// The audit's flags, parsed: --audit.checks, --audit.exempt-namespaces,
// --audit.allowed-registries, --audit.interval. A leaf for config.ts.
import { AUDIT_CHECKS, type AuditCheck } from '../api/audit.js';
import { UserError } from '../errors.js';

export interface AuditConfig {
  checks: ReadonlySet<AuditCheck>;
  exemptNamespaces: ReadonlySet<string>;
  /** Registry hosts or name prefixes; empty: any registry. */
  allowedRegistries: string[];
  /** Period of the runtime scan (runs_as_root, seccomp_unconfined). */
  intervalMs: number;
}

function list(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/**
 * `all` (default), `none`, a list of checks to run (`privileged,host_path`),
 * or checks to leave out (`-image_tag,-no_limits`: all but those; `all,-x` too).
 */
export function parseAuditChecks(text: string): Set<AuditCheck> {
  const entries = list(text);
  const named = (name: string): AuditCheck => {
    if (!(AUDIT_CHECKS as readonly string[]).includes(name)) throw new UserError(`--audit.checks: unknown check "${name}" (one of ${AUDIT_CHECKS.join(', ')}, all, none)`, 2);
    return name as AuditCheck;
  };
  const adds = entries.filter((e) => !e.startsWith('-'));
  const out = new Set<AuditCheck>(adds.length === 0 || adds.includes('all') ? AUDIT_CHECKS : []);
  for (const e of adds) if (e !== 'all' && e !== 'none') out.add(named(e));
  if (adds.includes('none') && adds.length > 1) throw new UserError('--audit.checks: "none" cannot be combined with other checks', 2);
  if (adds.includes('none')) out.clear();
  for (const e of entries) if (e.startsWith('-')) out.delete(named(e.slice(1)));
  return out;
}

export function parseAuditConfig(value: (flag: string) => string, intervalMs: number): AuditConfig {
  return {
    checks: parseAuditChecks(value('audit.checks')),
    exemptNamespaces: new Set(list(value('audit.exempt-namespaces'))),
    allowedRegistries: list(value('audit.allowed-registries')),
    intervalMs,
  };
}
