// A Kubernetes list+watch that keeps a sink current, and the node's pod
// watch built on it.
//
// ResourceWatch lists a collection (page by page), hands the sink the full
// list (object by object as the pages arrive, where the sink takes them so),
// then watches from the list's resourceVersion with bookmarks, applying
// ADDED/MODIFIED/DELETED. Around that:
// - a continue token that expired between two pages (410 Expired) begins
//   the list again (src/kube/client.ts), and the sink is told;
// - a watch the server ends (its timeout ran out) resumes from the last
//   version seen (a bookmark's or an event's), without listing again;
// - 410 Gone (the version is older than the server's history) is protocol,
//   not failure: it lists again, and that list replaces the sink's contents
//   (objects deleted while we were not watching disappear);
// - a failed list or watch (API server gone, 401/403, timeout, TLS) is
//   counted, marks the watch unsynced and is retried with capped
//   exponential backoff and jitter. The sink keeps the last known objects
//   meanwhile, so labels stay as they were;
// - a watch still open well past the timeout it asked the server for (the
//   server ends it then) is stuck -- a hung server, a half-open connection:
//   it is cut and counted as a failure, so readiness says so, and the run
//   starts over with a list;
// - a periodic resync lists again, so that a watch that hangs without an
//   error cannot leave the sink stale for longer than that;
// - the reason is logged once per state change, not once per retry.
// Each run (list, then watches) has a generation number and an abort signal;
// a superseded run's late answers are ignored.
//
// No object cache of its own: the sink (the pod index, the peer index) is
// the only copy, so what the daemon holds per object is what the sink keeps.
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { KubeClient, WatchEvent } from '../kube/client.js';
import type { Logger } from '../log.js';
import type { PodIndex } from './pod-index.js';

export type WatchState = 'idle' | 'connecting' | 'synced' | 'unreachable' | 'stopped';

/** What a ResourceWatch lists and watches. */
export interface WatchedResource<T extends KubernetesObject> {
  /** Singular noun for logs and errors: 'service' → "service watch in sync with the API server". */
  readonly kind: string;
  /** The collection, e.g. /api/v1/services. */
  readonly path: string;
  readonly fieldSelector?: string | undefined;
  /** '0': lists are answered from the API server's watch cache (cheap, maybe slightly stale); unset: a consistent list. */
  readonly listResourceVersion?: string | undefined;
  /** Keeps only what the sink needs, as each object arrives (before the next list page). */
  slim?(obj: T): T;
}

/** Where a ResourceWatch puts what it lists and watches. */
export interface WatchSink<T> {
  readonly size: number;
  upsert(obj: T): unknown;
  remove(obj: T): unknown;
  /** A full list: afterwards the sink holds exactly these. */
  replace(items: readonly T[]): void;
  /**
   * A full list handed over object by object as its pages arrive, instead of
   * replace(): the listed objects are never all alive at once (each dies
   * young once the sink has taken what it keeps). Optional.
   */
  beginReplace?(): ReplaceSession<T>;
}

/** One full list into a sink, object by object. */
export interface ReplaceSession<T> {
  add(obj: T): void;
  /** The list began again (an expired continue token): what was added so far may be gone. */
  restart(): void;
  /** The list is complete: the sink drops what it was not handed. */
  end(): void;
}

/** Counts what happens, for metrics. */
export interface WatchCounters {
  /** A watch event arrived (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR). */
  event(type: string): void;
  /** A list or watch failed. */
  failure(): void;
}

export interface WatchTimings {
  /** Full re-list period; default 10 minutes. */
  resyncIntervalMs?: number | undefined;
  /** First retry delay after a failure; doubles up to backoffMaxMs. */
  backoffInitialMs?: number | undefined;
  backoffMaxMs?: number | undefined;
  /** A list that takes longer than this counts as failed. */
  listTimeoutMs?: number | undefined;
  /** Seconds a watch asks the server to stay open; default 300–600, at random. */
  watchTimeoutSeconds?: number | undefined;
  /** A watch still open this long after its timeout is cut as stuck; default 30 s. */
  watchOverrunMs?: number | undefined;
}

export interface ResourceWatchOptions<T extends KubernetesObject> extends WatchTimings {
  client: KubeClient;
  resource: WatchedResource<T>;
  sink: WatchSink<T>;
  log: Logger;
  counters?: WatchCounters | undefined;
  /** Added to every log line, e.g. { node }. */
  logFields?: Record<string, unknown> | undefined;
}

