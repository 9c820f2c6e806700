// The probe modules' names, the values --probes accepts. A leaf, so the
// flag parser can name them without loading any probe.

export const PROBE_NAMES = ['tcp', 'dns', 'flows', 'syscalls'] as const;
export type ProbeName = (typeof PROBE_NAMES)[number];
