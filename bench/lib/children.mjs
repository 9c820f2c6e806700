// Child processes and system settings the benchmark changes, undone on every way out
// (normal end, error, SIGINT, SIGTERM).
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const live = new Set();
const undo = [];

export function track(child) {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

export function spawnTracked(cmd, args, opts) {
  return track(spawn(cmd, args, opts));
}

/** Resolves with {code, signal} when the child exits; kills it with SIGKILL after timeoutMs. */
export function waitExit(child, timeoutMs = 10000) {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode, killed: false });
  return new Promise((resolve) => {
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, killed });
    });
  });
}

export async function stop(child, signal = 'SIGTERM', timeoutMs = 10000) {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  return waitExit(child, timeoutMs);
}

/** Sets a sysctl (by /proc/sys path) and remembers the old value to restore. */
export function setSysctl(name, value) {
  const path = `/proc/sys/${name.replaceAll('.', '/')}`;
  const old = readFileSync(path, 'utf8').trim();
  if (old !== String(value)) {
    writeFileSync(path, String(value));
    undo.push(() => writeFileSync(path, old));
  }
  return old;
}

/** Mounts tracefs (bpftrace's classic tracepoints need it) if it is not mounted. */
export function ensureTracefs() {
  try {
    readFileSync('/sys/kernel/tracing/events/sock/inet_sock_set_state/id');
    return false;
  } catch {
    /* not mounted */
  }
  execFileSync('mount', ['-t', 'tracefs', 'tracefs', '/sys/kernel/tracing']);
  undo.push(() => execFileSync('umount', ['/sys/kernel/tracing']));
  return true;
}

export function cleanup() {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  while (undo.length) {
    try {
      undo.pop()();
    } catch (err) {
      process.stderr.write(`bench: could not restore a setting: ${err.message}\n`);
    }
  }
}

export function installCleanup() {
  process.once('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => {
      process.stderr.write(`bench: ${sig}, restoring settings\n`);
      cleanup();
      process.exit(130);
    });
  }
}
