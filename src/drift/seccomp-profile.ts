// Seccomp profiles as the kubelet loads them from its seccomp root
// (Localhost) and as `kubepulse policy seccomp` writes them: the OCI /
// Docker JSON (defaultAction, architectures, syscalls[].names|name +
// action). Both shapes are read:
// - allow-lists: defaultAction denies (ERRNO, KILL, TRAP, LOG, …), rules
//   SCMP_ACT_ALLOW the names the container may call;
// - deny-lists: defaultAction SCMP_ACT_ALLOW, rules deny some names.
// A syscall is allowed when the action that applies to it is
// SCMP_ACT_ALLOW. SCMP_ACT_LOG is "let through and log", the audit mode of
// a profile being tried: a logged call is one the profile does not allow,
// which is exactly what drift reports. Rules with argument conditions
// (args) count as allowing (we cannot see arguments: no false drift);
// rules limited by includes/excludes to other architectures are skipped.
// A profile whose architectures leave out the node's native one allows
// nothing (the kernel filter's bad-architecture action applies).

import { seccompArchitectures } from '../policy/seccomp.js';
import { canonicalArch } from '../policy/syscall-table.js';

interface RawRule {
  names?: unknown;
  name?: unknown;
  action?: unknown;
  includes?: { arches?: unknown };
  excludes?: { arches?: unknown };
}

export class SeccompProfileError extends Error {}

export interface ParsedSeccompProfile {
  defaultAction: string;
  /** Whether the profile lets the syscall (by name) run unlogged. */
  allows(syscall: string): boolean;
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** Docker's includes/excludes use Go's arch names (amd64, arm64, x86, …). */
const GO_ARCH: Readonly<Record<string, string>> = { x86_64: 'amd64', aarch64: 'arm64' };

function ruleApplies(rule: RawRule, arch: string): boolean {
  const goArch = GO_ARCH[arch] ?? arch;
  const inc = strings(rule.includes?.arches);
  if (inc.length > 0 && !inc.includes(goArch) && !inc.includes(arch)) return false;
  const exc = strings(rule.excludes?.arches);
  return !(exc.includes(goArch) || exc.includes(arch));
}

/** Parses the JSON text of a profile for a node of `arch` (uname -m). */
export function parseSeccompProfile(text: string, arch: string): ParsedSeccompProfile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new SeccompProfileError(`not JSON: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SeccompProfileError('not a JSON object');
  const p = raw as { defaultAction?: unknown; architectures?: unknown; syscalls?: unknown };
  if (typeof p.defaultAction !== 'string' || !p.defaultAction.startsWith('SCMP_ACT_'))
    throw new SeccompProfileError('no defaultAction (SCMP_ACT_…): not a seccomp profile');
  const defaultAction = p.defaultAction;
  if (p.syscalls !== undefined && p.syscalls !== null && !Array.isArray(p.syscalls)) throw new SeccompProfileError('syscalls is not a list');
  const node = canonicalArch(arch);
  const architectures = strings(p.architectures);
  const native = seccompArchitectures(node)[0] as string;
  const nativeListed = architectures.length === 0 || architectures.includes(native);

  // The first rule naming a syscall decides, as runc adds them in order and
  // libseccomp refuses a second, conflicting one.
  const actions = new Map<string, string>();
  for (const r of (p.syscalls ?? []) as RawRule[]) {
    if (typeof r !== 'object' || r === null) continue;
    const action = typeof r.action === 'string' ? r.action : '';
    if (action === '' || !ruleApplies(r, node)) continue;
    const names = [...strings(r.names), ...(typeof r.name === 'string' ? [r.name] : [])];
    for (const n of names) if (!actions.has(n)) actions.set(n, action);
  }
  return {
    defaultAction,
    allows(syscall) {
      if (!nativeListed) return false;
      return (actions.get(syscall) ?? defaultAction) === 'SCMP_ACT_ALLOW';
    },
  };
}
