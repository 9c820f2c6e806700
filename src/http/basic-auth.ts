// HTTP basic authentication against bcrypt hashes, as exporter-toolkit does:
// a bcrypt check costs tens of milliseconds of CPU, so a successful
// (user, password, hash) triple is remembered and the next scrape with the same
// credentials costs one SHA-256. Unknown users still pay a bcrypt comparison,
// so response times do not reveal which users exist.
//
// bcryptjs is pure JavaScript (no native build in the image); its async
// compare runs in slices of up to 100 ms between which the event loop serves
// other requests. But every pending compare runs a slice per loop turn, so a
// flood of wrong passwords would stretch one turn to seconds and starve
// scrapes: one compare runs at a time, a few wait, the rest are refused
// without one (a 401 like any wrong password).

import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import bcrypt from 'bcryptjs';

// A hash of a random password nobody knows (cost 10, like real ones), compared against for unknown users.
const DECOY_HASH = '$2b$10$c6pMY44qFZ1g7KN5Y.Vs8O62g6QWEijMnlYUAAcZDsddnd6zVee6i';
const CACHE_LIMIT = 1024;
const MAX_WAITING_COMPARES = 16;

export class BasicAuth {
  private readonly verified = new Set<string>();
  private comparing = false;
  private readonly waiting: Array<() => void> = [];

  /** true when the request carries the credentials of one of the users. */
  async allows(req: IncomingMessage, users: Map<string, string>): Promise<boolean> {
    const header = req.headers.authorization;
    const m = header ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null;
    if (!m) return false;
    const decoded = Buffer.from(m[1] as string, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return false;
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    const hash = users.get(user);
    // bcrypt reads at most 72 bytes; the cache key covers the whole password.
    const key = createHash('sha256').update(user).update('\0').update(password).update('\0').update(hash ?? '').digest('hex');
    if (hash !== undefined && this.verified.has(key)) return true;
    const ok = await this.oneAtATime(() => bcrypt.compare(password, hash ?? DECOY_HASH));
    if (!ok || hash === undefined) return false;
    if (this.verified.size >= CACHE_LIMIT) this.verified.clear();
    this.verified.add(key);
    return true;
  }

  private async oneAtATime(compare: () => Promise<boolean>): Promise<boolean> {
    if (this.comparing) {
      if (this.waiting.length >= MAX_WAITING_COMPARES) return false;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.comparing = true;
    try {
      return await compare();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.comparing = false;
    }
  }
}
