// Reads an agent's /api/v1/events (Server-Sent Events) and hands each message
// to the caller: events as their JSON text and parsed object, `dropped`
// notices, and the `end` reason. Failures become one line naming the agent.

import { request } from 'undici';
import { describeError } from '../policy/sources.js';

export interface StreamEventMessage {
  agent: string;
  /** The JSON as the agent sent it (passed through by -o json). */
  raw: string;
  event: Record<string, unknown>;
}

export interface StreamHandlers {
  onEvent(e: StreamEventMessage): void;
  onDropped(agent: string, missed: number): void;
  /** The replayed history is over; live events follow. */
  onLive(agent: string): void;
  /** The agent closed the stream (history replayed, or the agent stopping). */
  onEnd(agent: string, reason: string): void;
}

export class AgentStreamError extends Error {
  constructor(
    readonly agent: string,
    readonly reason: string,
    /** HTTP 400: the filter is wrong, every agent would say so. */
    readonly badRequest = false,
  ) {
    super(`agent ${agent}: ${reason}`);
  }
}

/** Streams until the agent ends it or `signal` aborts; rejects with AgentStreamError. */
export async function readEvents(agent: string, query: URLSearchParams, h: StreamHandlers, opts: { connectTimeoutMs: number; idleTimeoutMs: number; signal?: AbortSignal }): Promise<void> {
  const url = `${agent}/api/v1/events?${query.toString()}`;
  let res;
  try {
    res = await request(url, {
      headers: { accept: 'text/event-stream' },
      headersTimeout: opts.connectTimeoutMs,
      bodyTimeout: opts.idleTimeoutMs,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  } catch (err) {
    if (opts.signal?.aborted) return;
    throw new AgentStreamError(agent, describeError(err, opts.connectTimeoutMs));
  }
  if (res.statusCode !== 200) {
    const body = (await res.body.text().catch(() => '')).trim().split('\n')[0] ?? '';
    throw new AgentStreamError(agent, `HTTP ${res.statusCode}${body ? `: ${body.slice(0, 200)}` : ''}`, res.statusCode === 400);
  }
  if (!String(res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
    await res.body.dump().catch(() => undefined); // destroy() would emit an unhandled error
    throw new AgentStreamError(agent, `not an event stream (content-type ${String(res.headers['content-type'])}): is this a KubePulse agent?`);
  }
  let pending = '';
  let ended = false;
  try {
    for await (const chunk of res.body) {
      pending += (chunk as Buffer).toString('utf8');
      let end: number;
      while ((end = pending.indexOf('\n\n')) >= 0) {
        const message = pending.slice(0, end);
        pending = pending.slice(end + 2);
        let kind = 'message';
        let data = '';
        for (const line of message.split('\n')) {
          if (line.startsWith('event: ')) kind = line.slice(7);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (data === '') continue; // a comment (heartbeat) or an id alone
        let parsed: Record<string, unknown>;
        try {
          parsed = JSON.parse(data) as Record<string, unknown>;
        } catch {
          throw new AgentStreamError(agent, `garbled event: ${data.slice(0, 80)}`);
        }
        if (kind === 'dropped') h.onDropped(agent, Number(parsed.missed));
        else if (kind === 'live') h.onLive(agent);
        else if (kind === 'end') {
          ended = true;
          h.onEnd(agent, String(parsed.reason));
        } else h.onEvent({ agent, raw: data, event: parsed });
      }
    }
  } catch (err) {
    if (err instanceof AgentStreamError) throw err;
    if (opts.signal?.aborted) return;
    throw new AgentStreamError(agent, `stream lost: ${describeError(err, opts.idleTimeoutMs)}`);
  }
  if (!ended && !opts.signal?.aborted) throw new AgentStreamError(agent, 'stream closed without an end');
}
