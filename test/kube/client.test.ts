// The list and watch calls against the test API server (plain HTTP, a
// kubeconfig endpoint: the protocol is what is tested here).
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeApiError, KubeClient, LIST_PAGE_SIZE, type WatchEvent } from '../../src/kube/client.js';
import { KubeconfigEndpoint } from '../../src/kube/kubeconfig.js';
import { TestKubeApiServer } from '../support/kube-api-server.js';
import { writeKubeconfig } from '../support/kubeconfig.js';
import { makePod } from '../metadata/fixtures/pods.js';
import { until } from '../support/until.js';

async function setup(t: { teardown(fn: () => unknown): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-client-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const server = new TestKubeApiServer();
  await server.start();
  t.teardown(() => server.stop());
  const client = new KubeClient(new KubeconfigEndpoint(writeKubeconfig(dir, server.url, server.token)));
  return { server, client };
}

t.test('a large list comes in pages of one snapshot; each object is mapped as its page arrives', async (t) => {
  const { server, client } = await setup(t);
  const total = 2 * LIST_PAGE_SIZE + 7;
  for (let i = 0; i < total; i++) server.addPod(makePod({ name: `p-${i}` }));
  const snapshot = server.resourceVersion;
  let mapped = 0;
  const listing = client.list('/api/v1/pods', { resourceVersion: '0' }, (o) => {
    mapped++;
    return (o as { metadata: { name: string } }).metadata.name;
  });
  const list = await listing;
  t.equal(list.items.length, total);
  t.equal(mapped, total);
  t.equal(new Set(list.items).size, total, 'no object twice');
  t.equal(list.resourceVersion, snapshot);
  const pages = server.requests.filter((r) => !r.watch);
  t.equal(pages.length, 3, 'three pages');
  t.same(pages.map((r) => r.query['limit']), [String(LIST_PAGE_SIZE), String(LIST_PAGE_SIZE), String(LIST_PAGE_SIZE)]);
  t.equal(pages[0]!.query['continue'], undefined);
  t.ok(pages[1]!.query['continue'] && pages[2]!.query['continue'], 'later pages continue');
  t.equal(server.listCount, 1, 'one list');
});

t.test('pages speak the protocol: remainingItemCount without a selector, a token can be used again, one never issued is 400', async (t) => {
  const { server, client } = await setup(t);
  for (let i = 0; i < LIST_PAGE_SIZE + 3; i++) server.addPod(makePod({ name: `p-${i}` }));
  await client.list('/api/v1/pods', {}, (o) => o);
  const first = server.requests.filter((r) => !r.watch);
  t.equal(first.length, 2);
  const token = first[1]!.query['continue']!;
  // The same token again, by hand: the same rest of the same snapshot.
  server.addPod(makePod({ name: 'later' }));
  const again = await fetch(`${server.url}/api/v1/pods?limit=${LIST_PAGE_SIZE}&continue=${token}`, { headers: { authorization: `Bearer ${server.token}` } });
  const body = (await again.json()) as { items: unknown[]; metadata: Record<string, unknown> };
  t.equal(body.items.length, 3, 'the snapshot, not the pod added since');
  t.same(body.metadata, { resourceVersion: String(Number(server.resourceVersion) - 1) }, 'the last page: no continue, no remainingItemCount');
  const head = await fetch(`${server.url}/api/v1/pods?limit=2`, { headers: { authorization: `Bearer ${server.token}` } });
  t.match(((await head.json()) as { metadata: unknown }).metadata, { continue: /./, remainingItemCount: LIST_PAGE_SIZE + 2 });
  const selected = await fetch(`${server.url}/api/v1/pods?limit=2&fieldSelector=spec.nodeName%3Dnode-a`, { headers: { authorization: `Bearer ${server.token}` } });
  t.notOk('remainingItemCount' in ((await selected.json()) as { metadata: object }).metadata, 'with a selector the count is unknown');
  const bogus = await fetch(`${server.url}/api/v1/pods?limit=2&continue=nonsense`, { headers: { authorization: `Bearer ${server.token}` } });
  t.equal(bogus.status, 400);
});

t.test('a continue token that expired between pages: the list begins again, then lists whole', async (t) => {
  const { server, client } = await setup(t);
  const total = 2 * LIST_PAGE_SIZE + 1;
  for (let i = 0; i < total; i++) server.addPod(makePod({ name: `p-${i}` }));
  // Compaction right before every continued page, twice: both paged attempts fail on their second page.
  let compactions = 0;
  server.beforeList = (request) => {
    if ((request.query['continue'] ?? '') !== '' && compactions < 2) {
      compactions++;
      server.addPod(makePod({ name: `new-${compactions}` })); // the version moves on, and the old snapshot is compacted away
      server.compact();
    }
  };
  const restarts: number[] = [];
  let handed = 0;
  const names: string[] = [];
  const resourceVersion = await client.listEach(
    '/api/v1/pods',
    {},
    {
      item: (o) => {
        handed++;
        names.push((o as { metadata: { name: string } }).metadata.name);
      },
      restart: () => {
        restarts.push(handed);
        names.length = 0;
      },
    },
  );
  t.same(restarts, [LIST_PAGE_SIZE, 2 * LIST_PAGE_SIZE], 'told twice, after the first page of each paged attempt');
  const lists = server.requests.filter((r) => !r.watch);
  t.same(
    lists.map((r) => [r.query['limit'] ?? '', (r.query['continue'] ?? '') === '' ? 'first' : 'continue']),
    [
      [String(LIST_PAGE_SIZE), 'first'],
      [String(LIST_PAGE_SIZE), 'continue'],
      [String(LIST_PAGE_SIZE), 'first'],
      [String(LIST_PAGE_SIZE), 'continue'],
      ['', 'first'],
    ],
    'paged, paged again from the start, then whole',
  );
  t.equal(names.length, total + 2, 'the last list, complete: every pod, the two added meanwhile included');
  t.equal(new Set(names).size, names.length);
  t.equal(resourceVersion, server.resourceVersion, 'the version of the list that completed');

  // Without compaction in the way, a later list is paged again.
  server.beforeList = undefined;
  const before = server.requests.length;
  const list = await client.list('/api/v1/pods', {}, (o) => o);
  t.equal(list.items.length, total + 2);
  t.equal(server.requests.length - before, 3, 'three pages');
});

t.test('a 410 on the first page is not a continue token that expired: an error', async (t) => {
  const { server, client } = await setup(t);
  server.listFailure = 410;
  let restarted = false;
  const consumer = {
    item: () => {},
    restart: () => {
      restarted = true;
    },
  };
  const err = await client.listEach('/api/v1/pods', {}, consumer).then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof KubeApiError && err.statusCode === 410, 'the 410 itself');
  t.notOk(restarted);
});

