// --auth=kubernetes: who may read the endpoints is decided by the cluster's
// own RBAC, the way kube-rbac-proxy does it, without a sidecar. A request's
// bearer token is sent to the API server in a TokenReview (who is this?), and
// the user it names in a SubjectAccessReview for the non-resource URL
// (may they `get` /metrics, /api/v1/flows?). Prometheus then needs only its
// service account token and a ClusterRole with `get` on /metrics.
//
// Cost per request: decisions, allowed and denied, are cached for a short
// TTL in bounded LRU caches keyed by a SHA-256 of the token (the token itself
// is never kept). A hit costs one hash and two lookups (microseconds); a miss
// costs a TokenReview and a SubjectAccessReview round trip to the API server
// (milliseconds; the test measures both). Identical checks in flight share
// one review, and at most MAX_PENDING distinct ones are asked at a time, so a
// client spraying random tokens cannot make the agent flood the API server.
//
// Fail closed: when the API server cannot answer (down, slow, 5xx, or our
// own RBAC missing) the request is refused with 503 and nothing is cached,
// so access comes back with the API server; a cached decision lives out its
// TTL and then needs the API server again.

import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { Counter, type Registry } from 'prom-client';
import type { KubeClient } from '../kube/client.js';
import type { Logger } from '../log.js';

export interface KubeAuthOptions {
  client: Pick<KubeClient, 'create' | 'endpoint'>;
  /** How long an allowed decision (and an authenticated token) is trusted. */
  allowedTtlMs: number;
  /** How long a refusal (unknown token, access denied) is remembered. */
  deniedTtlMs: number;
  log: Logger;
  registry?: Registry;
  /** Entries per cache (tokens; user × verb × path). */
  cacheSize?: number;
  /** A review not answered within this fails the request (503). */
  timeoutMs?: number;
}

/** 200: go on; otherwise the status and one line to answer with. */
export type AuthDecision = { status: 200; user: string } | { status: 401 | 403 | 503; message: string };

interface ReviewedUser {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

type TokenVerdict = { user: ReviewedUser } | { refused: string };

const TOKEN_REVIEWS = '/apis/authentication.k8s.io/v1/tokenreviews';
const ACCESS_REVIEWS = '/apis/authorization.k8s.io/v1/subjectaccessreviews';
const DEFAULT_CACHE_SIZE = 4096;
const DEFAULT_TIMEOUT_MS = 5000;
const MAX_PENDING = 64;
// Tokens are JWTs of about 1 KiB; anything this long is not one and is not sent on.
const MAX_TOKEN_BYTES = 8192;

/** The verb RBAC checks for a non-resource URL: the lowercased HTTP method (HEAD is served as GET). */
export function verbOf(method: string | undefined): string {
  const m = (method ?? 'GET').toLowerCase();
  return m === 'head' ? 'get' : m;
}

class Unavailable extends Error {}

export class KubeAuth {
  private readonly tokens: LRUCache<string, TokenVerdict>;
  private readonly access: LRUCache<string, boolean>;
  private readonly pending = new Map<string, Promise<unknown>>();
  private readonly decisions: Counter<'decision' | 'cached'> | undefined;
  private readonly reviews: Counter<'review' | 'result'> | undefined;
  private lastFailure = '';

  constructor(private readonly options: KubeAuthOptions) {
    const max = options.cacheSize ?? DEFAULT_CACHE_SIZE;
    this.tokens = new LRUCache({ max, ttl: options.allowedTtlMs });
    this.access = new LRUCache({ max, ttl: options.allowedTtlMs });
    if (options.registry) {
      this.decisions = new Counter({
        name: 'kubepulse_auth_decisions_total',
        help: 'Requests checked by --auth=kubernetes, by decision (allowed, unauthenticated, forbidden, unavailable) and whether the cache answered',
        labelNames: ['decision', 'cached'] as const,
        registers: [options.registry],
      });
      this.reviews = new Counter({
        name: 'kubepulse_auth_reviews_total',
        help: 'TokenReviews and SubjectAccessReviews sent to the API server, by result (ok, error)',
        labelNames: ['review', 'result'] as const,
        registers: [options.registry],
      });
    }
  }

  /** Loads the credentials the reviews are sent with; a broken kubeconfig throws here, at start. */
  async prepare(): Promise<void> {
    await this.options.client.endpoint.ready();
  }

