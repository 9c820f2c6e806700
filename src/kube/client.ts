// The calls the daemon makes to the Kubernetes API, over node:http(s): a
// paginated list, a watch stream (newline-delimited JSON events), and a
// create (POST) for the reviews that --auth=kubernetes asks for.
//
// Why not a generated client: the daemon lists and watches three read-only
// collections; @kubernetes/client-node's import alone costs more memory than
// the daemon's own data, and undici's about 20 MiB, where node:https, which
// the HTTP server half-loads already, costs about 3 MiB. Objects stay the
// plain JSON the API server sent (the V1* types describe it).
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Endpoint } from './endpoint.js';
import { ListItemSplitter } from './list-items.js';
import { WatchLineSplitter } from './watch-lines.js';

export type Query = Record<string, string | number | boolean | undefined>;

/** An answer other than 200 from the API server, with its Status message. */
export class KubeApiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export interface ListPage<T> {
  readonly items: T[];
  readonly resourceVersion: string;
}

/** Where a list hands its objects, one by one as the pages arrive. */
export interface ListConsumer {
  item(obj: unknown): void;
  /**
   * The list begins again: a continue token expired (410), so the objects
   * handed over so far belong to a snapshot the server no longer has; the
   * objects of the new list follow.
   */
  restart(): void;
}

export interface WatchEvent {
  readonly type: string;
  readonly object: Record<string, unknown> & { metadata?: { resourceVersion?: string } };
}

/** Objects per list page: large lists arrive, are parsed and slimmed in slices (client-go's default). */
export const LIST_PAGE_SIZE = 500;

export class KubeClient {
  constructor(readonly endpoint: Endpoint) {}

  /**
   * Every object of a collection, page by page; `each` turns a listed object
   * into what is kept (a page's full objects become garbage before the next
   * page arrives). The resourceVersion is the list's, to watch from.
   */
  async list<T>(path: string, query: Query, each: (obj: unknown) => T, signal?: AbortSignal): Promise<ListPage<T>> {
    const items: T[] = [];
    const consumer: ListConsumer = {
      item: (obj) => void items.push(each(obj)),
      restart: () => {
        items.length = 0;
      },
    };
    const resourceVersion = await this.listEach(path, query, consumer, signal);
    return { items, resourceVersion };
  }

  /**
   * Pages through a collection (LIST_PAGE_SIZE objects a page, `continue`
   * tokens between them), handing each object over as it arrives; resolves
   * with the list's resourceVersion, the one to watch from.
   *
   * A continue token lives as long as the server keeps the snapshot the
   * first page began (etcd's compaction window, about 5 minutes): when one
   * has expired (410 Expired) the list begins again from the first page,
   * and if that one expires too, lists whole — one answer cannot expire —
   * as client-go's pager falls back to a full list. The consumer is told,
   * to forget what it was handed.
   */
  async listEach(path: string, query: Query, consumer: ListConsumer, signal?: AbortSignal): Promise<string> {
    const onItem = (obj: unknown) => consumer.item(obj);
    for (let attempt = 0; ; attempt++) {
      const paged = attempt < 2;
      let resourceVersion = '';
      let next: string | undefined;
      try {
        do {
          const page = (await this.getPage(path, paged ? { ...query, limit: LIST_PAGE_SIZE, continue: next } : query, onItem, signal)) as {
            metadata?: { resourceVersion?: string; continue?: string };
          };
          // Every page carries the version of the snapshot the first one began.
          resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
          next = page.metadata?.continue || undefined;
        } while (next !== undefined);
        return resourceVersion;
      } catch (err) {
        if (next === undefined || !(err instanceof KubeApiError) || err.statusCode !== 410) throw err;
        consumer.restart();
      }
    }
  }

