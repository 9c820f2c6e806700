// GET /api/v1/events as Server-Sent Events.
//
// Why SSE and not WebSocket: the stream flows one way (agent → client);
// SSE is plain HTTP, so it needs no dependency on node:http, works with
// curl, fetch and kubectl port-forward, and a bad filter is an ordinary
// 400 with a body. Each event is one `data:` line of JSON (`id:` is its
// sequence number on this agent); `event: dropped` says how many events a
// slow client missed; `: heartbeat` comments keep idle streams alive through
// proxies; `event: live` marks the end of the replayed history in a
// followed stream; `event: end` says why the agent closed the stream (history
// replayed without follow, or the agent stopping).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import { FilterError, parseStreamQuery } from './filter.js';
import type { EventHub, Subscriber } from './hub.js';
import { recordJson, type StreamRecord } from './record.js';
import { ScratchBytes } from './scratch-bytes.js';

/**
 * Bytes a stream may have written but not yet sent. One ring-buffer batch
 * (100 ms of events) must fit, or a client that keeps up would lose events;
 * with --api.max-streams 16 it bounds what stuck clients hold to 16 MiB.
 */
const SINK_BYTES = 1 << 20;

export interface EventsRouteOptions {
  /** Concurrent streams; beyond, 429. */
  maxStreams: number;
  /** An idle stream gets a comment this often. */
  heartbeatMs: number;
  log: Logger;
}

interface OpenStream {
  res: ServerResponse;
  sub: Subscriber | undefined;
}

export class EventsRoute {
  private readonly open = new Set<OpenStream>();
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly hub: EventHub,
    private readonly options: EventsRouteOptions,
  ) {
    this.heartbeat = setInterval(() => this.beat(), Math.max(50, Math.floor(options.heartbeatMs / 2)));
    this.heartbeat.unref();
  }

  get streams(): number {
    return this.open.size;
  }

  handle(req: IncomingMessage, res: ServerResponse, url: URL): void {
    let query;
    try {
      query = parseStreamQuery(url.searchParams);
    } catch (err) {
      if (!(err instanceof FilterError)) throw err;
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`bad filter: ${err.message}\n`);
      return;
    }
    if (this.open.size >= this.options.maxStreams) {
      res.writeHead(429, { 'content-type': 'text/plain' }).end(`too many streams: ${this.open.size} open, at most ${this.options.maxStreams} (--api.max-streams)\n`);
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
    });
    const stream: OpenStream = { res, sub: undefined };
    this.open.add(stream);
    const node = this.hub.node;
    const hub = this.hub;
    res.write(`: kubepulse events from ${node}\n\n`);
    // The history is taken and the subscription made in the same tick, so
    // nothing falls between them. Live events wait in the subscriber's
    // (bounded) queue while the history is written.
    const history = hub.history(query);
    let replaying = true;
    const sub = query.follow
      ? hub.subscribe(query, {
          write: (records, missed) => void (res.writableEnded || res.write(serialise(records, missed, node, sub?.droppedTotal))),
          get full() {
            return replaying || res.writableLength >= SINK_BYTES;
          },
        })
      : undefined;
    stream.sub = sub;
    let closed = false;
    const done = (): void => {
      closed = true;
      if (!this.open.delete(stream)) return;
      if (sub) {
        hub.unsubscribe(sub);
        this.options.log.debug('stream closed', { delivered: sub.delivered, dropped: sub.droppedTotal });
      }
    };
    res.on('close', done);
    req.on('close', done);
    if (sub) res.on('drain', () => hub.flush(sub));
    void (async () => {
      // A long history goes out at the client's pace, never all into memory at once.
      const over = () => closed || res.writableEnded; // the client left, or the agent is stopping
      for (let i = 0; i < history.length && !over(); i += 512) {
        res.write(serialise(history.slice(i, i + 512), 0, node));
        if (res.writableLength >= SINK_BYTES) await new Promise((r) => (res.once('drain', r), res.once('close', r)));
      }
      if (over()) return;
      if (!sub) {
        this.open.delete(stream);
        res.end(`event: end\ndata: {"reason":"history","events":${history.length}}\n\n`);
        return;
      }
      // Tells the client where the replay ends and live events begin.
      res.write(`event: live\ndata: {"history":${history.length}}\n\n`);
      replaying = false;
      hub.flush(sub);
    })();
  }

  /** Ends every stream with a reason (SIGTERM), so clients know it was not a network fault. */
  close(reason = 'agent stopping'): void {
    clearInterval(this.heartbeat);
    for (const s of [...this.open]) {
      this.open.delete(s);
      if (s.sub) this.hub.unsubscribe(s.sub);
      s.res.end(`event: end\ndata: ${JSON.stringify({ reason })}\n\n`);
    }
  }

  private beat(): void {
    const now = Date.now();
    for (const s of this.open) {
      if (!s.sub || s.res.writableLength > 0 || now - s.sub.lastWriteMs < this.options.heartbeatMs) continue;
      s.sub.lastWriteMs = now;
      s.res.write(': heartbeat\n\n');
    }
  }
}

/** One scratch for every stream: a batch is serialised and taken before the next one begins. */
const scratch = new ScratchBytes();

function serialise(records: readonly StreamRecord[], missed: number, node: string, droppedTotal: number | undefined = 0): Buffer {
  if (missed > 0) scratch.append(`event: dropped\ndata: {"missed":${missed},"dropped_total":${droppedTotal}}\n\n`);
  for (const r of records) scratch.append((r.wire ??= `id: ${r.seq}\ndata: ${JSON.stringify(recordJson(r, node))}\n\n`));
  return scratch.take();
}
