// `kubepulse ui` serves the agent's page (dist/page) beside its own
// /api/v1/topology, with the same content types and caching.
import t from 'tap';
import { SILENT_LOGGER } from '../../src/log.js';
import { ClusterUi } from '../../src/ui/cluster-server.js';

t.test('the page at / and its assets under /ui/', async (t) => {
  const ui = new ClusterUi({ prometheus: 'http://127.0.0.1:9', agents: async () => [], defaultRange: '15m', slowConnectSeconds: 0.5, timeoutMs: 1000, log: SILENT_LOGGER });
  t.teardown(() => ui.close());
  const base = `http://127.0.0.1:${await ui.listen(0, '127.0.0.1')}`;
  const page = await fetch(`${base}/`);
  t.equal(page.status, 200);
  t.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
  const html = await page.text();
  const script = /src="ui\/(app\.[A-Z0-9]+\.js)"/.exec(html)?.[1];
  t.ok(script, 'the built page (make build), naming its script');
  const js = await fetch(`${base}/ui/${script}`);
  t.equal(js.status, 200);
  t.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
});
