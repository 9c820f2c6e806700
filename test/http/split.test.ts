// --web.api-listen-address: the main listener answers /metrics and health
// only, the API listener /api/v1, the page and health — over real sockets,
// behind the same basic auth, with health open on both.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import t from 'tap';
import { parseConfig } from '../../src/config.js';
import { DEFAULT_LIMITS } from '../../src/http/limits.js';
import { HttpServer } from '../../src/http/server.js';
import { API_PATHS, METRICS_PATHS, type PathFilter } from '../../src/http/split.js';
import { WebEndpoint } from '../../src/http/web-endpoint.js';
import { SILENT_LOGGER } from '../../src/log.js';
import { createRegistry } from '../../src/metrics/registry.js';

t.test('each listener answers only its paths, behind the same auth', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-split-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'web.yml');
  writeFileSync(file, `basic_auth_users:\n  ops: "${bcrypt.hashSync('pw', 4)}"\n`);
  const registry = createRegistry();
  const start = async (paths: PathFilter): Promise<string> => {
    const server = new HttpServer({
      registry,
      readiness: () => ({ ready: true, reasons: [] }),
      log: SILENT_LOGGER,
      endpoint: new WebEndpoint(file, SILENT_LOGGER, DEFAULT_LIMITS),
      paths,
    });
    server.route('/api/v1/flows', () => ({ flows: [] }));
    t.teardown(() => server.close());
    return `http://127.0.0.1:${await server.listen(0, '127.0.0.1')}`;
  };
  const main = await start(METRICS_PATHS);
  const api = await start(API_PATHS);
  const auth = { authorization: `Basic ${Buffer.from('ops:pw').toString('base64')}` };
  const status = async (url: string, withAuth = true): Promise<number> => (await fetch(url, { headers: withAuth ? auth : {} })).status;

  t.equal(await status(`${main}/metrics`), 200, 'main: /metrics');
  t.equal(await status(`${main}/api/v1/flows`), 404, 'main: no /api/v1');
  t.equal(await status(`${main}/`), 404, 'main: no page');
  t.equal(await status(`${api}/api/v1/flows`), 200, 'api: /api/v1');
  t.equal(await status(`${api}/`), 200, 'api: the page');
  t.equal(await status(`${api}/metrics`), 404, 'api: no /metrics');
  t.equal(await status(`${api}/api/v1/flows`, false), 401, 'api: credentials needed');
  for (const base of [main, api]) {
    t.equal(await status(`${base}/healthz`, false), 200, `${base}: /healthz open`);
    t.equal(await status(`${base}/readyz`, false), 200, `${base}: /readyz open`);
  }
});

t.test('--web.api-listen-address is host:port', async (t) => {
  const parse = (v: string) => parseConfig(['--web.api-listen-address', v], {}).config.webApiListen;
  t.same(parse('127.0.0.1:9091'), { host: '127.0.0.1', port: 9091 });
  t.same(parse(':9091'), { host: '0.0.0.0', port: 9091 });
  t.same(parse('[::1]:9091'), { host: '::1', port: 9091 });
  t.equal(parseConfig([], {}).config.webApiListen, undefined, 'unset: one listener');
  t.throws(() => parse('9091'), /not host:port/);
  t.throws(() => parse('host:99999'), /outside 0\.\.65535/);
});
