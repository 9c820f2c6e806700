// Kubeconfig endpoints against the test API server: what kubectl users
// write — a token, a client certificate, an exec plugin, and a plain
// http:// server without insecure-skip-tls-verify (kubectl proxy).
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient } from '../../src/kube/client.js';
import { KubeconfigEndpoint } from '../../src/kube/kubeconfig.js';
import { clientCertificate, TestKubeApiServer, type KubeApiServerOptions } from '../support/kube-api-server.js';
import { writeKubeconfig, type KubeconfigOptions } from '../support/kubeconfig.js';
import { makePod } from '../metadata/fixtures/pods.js';
import { runCli } from '../support/daemon.js';
import { needsBpf } from '../support/privileges.js';

async function serve(t: { teardown(fn: () => unknown): void }, options: KubeApiServerOptions = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-kubeconfig-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const server = new TestKubeApiServer(options);
  await server.start();
  t.teardown(() => server.stop());
  server.addPod(makePod({ name: 'p' }));
  const client = (token: string, options: KubeconfigOptions = {}) =>
    new KubeClient(new KubeconfigEndpoint(writeKubeconfig(dir, server.url, token, server.certificate, options)));
  return { dir, server, client };
}

const listPods = (client: KubeClient) => client.list('/api/v1/pods', {}, (o) => o);

t.test('http:// without insecure-skip-tls-verify is accepted, as kubectl accepts it (kubectl proxy)', async (t) => {
  const { server, client } = await serve(t);
  const c = client(server.token, { skipTlsVerify: false });
  const list = await listPods(c);
  t.equal(list.items.length, 1);
  t.equal(c.endpoint.server, server.url);
  t.equal(server.requests.at(-1)!.authorization, `Bearer ${server.token}`, 'the token goes along, as kubectl sends it');
});

t.test('https with a token, verified against certificate-authority-data', async (t) => {
  const { server, client } = await serve(t, { tls: true });
  t.equal((await listPods(client(server.token))).items.length, 1);
  await t.rejects(listPods(client('wrong')), /401 Unauthorized/);
});

t.test('a client certificate authenticates', async (t) => {
  const user = clientCertificate('kubepulse-agent');
  const { server, client } = await serve(t, { tls: true, clientCa: user.ca });
  const c = client('', {
    user: { 'client-certificate-data': Buffer.from(user.cert).toString('base64'), 'client-key-data': Buffer.from(user.key).toString('base64') },
  });
  t.equal((await listPods(c)).items.length, 1);
  const request = server.requests.at(-1)!;
  t.equal(request.clientCertificate, 'kubepulse-agent');
  t.equal(request.authorization, '', 'no token was sent');
});

t.test('an exec credential plugin is run and its token used', async (t) => {
  const { dir, server, client } = await serve(t, { tls: true, token: 'from-exec-plugin' });
  const runs = join(dir, 'runs');
  const plugin = join(dir, 'plugin.mjs');
  writeFileSync(
    plugin,
    [
      "import { appendFileSync } from 'node:fs';",
      `appendFileSync(${JSON.stringify(runs)}, 'run\\n');`,
      "const info = JSON.parse(process.env.KUBERNETES_EXEC_INFO ?? '{}');",
      "process.stdout.write(JSON.stringify({ apiVersion: info.apiVersion ?? 'client.authentication.k8s.io/v1', kind: 'ExecCredential',",
      "  status: { token: 'from-exec-plugin', expirationTimestamp: new Date(Date.now() + 3600e3).toISOString() } }));",
    ].join('\n'),
  );
  const c = client('', {
    user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: [plugin], interactiveMode: 'Never' } },
  });
  t.equal((await listPods(c)).items.length, 1);
  t.equal(server.requests.at(-1)!.authorization, 'Bearer from-exec-plugin');
  await listPods(c);
  t.equal(readFileSync(runs, 'utf8'), 'run\n', 'the credential is cached until it expires, not fetched per request');
});

t.test('a kubeconfig that does not parse, or has no cluster, fails ready() with one line', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-kubeconfig-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const broken = join(dir, 'broken');
  writeFileSync(broken, 'clusters: [unclosed\n');
  const err = await new KubeconfigEndpoint(broken).ready().then(() => undefined, (e: Error) => e);
  t.match(err?.message, /^cannot load kubeconfig .*broken: /);
  t.notMatch(err?.message, /\n/, 'one line');
  const empty = join(dir, 'empty');
  writeFileSync(empty, 'apiVersion: v1\nkind: Config\n');
  await t.rejects(new KubeconfigEndpoint(empty).ready(), /has no current context with a cluster/);
  t.throws(() => new KubeconfigEndpoint(join(dir, 'missing')), /cannot load kubeconfig .*missing: ENOENT/);
});

t.test('the daemon: a kubeconfig that does not parse is one line and exit 1, after nothing was left attached', needsBpf(), async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-kubeconfig-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const broken = join(dir, 'broken');
  writeFileSync(broken, 'clusters: [unclosed\n');
  for (const [file, reason] of [[broken, /unexpected end/], [join(dir, 'missing'), /ENOENT/]] as const) {
    const { code, stderr } = await runCli(['--kubeconfig', file, '--probes', 'tcp', '--port', '0', '--listen-address', '127.0.0.1', '--log-level', 'error']);
    t.equal(code, 1);
    t.match(stderr, new RegExp(`^kubepulse: cannot load kubeconfig ${file}: .*${reason.source}.*\\n$`));
    t.equal(stderr.split('\n').length, 2, `one line: ${stderr.trim()}`);
  }
});