/** The event types a Kubernetes watch sends. */
export const WATCH_EVENT_TYPES = ['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR'] as const;

export interface WatchHealth {
  readonly state: WatchState;
  readonly synced: boolean;
  readonly everSynced: boolean;
  /** Unix time in milliseconds of the last successful list, 0 if none. */
  readonly lastSyncMs: number;
  readonly lastError: string;
  /** Objects the sink holds. */
  readonly pods: number;
}

/** How long a watch asks the server to keep it open (client-go picks 5–10 minutes, at random). */
const watchTimeoutSeconds = (): number => 300 + Math.floor(Math.random() * 300);
/** Watches that end sooner than this are spaced out, so a server that closes them at once is not hammered. */
const MIN_WATCH_SPACING_MS = 1000;

class Gone extends Error {}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const cause = (err as { cause?: unknown }).cause;
    const parts = [err.message.split('\n')[0] ?? ''];
    if ((typeof code === 'string' || typeof code === 'number') && !parts[0]!.includes(String(code))) parts.push(`code ${code}`);
    if (cause instanceof Error && !parts[0]!.includes(cause.message)) parts.push(cause.message);
    return parts.filter((p) => p !== '').join('; ');
  }
  return String(err);
}

export class ResourceWatch<T extends KubernetesObject> {
  private readonly client: KubeClient;
  private readonly resource: WatchedResource<T>;
  private readonly sink: WatchSink<T>;
  private readonly log: Logger;
  private readonly counters: WatchCounters | undefined;
  private readonly logFields: Record<string, unknown>;
  private readonly resyncIntervalMs: number;
  private readonly backoffInitialMs: number;
  private readonly backoffMaxMs: number;
  private readonly listTimeoutMs: number;
  private readonly watchTimeoutSeconds: number | undefined;
  private readonly watchOverrunMs: number;
  private run: AbortController | undefined;
  private generation = 0;
  private state: WatchState = 'idle';
  private synced = false;
  private everSynced = false;
  private lastSyncMs = 0;
  private lastError = '';
  private backoffMs: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private readonly syncWaiters = new Set<() => void>();

  constructor(options: ResourceWatchOptions<T>) {
    this.client = options.client;
    this.resource = options.resource;
    this.sink = options.sink;
    this.log = options.log;
    this.counters = options.counters;
    this.logFields = options.logFields ?? {};
    this.resyncIntervalMs = options.resyncIntervalMs ?? 10 * 60_000;
    this.backoffInitialMs = options.backoffInitialMs ?? 500;
    this.backoffMaxMs = options.backoffMaxMs ?? 30_000;
    this.listTimeoutMs = options.listTimeoutMs ?? 30_000;
    this.watchTimeoutSeconds = options.watchTimeoutSeconds;
    this.watchOverrunMs = options.watchOverrunMs ?? 30_000;
    this.backoffMs = this.backoffInitialMs;
  }

  /** Starts listing and watching; returns at once (it never waits for, nor fails on, the API server). */
  start(): void {
    if (this.state !== 'idle' && this.state !== 'stopped') return;
    this.setState('connecting');
    this.startRun();
  }

  async stop(): Promise<void> {
    this.generation++;
    clearTimeout(this.retryTimer);
    clearTimeout(this.resyncTimer);
    this.retryTimer = undefined;
    this.resyncTimer = undefined;
    this.run?.abort();
    this.run = undefined;
    this.synced = false;
    this.setState('stopped');
    for (const wake of this.syncWaiters) wake();
  }

  /** In sync with the API server right now: listed, and no failure since. */
  isSynced(): boolean {
    return this.synced;
  }

  health(): WatchHealth {
    return {
      state: this.state,
      synced: this.synced,
      everSynced: this.everSynced,
      lastSyncMs: this.lastSyncMs,
      lastError: this.lastError,
      pods: this.sink.size,
    };
  }