  async decide(authorization: string | undefined, verb: string, path: string): Promise<AuthDecision> {
    const token = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
    if (token === undefined || Buffer.byteLength(token) > MAX_TOKEN_BYTES) return this.count({ status: 401, message: 'Unauthorized: a bearer token is required' }, false);
    const tokenKey = createHash('sha256').update(token).digest('hex');
    try {
      let cached = true;
      let verdict = this.tokens.get(tokenKey);
      if (verdict === undefined) {
        cached = false;
        verdict = await this.once(`t:${tokenKey}`, () => this.reviewToken(tokenKey, token));
      }
      if ('refused' in verdict) return this.count({ status: 401, message: `Unauthorized: ${verdict.refused}` }, cached);
      const user = verdict.user;
      const accessKey = JSON.stringify([user.username, user.uid ?? '', user.groups ?? [], user.extra ?? {}, verb, path]);
      let allowed = this.access.get(accessKey);
      if (allowed === undefined) {
        cached = false;
        allowed = await this.once(`a:${accessKey}`, () => this.reviewAccess(accessKey, user, verb, path));
      }
      if (!allowed) return this.count({ status: 403, message: `Forbidden: User "${user.username}" cannot ${verb} path "${path}"` }, cached);
      return this.count({ status: 200, user: user.username }, cached);
    } catch (err) {
      const reason = (err as Error).message;
      if (reason !== this.lastFailure) this.options.log.warn('cannot check credentials with the Kubernetes API; refusing requests until it answers', { error: reason });
      this.lastFailure = reason;
      return this.count({ status: 503, message: 'Service Unavailable: cannot check credentials with the Kubernetes API' }, false);
    }
  }

  private count(decision: AuthDecision, cached: boolean): AuthDecision {
    const name = { 200: 'allowed', 401: 'unauthenticated', 403: 'forbidden', 503: 'unavailable' }[decision.status];
    this.decisions?.labels(name, String(cached)).inc();
    return decision;
  }

  // Concurrent identical checks (Prometheus's parallel scrapes) share one review.
  private once<T>(key: string, review: () => Promise<T>): Promise<T> {
    const running = this.pending.get(key);
    if (running) return running as Promise<T>;
    if (this.pending.size >= MAX_PENDING) return Promise.reject(new Unavailable(`${MAX_PENDING} credential checks already waiting for the API server`));
    const promise = review().finally(() => this.pending.delete(key));
    this.pending.set(key, promise);
    return promise;
  }

  private async reviewToken(key: string, token: string): Promise<TokenVerdict> {
    const answer = await this.ask<{ status?: { authenticated?: boolean; user?: ReviewedUser; error?: string } }>('token', TOKEN_REVIEWS, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token },
    });
    const status = answer.status ?? {};
    const verdict: TokenVerdict =
      status.authenticated === true && typeof status.user?.username === 'string' && status.user.username !== ''
        ? { user: status.user }
        : { refused: status.error ? 'the token was not accepted' : 'unknown token' };
    this.tokens.set(key, verdict, { ttl: 'user' in verdict ? this.options.allowedTtlMs : this.options.deniedTtlMs });
    return verdict;
  }

  private async reviewAccess(key: string, user: ReviewedUser, verb: string, path: string): Promise<boolean> {
    const answer = await this.ask<{ status?: { allowed?: boolean; denied?: boolean } }>('access', ACCESS_REVIEWS, {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: user.username,
        ...(user.uid ? { uid: user.uid } : {}),
        groups: user.groups ?? [],
        ...(user.extra ? { extra: user.extra } : {}),
        nonResourceAttributes: { path, verb },
      },
    });
    const allowed = answer.status?.allowed === true && answer.status.denied !== true;
    this.access.set(key, allowed, { ttl: allowed ? this.options.allowedTtlMs : this.options.deniedTtlMs });
    return allowed;
  }

  private async ask<T>(review: 'token' | 'access', path: string, body: unknown): Promise<T> {
    try {
      const answer = await this.options.client.create<T>(path, body, AbortSignal.timeout(this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS));
      this.reviews?.labels(review, 'ok').inc();
      if (this.lastFailure !== '') this.options.log.info('the Kubernetes API answers credential checks again');
      this.lastFailure = '';
      return answer;
    } catch (err) {
      this.reviews?.labels(review, 'error').inc();
      throw err;
    }
  }
}
