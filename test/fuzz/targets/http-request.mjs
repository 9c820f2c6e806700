// The HTTP face (src/http/server.ts) on requests anyone who reaches the
// port can send: the request line (method, path, query) and headers, over a
// real socket to a real server.
// Invariant: every request gets an answer (or Node's own 400 for what its
// parser refuses) and never a 500: a request is not an internal error, and
// must not write an error log line; the server keeps answering.

import { connect } from 'node:net';
import { Registry } from 'prom-client';

export default {
  sources: ['src/http/server.js'],
  maxLength: 1024,
  dictionary: ['GET ', 'HEAD ', 'POST ', ' HTTP/1.1\r\n', 'Host: x\r\n', '\r\n\r\n', '/metrics', '/healthz', '/readyz', '/api/v1/flows', '/api/v1/syscalls', '?', '&', '=', '%', '%zz', '//', 'http://', '[', ']', '@', '#', 'Content-Length: 5\r\n', 'Transfer-Encoding: chunked\r\n'],
  async setup(load) {
    const { HttpServer } = await load('src/http/server.js');
    const errors = [];
    const log = { error: (msg, fields) => errors.push(`${msg} ${JSON.stringify(fields)}`), warn() {}, info() {}, debug() {} };
    const registry = new Registry();
    const server = new HttpServer({ registry, readiness: () => ({ ready: true, reasons: [] }), log });
    server.route('/api/v1/flows', (url) => ({ flows: [], query: Object.fromEntries(url.searchParams) }));
    const port = await server.listen(0, '127.0.0.1');
    const send = (bytes) =>
      new Promise((resolve, reject) => {
        const chunks = [];
        const socket = connect(port, '127.0.0.1', () => socket.end(bytes));
        socket.setTimeout(2000, () => reject(new Error(`no answer in 2 s to ${JSON.stringify(bytes.toString('latin1').slice(0, 200))}`)));
        socket.on('data', (c) => chunks.push(c));
        socket.on('error', () => resolve(Buffer.concat(chunks)));
        socket.on('close', () => resolve(Buffer.concat(chunks)));
      });
    return async (data) => {
      // Most inputs are shaped as a request so the fuzzer spends its time past Node's own parser.
      const text = data.toString('latin1');
      const request = /^[A-Z]+ /.test(text) ? data : Buffer.from(`GET ${text.split(/[\r\n ]/)[0] || '/'} HTTP/1.1\r\nHost: x\r\n\r\n`, 'latin1');
      const answer = (await send(request)).toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1];
      if (status === '500' || errors.length > 0) throw new Error(`${status}, log: ${errors.splice(0).join('; ').replace(/"path":"[^"]*"/g, 'path')}\nrequest: ${JSON.stringify(request.toString('latin1').slice(0, 200))}`);
    };
  },
};
