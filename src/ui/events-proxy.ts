// GET /api/v1/events for `kubepulse ui --discover`: the agents' live streams,
// merged, with the client's filters passed to every agent (evaluated there,
// before anything crosses the network). Each client gets streams of its own,
// closed when it goes away; an agent that fails is a comment line on the
// stream and the others go on.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { AgentStreamError, readEvents } from '../cli/sse-client.js';
import { FilterError, parseStreamQuery } from '../stream/filter.js';

export interface EventsProxyOptions {
  /** The agents' base URLs, found when the request comes (so a new agent joins). */
  agents(): Promise<string[]>;
  connectTimeoutMs: number;
  /** Cap on concurrent proxied clients. */
  maxStreams: number;
}

export class EventsProxy {
  private readonly open = new Set<AbortController>();

  constructor(private readonly o: EventsProxyOptions) {}

  get streams(): number {
    return this.open.size;
  }

  handle = (req: IncomingMessage, res: ServerResponse, url: URL): void => {
    try {
      parseStreamQuery(url.searchParams);
    } catch (err) {
      if (!(err instanceof FilterError)) throw err;
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`bad filter: ${err.message}\n`);
      return;
    }
    if (this.open.size >= this.o.maxStreams) {
      res.writeHead(429, { 'content-type': 'text/plain' }).end(`too many streams: ${this.open.size} open, at most ${this.o.maxStreams}\n`);
      return;
    }
    const abort = new AbortController();
    this.open.add(abort);
    req.socket.once('close', () => abort.abort());
    void this.serve(res, url.searchParams, abort).finally(() => this.open.delete(abort));
  };

  close(): void {
    for (const a of this.open) a.abort();
  }

  private async serve(res: ServerResponse, query: URLSearchParams, abort: AbortController): Promise<void> {
    let agents: string[];
    try {
      agents = await this.o.agents();
    } catch (err) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end(`no agents: ${(err as Error).message}\n`);
      return;
    }
    if (agents.length === 0) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no agents: start kubepulse ui with --discover or --agent URL\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    res.write(`: kubepulse events from ${agents.length} agent(s)\n\n`);
    const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), 15_000);
    const live = new Set<string>();
    let failed = 0;
    await Promise.all(
      agents.map(async (agent) => {
        try {
          await readEvents(
            agent,
            query,
            {
              onEvent: (m) => void res.write(`data: ${m.raw}\n\n`),
              onDropped: (_a, missed) => void res.write(`event: dropped\ndata: ${JSON.stringify({ missed, agent })}\n\n`),
              onLive: (a) => {
                live.add(a);
                if (live.size + failed === agents.length) res.write(`event: live\ndata: {"agents":${live.size}}\n\n`);
              },
              onEnd: () => undefined,
            },
            { connectTimeoutMs: this.o.connectTimeoutMs, idleTimeoutMs: 60_000, signal: abort.signal },
          );
        } catch (err) {
          if (!(err instanceof AgentStreamError)) throw err;
          failed++;
          res.write(`: ${err.message.replace(/\n/g, ' ')}\n\n`);
          if (!live.has(agent) && live.size > 0 && live.size + failed === agents.length) res.write(`event: live\ndata: {"agents":${live.size}}\n\n`);
        }
      }),
    );
    clearInterval(heartbeat);
    if (!res.writableEnded) res.end(`event: end\ndata: ${JSON.stringify({ reason: abort.signal.aborted ? 'closed' : 'agents ended', failed })}\n\n`);
  }
}