  /**
   * Watches until the server ends the stream (resolves) or the connection
   * fails (rejects). `signal` aborts it, which resolves.
   */
  async watch(path: string, query: Query, onEvent: (event: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    const res = await this.send(path, { ...query, watch: 1 }, signal);
    if (res === undefined) return;
    await new Promise<void>((resolve, reject) => {
      let failed = false;
      const fail = (err: Error) => {
        if (failed) return;
        failed = true;
        res.destroy();
        reject(err);
      };
      const lines = new WatchLineSplitter((line) => {
        let event: WatchEvent;
        try {
          event = JSON.parse(line) as WatchEvent;
        } catch {
          throw new Error(`malformed watch event from ${path}: ${line.slice(0, 80)}`);
        }
        onEvent(event);
      });
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (failed) return;
        try {
          lines.push(chunk);
        } catch (err) {
          fail(err as Error);
        }
      });
      res.on('end', () => {
        if (failed) return;
        try {
          lines.end();
          resolve();
        } catch (err) {
          fail(err as Error);
        }
      });
      res.on('error', (err) => (signal.aborted ? resolve() : fail(err)));
      res.on('close', () => {
        if (signal.aborted) resolve();
        else if (!res.complete) fail(new Error(`watch of ${path} closed by the server mid-stream`));
      });
    });
  }

  /**
   * POSTs an object and returns the object the server answers with (201 or
   * 200) — how TokenReview and SubjectAccessReview are asked: the review is
   * created, its status filled in, and nothing is stored.
   */
  async create<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const res = await this.send(path, {}, signal, JSON.stringify(body));
    if (res === undefined) throw new Error(`request to ${path} aborted`);
    const text = await readBody(res);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new Error(`malformed answer from ${path}: ${text.slice(0, 80)}`);
    }
  }

  /** One list page: each item parsed and handed over as it arrives (list-items.ts); resolves with the rest (metadata). */
  private async getPage(path: string, query: Query, onItem: (obj: unknown) => void, signal?: AbortSignal): Promise<unknown> {
    const res = await this.send(path, query, signal);
    if (res === undefined) throw new Error(`request to ${path} aborted`);
    return new Promise((resolve, reject) => {
      let failed = false;
      const fail = (err: Error) => {
        if (failed) return;
        failed = true;
        res.destroy();
        reject(err);
      };
      const splitter = new ListItemSplitter((json) => onItem(JSON.parse(json)));
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (failed) return;
        try {
          splitter.push(chunk);
        } catch (err) {
          fail(new Error(`malformed list from ${path}: ${(err as Error).message}`));
        }
      });
      res.on('end', () => {
        if (failed) return;
        try {
          resolve(splitter.end());
        } catch (err) {
          fail(new Error(`malformed list from ${path}: ${(err as Error).message}`));
        }
      });
      res.on('error', fail);
      res.on('close', () => {
        if (!res.complete) fail(new Error(`list of ${path} closed by the server mid-way`));
      });
    });
  }

  /** A 200 (201 for a POST) response, or a KubeApiError; undefined when aborted before an answer. */
  private async send(path: string, query: Query, signal?: AbortSignal, body?: string): Promise<IncomingMessage | undefined> {
    const { agent, headers, auth } = await this.endpoint.authorize();
    const url = new URL(this.endpoint.server + path);
    for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== '') url.searchParams.set(key, String(value));
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const method = body === undefined ? 'GET' : 'POST';
    const bodyHeaders = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) };
    return new Promise((resolve, reject) => {
      const req = request(url, { method, agent, headers: { accept: 'application/json', ...bodyHeaders, ...headers }, auth, signal }, (res) => {
        if (res.statusCode === 200 || (method === 'POST' && res.statusCode === 201)) {
          resolve(res);
          return;
        }
        readBody(res).then(
          (body) => reject(new KubeApiError(res.statusCode ?? 0, `${res.statusCode} ${statusMessage(body) || res.statusMessage || ''} (${method} ${url.pathname})`.trim())),
          reject,
        );
      });
      req.on('error', (err) => (signal?.aborted === true ? resolve(undefined) : reject(err)));
      req.end(body);
    });
  }
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

/** The message of a Status body, e.g. "Unauthorized" or "pods is forbidden: …". */
function statusMessage(body: string): string {
  try {
    const status = JSON.parse(body) as { message?: unknown; reason?: unknown };
    const parts = [status.reason, status.message].filter((p): p is string => typeof p === 'string' && p !== '');
    return [...new Set(parts)].join(': ');
  } catch {
    return body.slice(0, 120);
  }
}
