// The open-file limit, checked before anything else is loaded: Node opens
// the daemon's ~600 modules in parallel while importing them, so under a low
// RLIMIT_NOFILE the process would die inside the module loader with a stack
// trace instead of saying what to change. Only node:fs here, on purpose.

import { readFileSync } from 'node:fs';

/** Enough for loading (~600 at peak) plus the running daemon (~60) with room for scrapes. */
export const MIN_OPEN_FILES = 1024;

/** The soft RLIMIT_NOFILE from /proc/self/limits (Node has already raised it to the hard limit), or undefined. */
export function openFileLimit(limitsText?: string): number | undefined {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return undefined;
    }
  }
  const soft = /^Max open files\s+(\S+)/m.exec(text)?.[1];
  if (soft === undefined) return undefined;
  return soft === 'unlimited' ? Infinity : Number(soft);
}

/** A one-line problem with the open-file limit, or undefined when it is high enough. */
export function openFileLimitProblem(limit: number | undefined = openFileLimit()): string | undefined {
  if (limit === undefined || !Number.isFinite(limit) || limit >= MIN_OPEN_FILES) return undefined;
  return `the open-file limit (RLIMIT_NOFILE) is ${limit}; needs at least ${MIN_OPEN_FILES} (raise it with ulimit -n, LimitNOFILE= or the container runtime's default)`;
}
