// GET /api/v1/events over a real HTTP connection, without the kernel: a long
// history replayed at the client's pace and in order, live events after the
// `live` marker with none lost in between, and close() (SIGTERM) during a
// replay ending the stream cleanly.
import t, { type Test } from 'tap';
import { createServer } from 'node:http';
import { createLogger } from '../../src/log.js';
import { EventHub } from '../../src/stream/hub.js';
import { tcpRec } from '../support/stream-records.js';
import { EventsRoute } from '../../src/stream/sse.js';

const id = { namespace: 'shop', pod: 'web-1', workload: 'web', container: 'app', podUid: 'u' };

async function setup(t: Test, historySize: number) {
  const hub = new EventHub({ node: 'n1', historySize, queueSize: 1000 });
  const route = new EventsRoute(hub, { maxStreams: 4, heartbeatMs: 60_000, log: createLogger('error') });
  const server = createServer((req, res) => route.handle(req, res, new URL(req.url ?? '/', 'http://x')));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => {
    route.close();
    server.closeAllConnections();
    server.close(() => r());
  }));
  return { hub, route, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/api/v1/events` };
}

/** Reads the stream, calling onChunk as text arrives; resolves with all of it at the end. */
async function read(url: string, onChunk: (text: string) => void = () => {}): Promise<string> {
  const res = await fetch(url);
  const reader = res.body!.getReader();
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return text;
    const chunk = new TextDecoder().decode(value);
    text += chunk;
    onChunk(text);
  }
}

const seqs = (text: string) => [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));

t.test('a long history: all of it, in order, then the end', async (t) => {
  const { hub, url } = await setup(t, 50_000);
  for (let i = 0; i < 50_000; i++) hub.publish(tcpRec(1_000_000 + i, id, 'established', 0.001, 80));
  const text = await read(`${url}?last=50000`);
  const ids = seqs(text);
  t.equal(ids.length, 50_000, 'every event of the history');
  t.ok(ids.every((v, i) => v === i + 1), 'in order');
  t.match(text, /event: end\ndata: \{"reason":"history","events":50000\}\n\n$/);
});

t.test('history then live: nothing lost between them', async (t) => {
  const { hub, route, url } = await setup(t, 20_000);
  for (let i = 0; i < 20_000; i++) hub.publish(tcpRec(Date.now(), id, 'established', 0.001, 80));
  let published = false;
  let closing = false;
  const text = await read(`${url}?since=1h&follow=true`, (sofar) => {
    if (!published && sofar.length > 100_000) {
      // The replay is still going out: live events arrive meanwhile.
      published = true;
      for (let i = 0; i < 500; i++) hub.publish(tcpRec(Date.now(), id, 'refused', 0.001, 81));
      setTimeout(() => hub.publish(tcpRec(Date.now(), id, 'reset', 1, 82)), 50);
    }
    if (!closing && sofar.includes('"result":"reset"')) {
      closing = true;
      route.close(); // as on SIGTERM
    }
  });
  const ids = seqs(text);
  t.equal(ids.length, 20_501, 'the history, the 500 that came during it, and the one after');
  t.ok(ids.every((v, i) => v === i + 1), 'in order, none lost or repeated');
  const live = text.indexOf('event: live');
  t.ok(live > text.indexOf('id: 20000\n') && live < text.indexOf('id: 20001\n'), 'the live marker between the history and the live events');
  t.match(text, /event: end\ndata: \{"reason":"agent stopping"\}\n\n$/, 'ended by close()');
  t.equal(hub.subscriberCount, 0);
});

t.test('close() while a history is being replayed', async (t) => {
  const { hub, route, url } = await setup(t, 50_000);
  for (let i = 0; i < 50_000; i++) hub.publish(tcpRec(Date.now(), id, 'established', 0.001, 80));
  let closed = false;
  const text = await read(`${url}?last=50000&follow=true`, (sofar) => {
    if (!closed && sofar.length > 50_000) {
      closed = true;
      route.close();
    }
  });
  t.ok(seqs(text).length < 50_000, 'cut short');
  t.match(text, /event: end\ndata: \{"reason":"agent stopping"\}\n\n$/, 'with the reason, and no write after the end');
  t.equal(route.streams, 0);
});