  /** Resolves true once synced, false on timeout or stop. */
  waitForSync(timeoutMs: number): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.syncWaiters.delete(done);
        resolve(this.synced);
      };
      const timer = setTimeout(done, timeoutMs);
      this.syncWaiters.add(done);
    });
  }

  /** A new run (list, then watch) that supersedes the previous one. */
  private startRun(): void {
    this.run?.abort();
    const generation = ++this.generation;
    const run = new AbortController();
    this.run = run;
    this.listAndWatch(generation, run.signal).catch((err: unknown) => {
      if (generation === this.generation) this.onFailure(err);
    });
  }

  private async listAndWatch(generation: number, signal: AbortSignal): Promise<void> {
    const current = () => generation === this.generation && !signal.aborted;
    for (;;) {
      let version = await this.list(signal);
      if (!current()) return;
      try {
        for (;;) {
          const began = Date.now();
          let seen = 0;
          const timeoutSeconds = this.watchTimeoutSeconds ?? watchTimeoutSeconds();
          const cut = new AbortController();
          const forward = () => cut.abort();
          signal.addEventListener('abort', forward, { once: true });
          let overran = false;
          const overrun = setTimeout(() => {
            overran = true;
            cut.abort();
          }, timeoutSeconds * 1000 + this.watchOverrunMs);
          overrun.unref();
          try {
            await this.client.watch(
              this.resource.path,
              {
                fieldSelector: this.resource.fieldSelector,
                resourceVersion: version,
                allowWatchBookmarks: true,
                timeoutSeconds,
              },
              (event) => {
                if (!current()) return;
                seen++;
                version = this.apply(event) ?? version;
              },
              cut.signal,
            );
          } finally {
            clearTimeout(overrun);
            signal.removeEventListener('abort', forward);
          }
          if (!current()) return;
          if (overran) {
            const overrunS = Math.round(this.watchOverrunMs / 100) / 10;
            throw new Error(`${this.resource.kind} watch still open ${overrunS} s after its ${timeoutSeconds} s timeout: the connection is stuck`);
          }
          const spacing = MIN_WATCH_SPACING_MS - (Date.now() - began);
          if (seen === 0 && spacing > 0) await new Promise((r) => setTimeout(r, spacing));
          if (!current()) return;
        }
      } catch (err) {
        if (!(err instanceof Gone)) throw err;
        if (!current()) return;
        this.log.debug(`${this.resource.kind} watch: resource version expired, listing again`, this.logFields);
      }
    }
  }

  /** Applies one watch event; returns the resource version to resume from, if it moved. */
  private apply(event: WatchEvent): string | undefined {
    this.counters?.event(event.type);
    const obj = event.object as unknown as T;
    const version = event.object?.metadata?.resourceVersion;
    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED':
        this.sink.upsert(this.resource.slim === undefined ? obj : this.resource.slim(obj));
        return version;
      case 'DELETED':
        this.sink.remove(obj);
        return version;
      case 'BOOKMARK':
        return version;
      case 'ERROR': {
        const status = event.object as { code?: number; message?: string };
        if (status.code === 410) throw new Gone(status.message ?? 'resource version too old');
        throw new Error(`${this.resource.kind} watch error ${status.code ?? ''}: ${status.message ?? 'unknown'}`.replace(/ +:/, ':'));
      }
      default:
        return undefined;
    }
  }

  private async list(signal: AbortSignal): Promise<string> {
    const abort = new AbortController();
    const cancel = () => abort.abort();
    signal.addEventListener('abort', cancel, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abort.abort();
        reject(new Error(`${this.resource.kind} list timed out after ${this.listTimeoutMs} ms`));
      }, this.listTimeoutMs);
    });
    try {
      const { slim } = this.resource;
      const keep = slim === undefined ? (obj: unknown) => obj as T : (obj: unknown) => slim.call(this.resource, obj as T);
      const query = { fieldSelector: this.resource.fieldSelector, resourceVersion: this.resource.listResourceVersion };
      // Into the sink as each object arrives where it can take them so; else gathered, then replaced at once.
      const session = this.sink.beginReplace?.();
      let items: T[] = [];
      let listed = 0;
      const consumer = {
        item(obj: unknown): void {
          listed++;
          if (session === undefined) items.push(keep(obj));
          else session.add(keep(obj));
        },
        restart(): void {
          items = [];
          listed = 0;
          session?.restart();
        },
      };
      const resourceVersion = await Promise.race([this.client.listEach(this.resource.path, query, consumer, abort.signal), timeout]);
      if (!signal.aborted) {
        if (session === undefined) this.sink.replace(items);
        else session.end();
        this.onListed(listed, resourceVersion);
      }
      return resourceVersion;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', cancel);
    }
  }

  private onListed(count: number, resourceVersion: string): void {
    this.synced = true;
    this.everSynced = true;
    this.lastSyncMs = Date.now();
    this.lastError = '';
    this.backoffMs = this.backoffInitialMs;
    this.setState('synced', { [`${this.resource.kind}s`]: count, resourceVersion });
    for (const wake of this.syncWaiters) wake();
    clearTimeout(this.resyncTimer);
    this.resyncTimer = setTimeout(() => this.resync(), this.resyncIntervalMs);
    this.resyncTimer.unref();
  }

  private resync(): void {
    this.log.debug(`${this.resource.kind} watch resync: re-listing`, this.logFields);
    this.startRun();
  }

  private onFailure(err: unknown): void {
    const reason = describe(err);
    this.counters?.failure();
    this.synced = false;
    this.lastError = reason;
    this.generation++; // silences the failed run
    this.run?.abort();
    this.run = undefined;
    clearTimeout(this.resyncTimer);
    clearTimeout(this.retryTimer);

    const delay = Math.round(this.backoffMs * (0.8 + Math.random() * 0.4));
    this.backoffMs = Math.min(this.backoffMs * 2, this.backoffMaxMs);
    const kinds = `${this.resource.kind}s`;
    this.setState('unreachable', { reason, retryInMs: delay, [`known${kinds[0]!.toUpperCase()}${kinds.slice(1)}`]: this.sink.size });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.startRun();
    }, delay);
    this.retryTimer.unref();
  }

  private setState(state: WatchState, fields: Record<string, unknown> = {}): void {
    const all = { ...this.logFields, ...fields };
    const what = `${this.resource.kind} watch`;
    if (state === this.state) {
      this.log.debug(`${what} still ${state}`, all);
      return;
    }
    const previous = this.state;
    this.state = state;
    switch (state) {
      case 'synced':
        this.log.info(previous === 'unreachable' ? `${what} back in sync with the API server` : `${what} in sync with the API server`, all);
        break;
      case 'unreachable':
        this.log.warn(
          this.everSynced
            ? `${what} lost the API server; keeping the last known ${this.resource.kind}s and retrying`
            : `${what} cannot reach the API server; not ready until it can, retrying`,
          all,
        );
        break;
      case 'connecting': {
        const selector = this.resource.fieldSelector;
        this.log.info(`${what} starting`, selector === undefined ? all : { ...all, fieldSelector: selector });
        break;
      }
      default:
        this.log.debug(`${what} ${state}`, all);
    }
  }
}

