// System call numbers → names, one table per architecture: the same number
// is a different call on x86_64 and arm64 (56 is clone on one, openat on the
// other), so a number means nothing without the node's architecture. The BPF
// side sees numbers (raw_syscalls/sys_enter); profiles need names.
// The tables (syscalls-<arch>.ts) are generated from the kernel UAPI headers
// Debian ships; test/policy/syscall-table.test.ts checks them against those.
import { AARCH64_NAMES } from './syscalls-aarch64.js';
import { X86_64_NAMES } from './syscalls-x86_64.js';

class SyscallTable {
  private readonly numbers: ReadonlyMap<string, number>;

  constructor(private readonly names: readonly string[]) {
    this.numbers = new Map(names.flatMap((name, nr) => (name === '' ? [] : [[name, nr] as [string, number]])));
  }

  name(nr: number): string | undefined {
    const name = this.names[nr];
    return name === undefined || name === '' ? undefined : name;
  }

  number(name: string): number | undefined {
    return this.numbers.get(name);
  }

  /** Every named syscall, in number order. */
  all(): string[] {
    return this.names.filter((n) => n !== '');
  }
}

const TABLES: Readonly<Record<string, SyscallTable>> = {
  x86_64: new SyscallTable(X86_64_NAMES),
  aarch64: new SyscallTable(AARCH64_NAMES),
};

/** uname -m spelling of an architecture, from Node's or Go's (GOARCH, the Kubernetes node label). */
export function canonicalArch(arch: string): string {
  if (arch === 'x64' || arch === 'amd64') return 'x86_64';
  if (arch === 'arm64') return 'aarch64';
  return arch;
}

/** The running machine's architecture, as the agent reports it in /api/v1/syscalls. */
export function nodeArch(): string {
  return canonicalArch(process.arch);
}

/** The table of an architecture (any spelling canonicalArch knows), or undefined when there is none. */
export function syscallTable(arch: string): SyscallTable | undefined {
  return TABLES[canonicalArch(arch)];
}

export type { SyscallTable };
