import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { X86_64_MAX_SYSCALL, x86_64SyscallName, x86_64SyscallNames, x86_64SyscallNumber } from '../../src/policy/syscall-table.js';

const HEADER = '/usr/include/x86_64-linux-gnu/asm/unistd_64.h';

t.test('well-known numbers', async (t) => {
  const known: Array<[number, string]> = [
    [0, 'read'], [1, 'write'], [59, 'execve'], [60, 'exit'], [231, 'exit_group'], [257, 'openat'], [262, 'newfstatat'], [334, 'rseq'], [435, 'clone3'], [439, 'faccessat2'],
  ];
  for (const [nr, name] of known) {
    t.equal(x86_64SyscallName(nr), name, `${nr}`);
    t.equal(x86_64SyscallNumber(name), nr, name);
  }
  t.equal(x86_64SyscallName(335), undefined, 'gap between rseq and pidfd_send_signal');
  t.equal(x86_64SyscallName(-1), undefined);
  t.equal(x86_64SyscallName(X86_64_MAX_SYSCALL + 1), undefined);
  t.equal(x86_64SyscallNumber('no_such_call'), undefined);
  t.equal(new Set(x86_64SyscallNames()).size, x86_64SyscallNames().length, 'names are unique');
});

t.test('matches the kernel UAPI header', { skip: existsSync(HEADER) ? false : `${HEADER} not present (Debian package linux-libc-dev)` }, async (t) => {
  const fromHeader = new Map<number, string>();
  for (const m of readFileSync(HEADER, 'utf8').matchAll(/^#define __NR_([a-z0-9_]+)\s+([0-9]+)\s*$/gm)) {
    fromHeader.set(Number(m[2]), m[1] as string);
  }
  t.ok(fromHeader.size > 300, `${fromHeader.size} syscalls in the header`);
  const mismatches: string[] = [];
  for (const [nr, name] of fromHeader) if (x86_64SyscallName(nr) !== name) mismatches.push(`${nr}: header ${name}, table ${x86_64SyscallName(nr)}`);
  for (const name of x86_64SyscallNames()) {
    const nr = x86_64SyscallNumber(name) as number;
    if (fromHeader.get(nr) !== name) mismatches.push(`${nr}: table ${name}, header ${fromHeader.get(nr)}`);
  }
  t.same(mismatches, []);
});
