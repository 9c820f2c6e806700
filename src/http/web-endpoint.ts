// The listener the HTTP routes sit behind: plain HTTP, or TLS (with client
// certificates) and basic auth from an exporter-toolkit web config file, which
// is reloaded when it (or a certificate it names) changes. A bad file at start
// is a one-line error; a bad file on reload is one logged line and the old
// settings stay, so a half-written Secret never locks Prometheus out.
// With --auth=kubernetes, bearer tokens are checked by the API server instead
// of basic auth (kube-auth.ts); both use the Authorization header, so a file
// with basic_auth_users is refused then.

import { watch, type FSWatcher } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { dirname } from 'node:path';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import { UserError } from '../errors.js';
import type { Logger } from '../log.js';
import { BasicAuth } from './basic-auth.js';
import { verbOf, type KubeAuth } from './kube-auth.js';
import { applyLimits, creationOptions, type ServerLimits } from './limits.js';
import { loadWebConfig, type TlsServerSettings, type WebConfig } from './web-config.js';

/** Paths the kubelet probes; they answer without credentials, as the kubelet has none. */
const UNAUTHENTICATED_PATHS = new Set(['/healthz', '/readyz']);
const RELOAD_SETTLE_MS = 100;

const NO_CONFIG: WebConfig = { tls: undefined, basicAuthUsers: new Map(), headers: {}, files: [] };

function secureContextOptions(tls: TlsServerSettings): SecureContextOptions {
  return {
    cert: tls.cert,
    key: tls.key,
    ...(tls.clientCa !== undefined ? { ca: tls.clientCa } : {}),
    minVersion: tls.minVersion,
    maxVersion: tls.maxVersion,
    ...(tls.ciphers !== undefined ? { ciphers: tls.ciphers } : {}),
    honorCipherOrder: tls.honorCipherOrder,
    ...(tls.ecdhCurve !== undefined ? { ecdhCurve: tls.ecdhCurve } : {}),
  };
}

// What Node's TLS server does at the handshake for each toolkit policy; the
// policies Node cannot express there are finished in checkClientCertificate.
function handshakePolicy(tls: TlsServerSettings): { requestCert: boolean; rejectUnauthorized: boolean } {
  return {
    requestCert: tls.clientAuthType !== 'NoClientCert',
    rejectUnauthorized: tls.clientAuthType === 'RequireAndVerifyClientCert',
  };
}

function sansOf(socket: TLSSocket): string[] {
  const text = socket.getPeerCertificate().subjectaltname ?? '';
  // "DNS:a, IP Address:1.2.3.4, URI:spiffe://x, email:e@x"
  return text.split(', ').map((entry) => entry.slice(entry.indexOf(':') + 1)).filter((s) => s !== '');
}

/** undefined if the connection may go on, else why it is refused. */
function checkClientCertificate(socket: TLSSocket, tls: TlsServerSettings): string | undefined {
  const peer = socket.getPeerCertificate();
  const presented = peer !== null && Object.keys(peer).length > 0;
  switch (tls.clientAuthType) {
    case 'RequireAnyClientCert':
      if (!presented) return 'no client certificate';
      break;
    case 'VerifyClientCertIfGiven':
      if (presented && !socket.authorized) return `client certificate refused: ${String(socket.authorizationError)}`;
      break;
    default:
      break;
  }
  if (tls.clientAllowedSans.length > 0) {
    const sans = presented ? sansOf(socket) : [];
    if (!sans.some((san) => tls.clientAllowedSans.includes(san))) return 'client certificate has no allowed SAN';
  }
  return undefined;
}

function fingerprint(config: WebConfig): string {
  return JSON.stringify([config.tls, [...config.basicAuthUsers], config.headers, config.files]);
}

export class WebEndpoint {
  private config: WebConfig;
  private server: Server | HttpsServer | undefined;
  private readonly auth = new BasicAuth();
  private watchers: FSWatcher[] = [];
  private reloadTimer: NodeJS.Timeout | undefined;

  /** Loads the web config file (if any); throws a one-line UserError when it is bad. */
  constructor(
    private readonly configFile: string | undefined,
    private readonly log: Logger,
    readonly limits: ServerLimits,
    /** --auth=kubernetes: TokenReview and SubjectAccessReview decide (shared by both listeners). */
    private readonly kubeAuth?: KubeAuth,
  ) {
    this.config = configFile !== undefined ? loadWebConfig(configFile) : NO_CONFIG;
    this.refuseTwoAuthorities(this.config);
  }

