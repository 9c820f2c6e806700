// Tests that need root and a BPF-capable kernel ask here first. On this
// project's machines they run; elsewhere they skip with the reason.

import { existsSync } from 'node:fs';

export function bpfUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (loads BPF programs)';
  if (!existsSync('/sys/kernel/btf/vmlinux')) return 'needs kernel BTF at /sys/kernel/btf/vmlinux';
  return undefined;
}

/** tap options that skip a whole test with a printed reason when BPF is out of reach. */
export function needsBpf(): { skip: string | false } {
  const reason = bpfUnavailable();
  if (reason) process.stdout.write(`# skipping: ${reason}\n`);
  return { skip: reason ?? false };
}