t.test('a refusal is an error with the status and its message', async (t) => {
  const { server, client } = await setup(t);
  server.listFailure = 403;
  const err = await client.list('/api/v1/pods', {}, (o) => o).then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof KubeApiError);
  t.equal((err as KubeApiError).statusCode, 403);
  t.match((err as Error).message, /^403 InternalError: injected list failure \(GET \/api\/v1\/pods\)$/);
  server.listFailure = undefined;
  await t.rejects(client.list('/api/v1/nothing', {}, (o) => o), /404 NotFound/);
});

t.test('watch: events in order, ends when the server ends it, aborts quietly', async (t) => {
  const { server, client } = await setup(t);
  const from = server.resourceVersion;
  const events: WatchEvent[] = [];
  const controller = new AbortController();
  const first = client.watch('/api/v1/pods', { resourceVersion: from, allowWatchBookmarks: true }, (e) => events.push(e), controller.signal);
  await until('watch open', () => server.openWatchCount === 1);
  server.addPod(makePod({ name: 'a' }));
  server.deletePod('default', 'a');
  server.bookmark();
  await until('three events', () => events.length === 3);
  t.same(events.map((e) => e.type), ['ADDED', 'DELETED', 'BOOKMARK']);
  t.equal(events[2]!.object.metadata?.resourceVersion, server.resourceVersion);
  server.endWatches();
  await first;
  t.pass('the server ended the watch: resolved');

  const second = client.watch('/api/v1/pods', { resourceVersion: server.resourceVersion }, () => {}, controller.signal);
  await until('watch open', () => server.openWatchCount === 1);
  controller.abort();
  await second;
  t.pass('aborted: resolved');
  await until('closed on the server', () => server.openWatchCount === 0);

  const third = client.watch('/api/v1/pods', { resourceVersion: server.resourceVersion }, () => {}, new AbortController().signal);
  await until('watch open', () => server.openWatchCount === 1);
  await server.stop();
  await t.rejects(third, /closed|aborted|ECONNRESET|socket hang up/i, 'a connection cut mid-stream is a failure');
});