  private refuseTwoAuthorities(config: WebConfig): void {
    if (this.kubeAuth !== undefined && config.basicAuthUsers.size > 0)
      throw new UserError(`--web.config.file ${this.configFile}: basic_auth_users cannot be used with --auth=kubernetes (both read the Authorization header)`, 2);
  }

  get tls(): boolean {
    return this.config.tls !== undefined;
  }

  createServer(listener: RequestListener): Server {
    const tls = this.config.tls;
    let server: Server;
    if (tls) {
      const https = createHttpsServer({ ...creationOptions(this.limits), ...secureContextOptions(tls), ...handshakePolicy(tls) }, listener);
      https.on('secureConnection', (socket: TLSSocket) => {
        const current = this.config.tls;
        const refusal = current ? checkClientCertificate(socket, current) : undefined;
        if (refusal) {
          this.log.debug('TLS connection refused', { remote: socket.remoteAddress, reason: refusal });
          socket.destroy();
        }
      });
      https.on('tlsClientError', (err, socket) => {
        this.log.debug('TLS handshake failed', { remote: socket.remoteAddress, error: err.message });
      });
      server = https;
    } else {
      server = createHttpServer(creationOptions(this.limits), listener);
    }
    applyLimits(server, this.limits);
    this.server = server;
    this.watch();
    return server;
  }

  /**
   * Sets the configured headers and checks credentials. false when it has
   * answered the request itself (401), and the caller must not.
   */
  async admit(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<boolean> {
    const { headers, basicAuthUsers } = this.config;
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    if (UNAUTHENTICATED_PATHS.has(pathname)) return true;
    if (this.kubeAuth) {
      const decision = await this.kubeAuth.decide(req.headers.authorization, verbOf(req.method), pathname);
      if (decision.status === 200) return true;
      res
        .writeHead(decision.status, { 'content-type': 'text/plain', ...(decision.status === 401 ? { 'www-authenticate': 'Bearer' } : {}) })
        .end(`${decision.message}\n`);
      return false;
    }
    if (basicAuthUsers.size === 0) return true;
    if (await this.auth.allows(req, basicAuthUsers)) return true;
    res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Basic' }).end('Unauthorized\n');
    return false;
  }

  /** Re-reads the file now; keeps the old settings (and logs one line) if it is bad. */
  reload(): boolean {
    if (this.configFile === undefined) return true;
    let next: WebConfig;
    try {
      next = loadWebConfig(this.configFile);
      this.refuseTwoAuthorities(next);
      if ((next.tls !== undefined) !== (this.config.tls !== undefined))
        throw new UserError(`--web.config.file ${this.configFile}: switching between HTTP and HTTPS needs a restart`);
      if (next.tls && this.server && 'setSecureContext' in this.server) {
        // Only new connections see these; open ones keep what they agreed on.
        this.server.setSecureContext(secureContextOptions(next.tls));
        Object.assign(this.server, handshakePolicy(next.tls));
      }
    } catch (err) {
      this.log.error('web config not reloaded, keeping the previous one', { error: (err as Error).message });
      return false;
    }
    const filesChanged = next.files.join('\n') !== this.config.files.join('\n');
    const changed = fingerprint(next) !== fingerprint(this.config);
    this.config = next;
    if (changed) this.log.info('web config reloaded', { file: this.configFile });
    if (filesChanged) this.watch();
    return true;
  }

  close(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    clearTimeout(this.reloadTimer);
  }

  // Directories, not files: editors and Kubernetes Secret volumes replace
  // files by renaming (the ..data symlink swap), which a file watch misses.
  private watch(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.configFile === undefined) return;
    const dirs = new Set(this.config.files.map((f) => dirname(f)));
    for (const dir of dirs) {
      try {
        const w = watch(dir, () => {
          clearTimeout(this.reloadTimer);
          this.reloadTimer = setTimeout(() => this.reload(), RELOAD_SETTLE_MS);
        });
        w.on('error', (err) => this.log.warn('cannot watch web config directory', { dir, error: err.message }));
        w.unref();
        this.watchers.push(w);
      } catch (err) {
        this.log.warn('cannot watch web config directory; changes need a restart', { dir, error: (err as Error).message });
      }
    }
  }
}
