// The exporter-toolkit web config file read as node_exporter reads it: the
// defaults, the mapping of Go's names to OpenSSL's, and one clear line for
// every kind of bad file (table-driven). The CLI fails with that one line
// before loading anything.

import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import t from 'tap';
import { stringify } from 'yaml';
import { UserError } from '../../src/errors.js';
import { loadWebConfig } from '../../src/http/web-config.js';
import { CLI } from '../support/daemon.js';
import { makePki, opensslMissing } from '../support/tls-certs.js';

const HASH = '$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG';

const missing = opensslMissing();
if (missing) {
  t.skip(missing, () => {});
} else {
  const pki = makePki();
  t.teardown(() => pki.cleanup());
  pki.ca('ca');
  pki.leaf('server', 'ca', { cn: 'kubepulse', usage: 'serverAuth', san: 'IP:127.0.0.1' });
  const file = (doc: unknown): string => {
    const path = pki.path(`web-${Math.random().toString(36).slice(2)}.yml`);
    writeFileSync(path, typeof doc === 'string' ? doc : stringify(doc));
    return path;
  };
  const tls = { cert_file: 'server.crt', key_file: 'server.key' };

  t.test('defaults and mappings', async (t) => {
    const empty = loadWebConfig(file(''));
    t.equal(empty.tls, undefined, 'an empty file: plain HTTP');
    t.equal(empty.basicAuthUsers.size, 0, 'and no basic auth');

    const c = loadWebConfig(
      file({
        tls_server_config: { ...tls, cipher_suites: ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305'], curve_preferences: ['X25519', 'CurveP256'] },
        basic_auth_users: { alice: HASH },
        http_server_config: { headers: { 'x-frame-options': 'deny', 'Content-Security-Policy': '' } },
      }),
    );
    t.equal(c.tls?.minVersion, 'TLSv1.2', 'min_version defaults to TLS12');
    t.equal(c.tls?.maxVersion, 'TLSv1.3', 'max_version defaults to TLS13');
    t.equal(c.tls?.clientAuthType, 'NoClientCert', 'client_auth_type defaults to NoClientCert');
    t.equal(c.tls?.honorCipherOrder, true, 'prefer_server_cipher_suites defaults to true');
    t.equal(c.tls?.ciphers, 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305', 'Go suite names become OpenSSL names');
    t.equal(c.tls?.ecdhCurve, 'X25519:prime256v1', 'Go curve names become OpenSSL names');
    t.match(c.tls?.cert, /BEGIN CERTIFICATE/, 'cert_file relative to the config file');
    t.same([...c.basicAuthUsers], [['alice', HASH]], 'htpasswd $2y$ hashes accepted');
    t.same(c.headers, { 'X-Frame-Options': 'deny' }, 'header names canonical, blank ones unset');
    t.same(c.files.length, 3, 'the config file and the two files it names are watched');
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['not YAML', 'tls_server_config: [', /not YAML/],
    ['a list at the top', '- a\n- b\n', /the file must be a YAML mapping/],
    ['an unknown key', { tls_config: {} }, /unknown key tls_config/],
    ['an unknown TLS key', { tls_server_config: { ...tls, foo: 1 } }, /unknown key tls_server_config\.foo/],
    ['cert without key', { tls_server_config: { cert_file: 'server.crt' } }, /missing key_file/],
    ['a missing cert file', { tls_server_config: { cert_file: 'nope.crt', key_file: 'server.key' } }, /cert_file .*nope\.crt: ENOENT/],
    ['cert and cert_file', { tls_server_config: { ...tls, cert: 'x' } }, /give cert or cert_file, not both/],
    ['an unknown client_auth_type', { tls_server_config: { ...tls, client_auth_type: 'Required' } }, /"Required" is not one of NoClientCert/],
    ['verification without a CA', { tls_server_config: { ...tls, client_auth_type: 'RequireAndVerifyClientCert' } }, /needs client_ca_file/],
    ['a CA without a policy', { tls_server_config: { ...tls, client_ca_file: 'ca.crt' } }, /client_auth_type is NoClientCert/],
    ['SANs without a required certificate', { tls_server_config: { ...tls, client_auth_type: 'RequestClientCert', client_allowed_sans: ['x'] } }, /client_allowed_sans needs/],
    ['an unknown TLS version', { tls_server_config: { ...tls, min_version: 'TLS1.2' } }, /unknown TLS version "TLS1\.2"/],
    ['min above max', { tls_server_config: { ...tls, min_version: 'TLS13', max_version: 'TLS12' } }, /min_version is above max_version/],
    ['an insecure cipher suite', { tls_server_config: { ...tls, cipher_suites: ['TLS_RSA_WITH_RC4_128_SHA'] } }, /unsupported cipher suite "TLS_RSA_WITH_RC4_128_SHA"/],
    ['an unknown curve', { tls_server_config: { ...tls, curve_preferences: ['P256'] } }, /unknown curve "P256"/],
    ['a plain password', { basic_auth_users: { alice: 'secret' } }, /basic_auth_users\.alice: not a bcrypt hash/],
    ['a header the toolkit does not allow', { http_server_config: { headers: { 'Access-Control-Allow-Origin': '*' } } }, /header Access-Control-Allow-Origin can not be configured/],
    ['a bad X-Frame-Options', { http_server_config: { headers: { 'X-Frame-Options': 'allow' } } }, /invalid value "allow" for X-Frame-Options/],
    ['rate_limit', { rate_limit: { interval: '1s', burst: 1 } }, /rate_limit is not supported/],
  ];
  t.test('bad files: one line naming the problem', async (t) => {
    for (const [what, doc, message] of bad) {
      const path = file(doc);
      try {
        loadWebConfig(path);
        t.fail(`${what}: accepted`);
      } catch (err) {
        t.type(err, UserError, `${what}: a UserError`);
        const text = (err as Error).message;
        t.match(text, message, `${what}: ${text}`);
        t.notMatch(text, /\n/, `${what}: one line`);
        t.match(text, path, `${what}: names the file`);
      }
    }
  });

  t.test('the CLI refuses a bad file with one line, before loading probes', { skip: existsSync(CLI) ? false : `${CLI} missing (make build)` }, async (t) => {
    const path = file({ basic_auth_users: { alice: 'secret' } });
    const r = spawnSync(process.execPath, [CLI, '--port', '0', '--web.config.file', path], {
      encoding: 'utf8',
      timeout: 90_000,
      // Not tap's loaders: the daemon starts as it does in production.
      env: { ...process.env, NODE_OPTIONS: '', NODE_V8_COVERAGE: undefined },
    });
    t.equal(r.status, 2, 'exits 2, as for any bad flag');
    const lines = r.stderr.trim().split('\n');
    t.equal(lines.length, 1, `one line: ${r.stderr.trim()}`);
    t.match(lines[0], /basic_auth_users\.alice: not a bcrypt hash/);
  });
}
