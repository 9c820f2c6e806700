// The daemon's HTTP face: /metrics for Prometheus, /healthz and /readyz for
// the kubelet, and JSON routes other parts register (e.g. /api/v1/flows).

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { UserError } from '../errors.js';
import type { Logger } from '../log.js';
import { scrapePage } from '../metrics/scrape-body.js';
import { DEFAULT_LIMITS } from './limits.js';
import type { PageAssets } from './page-assets.js';
import type { PathFilter } from './split.js';
import { WebEndpoint } from './web-endpoint.js';

/** reasons: why not ready; notes: what is degraded without gating readiness. */
export type Readiness = () => { ready: boolean; reasons: string[]; notes?: string[] };
export type JsonRoute = (url: URL) => unknown | Promise<unknown>;
/** A route's answer other than 200: 502 when what the route reads from is down, … */
export class RouteError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** A route that writes its own response (a long-lived stream). */
export type RawRoute = (req: IncomingMessage, res: ServerResponse, url: URL) => void;

export interface HttpServerOptions {
  registry: Registry;
  readiness: Readiness;
  log: Logger;
  /** Extra health condition (e.g. the event poller is alive); undefined = healthy. */
  unhealthy?: () => string | undefined;
  /** TLS, basic auth and limits (--web.config.file); default: plain HTTP, default limits. */
  endpoint?: WebEndpoint;
  /** Paths this listener answers (others 404); default all (see split.ts). */
  paths?: PathFilter;
  /** The topology page at / and /ui/*; without it (or unbuilt) / is the plain index of links. */
  page?: PageAssets;
}

export class HttpServer {
  private readonly server: Server;
  private readonly routes = new Map<string, JsonRoute>();
  private readonly postRoutes = new Map<string, JsonRoute>();
  private readonly rawRoutes = new Map<string, RawRoute>();
  private readonly endpoint: WebEndpoint;

  constructor(private readonly options: HttpServerOptions) {
    this.endpoint = options.endpoint ?? new WebEndpoint(undefined, options.log, DEFAULT_LIMITS);
    this.server = this.endpoint.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        options.log.error('request failed', { path: req.url, error: String(err) });
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
      });
    });
  }

  route(path: string, handler: JsonRoute): void {
    this.routes.set(path, handler);
  }

  /** A JSON route that changes something: answers POST only. */
  postRoute(path: string, handler: JsonRoute): void {
    this.postRoutes.set(path, handler);
  }

  /** A route that writes its own response (a long-lived stream). */
  rawRoute(path: string, handler: RawRoute): void {
    this.rawRoutes.set(path, handler);
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        if (err.code === 'EADDRINUSE') reject(new UserError(`port ${port} on ${host} is already in use (choose another with --port)`));
        else if (err.code === 'EACCES') reject(new UserError(`may not listen on port ${port} (ports below 1024 need CAP_NET_BIND_SERVICE)`));
        else if (err.code === 'EADDRNOTAVAIL') reject(new UserError(`cannot listen on ${host}: no such local address (--listen-address)`));
        else reject(err);
      };
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        const address = this.server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : port);
      });
    });
  }

  close(): Promise<void> {
    this.endpoint.close();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      // `//?x` reads as a URL with an empty host: the client's mistake, not
      // a 500 with an error log line per request (found by fuzzing).
      res.writeHead(400, { 'content-type': 'text/plain' }).end('bad request target\n');
      return;
    }
    if (!(await this.endpoint.admit(req, res, url.pathname))) return;
    if (this.options.paths && !this.options.paths(url.pathname)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    // Nothing here takes a body. Refuse one before it is read, and close the
    // connection so the client stops sending (Node would read it to the end).
    if (Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined) {
      res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' }).end('request bodies are not accepted\n');
      req.socket.destroySoon();
      return;
    }
    const post = this.postRoutes.get(url.pathname);
    if (post && req.method === 'POST') {
      let body: string;
      try {
        body = JSON.stringify(await post(url));
      } catch (err) {
        if (!(err instanceof UserError)) throw err;
        res.writeHead(400, { 'content-type': 'text/plain' }).end(`${err.message}\n`);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    switch (url.pathname) {
      case '/metrics': {
        // Sent as Buffers, not as text: Node would prepend the headers to a
        // string body (a second copy of megabytes), and the socket holds what
        // the scraper has not read yet -- strings held that long end in V8's
        // old generation (at 14k series, ~40 % of the daemon's old-space
        // garbage in the soak's heap profile). The page is written into a
        // reused scratch of bytes (scrape-body.ts) and sent from there: the
        // scratch is reused only once the response has finished.
        const page = await scrapePage(this.options.registry);
        res.once('finish', page.release);
        res.writeHead(200, { 'content-type': this.options.registry.contentType, 'content-length': page.length });
        res.cork();
        for (const chunk of page.chunks) res.write(chunk);
        res.end();
        res.uncork();
        return;
      }
      case '/healthz': {
        const problem = this.options.unhealthy?.();
        res.writeHead(problem ? 503 : 200, { 'content-type': 'text/plain' }).end(problem ? `${problem}\n` : 'ok\n');
        return;
      }
      case '/readyz': {
        const { ready, reasons, notes = [] } = this.options.readiness();
        const body = ready ? 'ready' : `not ready: ${reasons.join('; ')}`;
        res
          .writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' })
          .end(notes.length > 0 ? `${body}; ${notes.join('; ')}\n` : `${body}\n`);
        return;
      }
      case '/':
        if (this.options.page?.available && this.options.page.serve(req, res, '/')) return;
        res
          .writeHead(200, { 'content-type': 'text/html' })
          .end('<html><body><h1>KubePulse</h1><p><a href="/metrics">/metrics</a> <a href="/healthz">/healthz</a> <a href="/readyz">/readyz</a></p></body></html>\n');
        return;
    }
    if (this.options.page?.serve(req, res, url.pathname)) return;
    const raw = this.rawRoutes.get(url.pathname);
    if (raw) {
      raw(req, res, url);
      return;
    }
    const route = this.routes.get(url.pathname);
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    let body: string;
    try {
      body = JSON.stringify(await route(url));
    } catch (err) {
      // A bad query parameter is the client's (400); a RouteError says whose it is.
      if (err instanceof RouteError) res.writeHead(err.status, { 'content-type': 'text/plain' }).end(`${err.message}\n`);
      else if (err instanceof UserError) res.writeHead(400, { 'content-type': 'text/plain' }).end(`${err.message}\n`);
      else throw err;
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  }
}
