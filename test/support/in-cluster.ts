// A pod's view of the cluster, for running the real daemon in in-cluster
// mode against the test API server:
// - serviceAccountDir(): a directory laid out as the kubelet writes a
//   projected service account volume (token, ca.crt, namespace as symlinks
//   into ..data, which is swapped atomically on rotation);
// - inClusterLaunch(): runs a command in a private mount namespace where
//   /var/run/secrets/kubernetes.io/serviceaccount is that directory (a
//   tmpfs over /run, the directory bind-mounted into it), so the daemon
//   reads the standard path as in a pod and nothing changes on the host.
//   Needs root (unshare -m); the pid stays the command's (every step execs).
// Plain Node and node:* only: the bench transpiles and imports this file.
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ServiceAccountDir {
  readonly dir: string;
  /** Writes a new token the way the kubelet does (new timestamped dir, ..data swapped). */
  rotate(token: string): void;
}

export function serviceAccountDir(dir: string, token: string, ca: string): ServiceAccountDir {
  let generation = 0;
  const write = (tok: string): void => {
    const data = `..2026_12_01_00_00_${String(generation++).padStart(2, '0')}`;
    mkdirSync(join(dir, data));
    writeFileSync(join(dir, data, 'token'), tok);
    writeFileSync(join(dir, data, 'ca.crt'), ca);
    writeFileSync(join(dir, data, 'namespace'), 'kubepulse');
    symlinkSync(data, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  };
  write(token);
  for (const f of ['token', 'ca.crt', 'namespace']) symlinkSync(join('..data', f), join(dir, f));
  return { dir, rotate: write };
}

/** The environment a pod gets for the kubernetes Service, pointing at a test API server's URL. */
export function inClusterEnv(serverUrl: string): Record<string, string> {
  const url = new URL(serverUrl);
  return { KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port };
}

/** The command line that runs `command args…` with `saDir` at the standard service account path. */
export function inClusterLaunch(saDir: string, command: string, args: readonly string[]): { command: string; args: string[] } {
  const script = [
    'set -e',
    'mount -t tmpfs -o size=1m,mode=755 kubepulse-test-run /run',
    'mkdir -p /run/secrets/kubernetes.io/serviceaccount',
    'mount --bind "$0" /run/secrets/kubernetes.io/serviceaccount',
    'exec "$@"',
  ].join('\n');
  return { command: 'unshare', args: ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', script, saDir, command, ...args] };
}
