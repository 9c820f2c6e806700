// The operator's install (issue 13): `npm pack` of the built checkout, then
// `npm install -g` of that tarball into a clean prefix by a non-root user
// (nobody, with a fresh HOME and npm cache), which must put `kubepulse` and
// the `kubectl-kubepulse` plugin on the PATH without building or loading the
// native addon; then, as that user, `kubectl kubepulse status` (when a
// kubectl is installed; else the plugin binary directly, said in a comment)
// and `kubepulse observe` against a real agent running from the checkout.
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, startDaemon } from '../support/daemon.js';
import { needsBpf } from '../support/privileges.js';

const NOBODY = 65534;
const skip = needsBpf();

function which(cmd: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Runs argv as nobody with the given environment only. */
async function asNobody(argv: string[], env: Record<string, string>, timeoutMs = 240_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // env -u: tap adds its loader to children's NODE_OPTIONS; the user's shell has none.
  const child = spawn('setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', '--', 'env', '-u', 'NODE_OPTIONS', ...argv], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

t.test('npm pack → npm install -g by a non-root user → kubepulse and kubectl kubepulse work', skip, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'kubepulse-pack-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  chmodSync(work, 0o755);
  execFileSync('npm', ['pack', '--pack-destination', work, '--silent'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  t.ok(tarball, `npm pack made ${tarball}`);
  const list = execFileSync('tar', ['-tzf', join(work, tarball!)], { encoding: 'utf8' });
  t.notMatch(list, /\.node$|\.bpf\.o$|binding\.gyp|\/test\//m, 'no native addon, BPF objects or tests in the package');
  chmodSync(join(work, tarball!), 0o644);

  const home = join(work, 'home');
  const prefix = join(work, 'prefix');
  for (const d of [home, prefix]) {
    mkdirSync(d);
    chownSync(d, NOBODY, NOBODY);
  }
  const nodeDir = join(process.execPath, '..');
  // A clean user, but on this machine's network: its proxy and CA settings pass through.
  const network = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => /proxy|_CA_|CA_BUNDLE|CERT/i.test(e[0]) && e[1] !== undefined));
  const cafile = process.env.NODE_EXTRA_CA_CERTS ?? process.env.SSL_CERT_FILE;
  const env: Record<string, string> = {
    ...network,
    ...(cafile ? { npm_config_cafile: cafile } : {}),
    HOME: home,
    PATH: `${join(prefix, 'bin')}:${nodeDir}:/usr/local/bin:/usr/bin:/bin`,
    npm_config_cache: join(home, '.npm'),
    npm_config_update_notifier: 'false',
    NO_COLOR: '1',
  };
  const install = await asNobody(['npm', 'install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', join(work, tarball!)], env);
  t.equal(install.code, 0, `npm install -g as nobody exits 0 ${install.stderr.slice(-2000)}`);
  for (const bin of ['kubepulse', 'kubectl-kubepulse']) t.ok(existsSync(join(prefix, 'bin', bin)), `${bin} on the PATH (${join(prefix, 'bin', bin)})`);
  const installed = join(prefix, 'lib', 'node_modules', 'kubepulse');
  t.notOk(existsSync(join(installed, 'build')), 'nothing was built at install (no addon, no node-gyp)');

  const help = await asNobody(['kubepulse', 'observe', '--help'], env);
  t.equal(help.code, 0, 'kubepulse observe --help');
  t.match(help.stdout, /Usage: kubepulse observe/);

  // A real agent, from the checkout (as root: it loads BPF).
  const daemon = await startDaemon(['--probes', 'tcp', '--node-name', 'pack-test', '--api.history', '300000']); // other tests' storms share the history
  t.teardown(() => daemon.stop());
  await daemon.waitReady(30_000);
  const agent = daemon.url('').replace(/\/$/, '');
  const listener = createServer((s) => s.end());
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => listener.close(() => r())));
  const port = (listener.address() as { port: number }).port;
  await asNobody(['bash', '-c', `for i in 1 2 3; do exec 3<>/dev/tcp/127.0.0.1/${port}; exec 3>&-; done`], env);

  const kubectl = which('kubectl');
  const status = kubectl
    ? await asNobody(['kubectl', 'kubepulse', 'status', '--agent', agent], { ...env, KUBECONFIG: join(home, 'no-kubeconfig') })
    : await asNobody(['kubectl-kubepulse', 'status', '--agent', agent], env);
  if (!kubectl) t.comment('no kubectl installed: the plugin binary was run directly');
  t.equal(status.code, 0, `${kubectl ? 'kubectl kubepulse' : 'kubectl-kubepulse'} status exits 0 ${status.stderr}`);
  t.match(status.stdout, new RegExp(`${agent.replace(/[.]/g, '\\.')}\\s+pack-test\\s+0\\.1\\.0\\s+\\S+\\s+yes`), 'one ready agent');

  await new Promise((r) => setTimeout(r, 300));
  const observe = await asNobody(['kubepulse', 'observe', '--agent', agent, '--peer', `:${port}`, '--last', '10', '-o', 'json'], env);
  t.equal(observe.code, 0, `kubepulse observe exits 0 ${observe.stderr}`);
  const events = observe.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.equal(events.filter((e) => e.result === 'established').length, 3, 'the three connects, from the installed CLI');

  const down = await asNobody(['kubepulse', 'status', '--agent', 'http://127.0.0.1:1'], env);
  t.equal(down.code, 1, 'an unreachable agent: exit 1');
  t.equal(down.stderr.trim(), 'kubepulse status: agent http://127.0.0.1:1: connection refused', 'in one line naming it');
});
