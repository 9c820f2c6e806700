// The topology page's files (dist/page, written by `make build`, shipped in
// the npm package), read once at start and served from memory: `/` is the
// page, `/ui/<name>.<hash>.js|css` its content-hashed assets. Assets never
// change under their name, so browsers keep them a year; the page itself is
// revalidated with its ETag on every load (304 when unchanged).

import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.map': 'application/json',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
  cacheControl: string;
}

export const PAGE_PREFIX = '/ui/';

export class PageAssets {
  private readonly files = new Map<string, Asset>();

  /** dir: dist/page. A missing directory gives no page (the daemon still serves everything else). */
  constructor(dir: string) {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      const type = TYPES[extname(name)];
      if (!type) continue;
      const body = readFileSync(join(dir, name));
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
      const page = name === 'index.html';
      this.files.set(page ? '/' : PAGE_PREFIX + name, {
        body,
        type,
        etag,
        cacheControl: page ? 'no-cache' : 'public, max-age=31536000, immutable',
      });
    }
  }

  get available(): boolean {
    return this.files.has('/');
  }

  /** Answers GET/HEAD for `/` and /ui/*; false when the path is not one of the page's. */
  serve(req: IncomingMessage, res: ServerResponse, pathname: string): boolean {
    const asset = this.files.get(pathname);
    if (!asset) {
      if (!pathname.startsWith(PAGE_PREFIX)) return false;
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return true;
    }
    const headers = {
      'content-type': asset.type,
      etag: asset.etag,
      'cache-control': asset.cacheControl,
      'x-content-type-options': 'nosniff',
    };
    if (req.headers['if-none-match']?.split(/\s*,\s*/).includes(asset.etag)) {
      res.writeHead(304, headers).end();
      return true;
    }
    res.writeHead(200, { ...headers, 'content-length': asset.body.length });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
    return true;
  }
}
