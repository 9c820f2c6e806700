// The page's time range: a Prometheus duration (90s, 15m, 1h30m, 7d), as
// seconds for rates. One parser for the query parameter and the flag.

import { UserError } from '../errors.js';

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800, y: 31_536_000 };
const PART = /([0-9]+)(ms|s|m|h|d|w|y)/y;

/** Seconds in a Prometheus duration; a UserError naming `what` when it is not one. */
export function rangeSeconds(text: string, what: string): number {
  let total = 0;
  PART.lastIndex = 0;
  let at = 0;
  while (at < text.length) {
    PART.lastIndex = at;
    const m = PART.exec(text);
    if (!m) break;
    total += Number(m[1]) * (UNIT_SECONDS[m[2] as string] as number);
    at = PART.lastIndex;
  }
  if (text === '' || at !== text.length || !(total >= 1) || total > 366 * 86_400)
    throw new UserError(`${what}: "${text.slice(0, 40)}" is not a duration between 1s and 366d (e.g. 15m, 1h30m, 7d)`);
  return total;
}
