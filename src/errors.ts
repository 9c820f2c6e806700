// Failures a user can act on. The CLI prints `kubepulse: <message>` as one
// line and exits non-zero; no stack trace, because the message is the fix.

export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/**
 * errno codes from the kernel, mapped to what the user has to change.
 * (EACCES is not here: it is how the verifier rejects a program.)
 */
const BPF_ERRNO_HINTS: Record<string, string> = {
  EPERM: 'needs CAP_BPF and CAP_PERFMON (CAP_NET_ADMIN for cgroup hooks), or root',
  ENOSYS: 'needs a kernel built with CONFIG_BPF_SYSCALL',
  ENOMEM: 'the kernel refused the memory; raise RLIMIT_MEMLOCK (CAP_SYS_RESOURCE) or lower --ring-buffer-bytes',
};

export function bpfHint(err: unknown): string | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? BPF_ERRNO_HINTS[code] : undefined;
}

/**
 * Verifier messages that mean "this kernel is too old for this program",
 * mapped to the feature it lacks (the verifier says EINVAL/EACCES for these).
 */
const VERIFIER_HINTS: Array<[RegExp, (m: RegExpExecArray) => string]> = [
  [/BPF_STX uses reserved fields/, () => 'needs BPF atomic instructions other than add (Linux 5.12)'],
  [/unknown func (bpf_\w+)#\d+/, (m) => `needs the ${m[1]} helper, which this kernel does not have`],
  [/program of this type cannot use helper (bpf_\w+)#\d+/, (m) => `needs ${m[1]} in this program type, which this kernel does not allow`],
];

/** The missing feature named by the verifier log of a failed load, if it is one we know. */
export function verifierHint(err: unknown): string | undefined {
  const log = (err as { libbpfLog?: unknown }).libbpfLog;
  if (typeof log !== 'string') return undefined;
  for (const [re, say] of VERIFIER_HINTS) {
    const m = re.exec(log);
    if (m) return say(m);
  }
  return undefined;
}

/** `what: <reason> (<hint>)` from an addon error, for one-line reports. */
export function describeBpfError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const hint = bpfHint(err) ?? verifierHint(err);
  return hint ? `${message} (${hint})` : message;
}
