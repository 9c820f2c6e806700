// Certificates for TLS tests, made by openssl at test time: a CA, a server
// certificate for 127.0.0.1, client certificates (good, expired, from another
// CA), all as files in one temporary directory that cleanup() removes.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Pki {
  dir: string;
  /** Path of a file in dir. */
  path(name: string): string;
  /** A new CA: <name>.crt, <name>.key. */
  ca(name: string): void;
  /**
   * A certificate signed by ca: <name>.crt, <name>.key. days < 0 makes one
   * that expired |days| days ago.
   */
  leaf(name: string, ca: string, opts: { cn: string; usage: 'serverAuth' | 'clientAuth'; san?: string; days?: number }): void;
  cleanup(): void;
}

/** undefined if openssl runs here, else the reason to print when skipping. */
export function opensslMissing(): string | undefined {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'openssl not found (apt-get install openssl)';
  }
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-pki-'));
  const path = (name: string): string => join(dir, name);
  const openssl = (args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  return {
    dir,
    path,
    ca(name) {
      openssl(['req', '-x509', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`]);
    },
    leaf(name, ca, { cn, usage, san, days = 2 }) {
      openssl(['req', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
      const ext = [`extendedKeyUsage=${usage}`, ...(san ? [`subjectAltName=${san}`] : [])].join('\n');
      writeFileSync(path(`${name}.ext`), `${ext}\n`);
      openssl([
        'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial',
        '-out', `${name}.crt`, '-days', String(days), '-extfile', `${name}.ext`,
      ]);
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