export interface NodePodWatchOptions extends WatchTimings {
  client: KubeClient;
  nodeName: string;
  pods: PodIndex;
  log: Logger;
  /** Registers the kubepulse_kube_watch_* metrics. */
  registry?: Registry | undefined;
}

/** This node's pods (spec.nodeName=<node>) into the pod index. */
export function watchNodePods(options: NodePodWatchOptions): ResourceWatch<V1Pod> {
  if (options.nodeName === '') throw new Error('the pod watch needs the node name (spec.nodeName); refusing to watch every pod of the cluster');
  const resource: WatchedResource<V1Pod> = { kind: 'pod', path: '/api/v1/pods', fieldSelector: `spec.nodeName=${options.nodeName}` };
  const { registry } = options;
  let counters: WatchCounters | undefined;
  if (registry !== undefined) {
    const events = new Counter({
      name: 'kubepulse_kube_watch_events_total',
      help: 'Pod watch events received from the Kubernetes API server, by event type.',
      labelNames: ['type'] as const,
      registers: [registry],
    });
    // The watch protocol's event types, at 0 from the start (dashboards show 0, rate() works at once).
    for (const type of WATCH_EVENT_TYPES) events.inc({ type }, 0);
    const errors = new Counter({
      name: 'kubepulse_kube_watch_errors_total',
      help: 'Failed pod lists and watches (API server unreachable, refused, timed out).',
      registers: [registry],
    });
    counters = { event: (type) => events.inc({ type }), failure: () => errors.inc() };
  }
  const watch = new ResourceWatch<V1Pod>({ ...options, resource, sink: options.pods, counters, logFields: { node: options.nodeName } });
  if (registry !== undefined) {
    new Gauge({
      name: 'kubepulse_kube_watch_last_sync_timestamp_seconds',
      help: 'Unix time of the last successful pod list, 0 if none yet.',
      registers: [registry],
      collect() {
        this.set(watch.health().lastSyncMs / 1000);
      },
    });
    new Gauge({
      name: 'kubepulse_kube_watch_synced',
      help: '1 while the pod list+watch is in sync with the API server, 0 before the first list and after a failure.',
      registers: [registry],
      collect() {
        this.set(watch.isSynced() ? 1 : 0);
      },
    });
  }
  return watch;
}
