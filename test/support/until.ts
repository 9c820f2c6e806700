// Bounded polling for tests: wait for a condition, or fail saying what was
// awaited (and, with describe, the state it was last seen in).

export interface UntilOptions {
  /** How long at most (default 10 s). */
  timeoutMs?: number;
  /** Pause between checks (default 20 ms). */
  everyMs?: number;
  /** The last state, for the timeout error. */
  describe?: () => string;
  /** A check that throws counts as "not yet" (the last error goes into the timeout error); by default it ends the wait. */
  retryErrors?: boolean;
}

/**
 * Calls check() until it returns something other than undefined or false,
 * and resolves with that; throws once timeoutMs (the number, or
 * options.timeoutMs) has passed.
 */
export async function until<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  options: UntilOptions | number = {},
): Promise<Exclude<T, undefined | false>> {
  const { timeoutMs = 10_000, everyMs = 20, describe, retryErrors = false } = typeof options === 'number' ? { timeoutMs: options } : options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value as Exclude<T, undefined | false>;
    } catch (err) {
      if (!retryErrors) throw err;
      lastError = err;
    }
    if (Date.now() > deadline) {
      const detail = [describe?.(), lastError === undefined ? undefined : String(lastError)].filter((d) => d !== undefined);
      throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}${detail.length > 0 ? ` (${detail.join('; ')})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
