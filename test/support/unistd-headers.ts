// System call numbers as the kernel's UAPI headers define them, for one
// architecture, read through the C preprocessor (arm64 takes its numbers from
// asm-generic/unistd.h through macros like __NR3264_fstatat, which only cpp
// resolves faithfully). Debian packages: linux-libc-dev (x86_64, the build
// machine's own) and linux-libc-dev-arm64-cross (arm64).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface UnistdSource {
  /** uname -m name: x86_64, aarch64 */
  arch: string;
  /** -I directory and the header to include */
  include: string;
  header: string;
  /** the Debian package that provides it */
  pkg: string;
}

export const UNISTD_SOURCES: readonly UnistdSource[] = [
  { arch: 'x86_64', include: '/usr/include/x86_64-linux-gnu', header: 'asm/unistd_64.h', pkg: 'linux-libc-dev' },
  { arch: 'aarch64', include: '/usr/aarch64-linux-gnu/include', header: 'asm/unistd.h', pkg: 'linux-libc-dev-arm64-cross' },
];

export function unistdMissing(src: UnistdSource): string | false {
  return existsSync(`${src.include}/${src.header}`) ? false : `${src.include}/${src.header} not present (Debian package ${src.pkg})`;
}

/** number → name for every __NR_<name> the header defines (bookkeeping macros left out). */
export function readUnistd(src: UnistdSource): Map<number, string> {
  const cpp = (input: string, extra: string[]): string =>
    execFileSync('cpp', ['-P', '-nostdinc', '-I', src.include, ...extra, '-include', src.header, '-'], { input, encoding: 'utf8' });
  const names = [...cpp('', ['-dM']).matchAll(/^#define __NR_([a-z0-9_]+) /gm)]
    .map((m) => m[1] as string)
    .filter((n) => n !== 'syscalls' && n !== 'arch_specific_syscall');
  const expanded = cpp(names.map((n) => `${n} = __NR_${n}`).join('\n'), []);
  const out = new Map<number, string>();
  for (const line of expanded.split('\n')) {
    const m = /^([a-z0-9_]+) = \(?\s*([0-9]+)\s*\)?$/.exec(line.trim());
    if (m === null) {
      if (line.trim() !== '') throw new Error(`${src.header}: cannot read ${JSON.stringify(line)}`);
      continue;
    }
    const nr = Number(m[2]);
    if (out.has(nr)) throw new Error(`${src.header}: ${nr} is both ${out.get(nr)} and ${m[1]}`);
    out.set(nr, m[1] as string);
  }
  return out;
}
