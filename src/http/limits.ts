// Limits that keep a hostile or broken client from starving Prometheus: a
// client that trickles its headers (slowloris), holds connections open doing
// nothing, or sends oversized headers is cut off, and the number of open
// connections is capped so file descriptors cannot run out.

import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Server as TlsServer } from 'node:tls';

export interface ServerLimits {
  /** Open connections at most; beyond, new ones are closed at once. */
  maxConnections: number;
  /** The request line and headers must arrive within this (slowloris). */
  headersTimeoutMs: number;
  /** The whole request must arrive within this. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** A TLS handshake must finish within this. */
  handshakeTimeoutMs: number;
  /** Total bytes of the request line and headers. */
  maxHeaderBytes: number;
  /** Header fields per request. */
  maxHeaderCount: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxConnections: 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 65_000,
  handshakeTimeoutMs: 10_000,
  maxHeaderBytes: 16 * 1024,
  maxHeaderCount: 100,
};

/** Options that only take effect when passed to createServer. */
export function creationOptions(limits: ServerLimits): { maxHeaderSize: number; handshakeTimeout: number; connectionsCheckingInterval: number } {
  return {
    maxHeaderSize: limits.maxHeaderBytes,
    handshakeTimeout: limits.handshakeTimeoutMs,
    // How often Node looks for requests past headersTimeout/requestTimeout;
    // the default (30 s) would let a slowloris client linger that long.
    connectionsCheckingInterval: Math.max(250, Math.min(1000, limits.headersTimeoutMs / 4)),
  };
}

// Node's headersTimeout only starts with a request's first byte, so a client
// that connects and says nothing would hold its connection (and a slot under
// maxConnections) forever. Such a connection gets headersTimeout to start its
// first request (plus a grace second, so a slow client whose request has begun
// gets Node's 408 first); later idleness is keepAliveTimeout's job.
function closeSilentConnections(server: Server | TlsServer, timeoutMs: number): void {
  const timers = new WeakMap<Socket, NodeJS.Timeout>();
  const arm = (socket: Socket): void => {
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    timer.unref();
    timers.set(socket, timer);
    socket.once('close', () => clearTimeout(timer));
  };
  // For TLS, the handshake has its own timeout; the clock starts after it.
  if ('setSecureContext' in server) server.on('secureConnection', arm);
  else server.on('connection', arm);
  server.on('request', (req: IncomingMessage) => {
    clearTimeout(timers.get(req.socket));
    timers.delete(req.socket);
  });
}

export function applyLimits(server: Server | TlsServer, limits: ServerLimits): void {
  closeSilentConnections(server, limits.headersTimeoutMs + creationOptions(limits).connectionsCheckingInterval + 1000);
  server.maxConnections = limits.maxConnections;
  const http = server as Server;
  http.headersTimeout = limits.headersTimeoutMs;
  http.requestTimeout = limits.requestTimeoutMs;
  // Prometheus keeps its scrape connection alive between scrapes (every 15–60 s);
  // closing it sooner would cost a TCP (and TLS) handshake per scrape.
  http.keepAliveTimeout = limits.keepAliveTimeoutMs;
  http.maxHeadersCount = limits.maxHeaderCount;
}
