import t from 'tap';
import { canonicalArch, syscallTable } from '../../src/policy/syscall-table.js';
import { readUnistd, UNISTD_SOURCES, unistdMissing } from '../support/unistd-headers.js';

// Numbers that differ between the two: a table mix-up cannot pass both rows.
const KNOWN: Record<string, Array<[number, string]>> = {
  x86_64: [[0, 'read'], [1, 'write'], [56, 'clone'], [59, 'execve'], [60, 'exit'], [231, 'exit_group'], [257, 'openat'], [262, 'newfstatat'], [334, 'rseq'], [435, 'clone3'], [439, 'faccessat2']],
  aarch64: [[56, 'openat'], [57, 'close'], [63, 'read'], [64, 'write'], [79, 'newfstatat'], [80, 'fstat'], [93, 'exit'], [94, 'exit_group'], [220, 'clone'], [221, 'execve'], [293, 'rseq'], [435, 'clone3'], [439, 'faccessat2']],
};

t.test('well-known numbers, per architecture', async (t) => {
  for (const [arch, known] of Object.entries(KNOWN)) {
    const table = syscallTable(arch);
    if (table === undefined) throw new Error(`no table for ${arch}`);
    for (const [nr, name] of known) {
      t.equal(table.name(nr), name, `${arch} ${nr}`);
      t.equal(table.number(name), nr, `${arch} ${name}`);
    }
    t.equal(table.name(-1), undefined);
    t.equal(table.name(100_000), undefined);
    t.equal(table.number('no_such_call'), undefined);
    t.equal(new Set(table.all()).size, table.all().length, `${arch}: names are unique`);
  }
  t.equal(syscallTable('x86_64')?.name(335), undefined, 'x86_64: gap between rseq and pidfd_send_signal');
  t.equal(syscallTable('aarch64')?.number('open'), undefined, 'arm64 has no open(2), only openat');
});

t.test('architecture spellings: Node, Go/Kubernetes, uname', async (t) => {
  t.equal(canonicalArch('x64'), 'x86_64');
  t.equal(canonicalArch('amd64'), 'x86_64');
  t.equal(canonicalArch('arm64'), 'aarch64');
  t.equal(canonicalArch('aarch64'), 'aarch64');
  t.equal(syscallTable('arm64'), syscallTable('aarch64'));
  t.equal(syscallTable('riscv64'), undefined);
});

for (const src of UNISTD_SOURCES) {
  t.test(`the ${src.arch} table matches the kernel UAPI header`, { skip: unistdMissing(src) }, async (t) => {
    const fromHeader = readUnistd(src);
    t.ok(fromHeader.size > 300, `${fromHeader.size} syscalls in ${src.header}`);
    const table = syscallTable(src.arch);
    if (table === undefined) throw new Error(`no table for ${src.arch}`);
    const mismatches: string[] = [];
    for (const [nr, name] of fromHeader) if (table.name(nr) !== name) mismatches.push(`${nr}: header ${name}, table ${table.name(nr)}`);
    for (const name of table.all()) {
      const nr = table.number(name) as number;
      if (fromHeader.get(nr) !== name) mismatches.push(`${nr}: table ${name}, header ${fromHeader.get(nr)}`);
    }
    t.same(mismatches, [], 'regenerate with test/support/generate-syscall-tables.ts');
  });
}
