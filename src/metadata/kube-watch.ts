// The pods of this node, kept current by a Kubernetes list+watch.
//
// Built on @kubernetes/client-node's ListWatch informer (what makeInformer
// returns; used directly because makeInformer cannot pass a field selector),
// restricted to `spec.nodeName=<node>`. The informer lists, then watches from
// the list's resourceVersion, and re-lists by itself on 410 Gone. Around it:
// - every list replaces the pod index (pods deleted while we were not
//   watching disappear), and the first one makes the watch synced;
// - a failed list or watch (API server gone, 403, timeout) is counted, marks
//   the watch unsynced and is retried with capped exponential backoff and
//   jitter, by a fresh informer that lists again. The pod index keeps the
//   last known pods meanwhile, so labels stay as they were;
// - a periodic resync re-lists, so that a watch that hangs without an error
//   (a half-open connection) cannot leave the index stale forever;
// - the reason is logged once per state change, not once per retry.
// An informer replaced by a newer one may still call back (ListWatch does not
// always stop cleanly mid-request); each one carries a generation number and
// stale callbacks are ignored.
//
// The same machinery watches other resources cluster-wide (services, nodes,
// all pods: see cluster-peers.ts) through `new KubeWatch({ resource, sink })`:
// a WatchedResource says what to list and watch and may slim each object
// before the informer caches it; a WatchSink receives the objects.
import {
  CoreV1Api,
  ListWatch,
  Watch,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1Pod,
} from '@kubernetes/client-node';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from './logger.js';
import type { PodIndex } from './pod-index.js';

export type WatchState = 'idle' | 'connecting' | 'synced' | 'unreachable' | 'stopped';

export interface KubeWatchOptions {
  kubeConfig: KubeConfig;
  nodeName: string;
  pods: PodIndex;
  log: Logger;
  /** Registers the kubepulse_kube_watch_* metrics (once per registry: the pod watch's). */
  registry?: Registry | undefined;
  /** Full re-list period; default 10 minutes. */
  resyncIntervalMs?: number;
  /** First retry delay after a failure; doubles up to backoffMaxMs. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** A list that takes longer than this counts as failed. */
  listTimeoutMs?: number;
}

/** What a KubeWatch lists and watches, when it is not this node's pods. */
export interface WatchedResource<T extends KubernetesObject> {
  /** Singular noun for logs and errors: 'service' → "service watch in sync with the API server". */
  readonly kind: string;
  /** The collection, e.g. /api/v1/services. */
  readonly path: string;
  readonly fieldSelector?: string | undefined;
  list(api: CoreV1Api): Promise<KubernetesListObject<T>>;
  /**
   * Keeps only what the sink needs, before the informer caches the object
   * (it holds every object it saw). Must keep metadata.name, namespace and
   * resourceVersion, which the informer keys and compares by.
   */
  slim?(obj: T): T;
}

/** Where a KubeWatch puts what it lists and watches. */
export interface WatchSink<T> {
  readonly size: number;
  upsert(obj: T): unknown;
  remove(obj: T): unknown;
  /** A full list: afterwards the sink holds exactly these. */
  replace(items: readonly T[]): void;
}

export interface ResourceWatchOptions<T extends KubernetesObject> extends Omit<KubeWatchOptions, 'nodeName' | 'pods'> {
  resource: WatchedResource<T>;
  sink: WatchSink<T>;
}

export interface WatchHealth {
  readonly state: WatchState;
  readonly synced: boolean;
  readonly everSynced: boolean;
  /** Unix time in milliseconds of the last successful list, 0 if none. */
  readonly lastSyncMs: number;
  readonly lastError: string;
  /** Objects known: pods for the pod watch, else the sink's size. */
  readonly pods: number;
}

/** A ListWatch's Watch that asks for bookmarks, counts events and can abort whatever it has open. */
class SessionWatch extends Watch {
  private readonly open = new Set<AbortController>();
  private closed = false;

  constructor(
    config: KubeConfig,
    private readonly onEvent: (type: string) => void,
    private readonly onDoneFailure: (err: unknown) => void,
    private readonly slim?: (obj: unknown) => unknown,
  ) {
    super(config);
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    if (this.closed) {
      // A superseded informer carrying on: open nothing.
      const aborted = new AbortController();
      aborted.abort();
      return aborted;
    }
    let controller: AbortController | undefined;
    let finished = false;
    const result = await super.watch(
      path,
      { ...queryParams, allowWatchBookmarks: true },
      (phase, obj, raw) => {
        this.onEvent(phase);
        const keep = this.slim !== undefined && (phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED');
        callback(phase, keep ? this.slim!(obj) : obj, raw);
      },
      (err) => {
        finished = true;
        if (controller !== undefined) this.open.delete(controller);
        // ListWatch's done handler is async; a rejection there must not
        // become an unhandled rejection that ends the daemon.
        Promise.resolve(done(err) as unknown).catch(this.onDoneFailure);
      },
    );
    controller = result;
    if (this.closed) result.abort();
    else if (!finished) this.open.add(result);
    return result;
  }

  close(): void {
    this.closed = true;
    for (const controller of this.open) controller.abort();
    this.open.clear();
  }
}

interface Session<T extends KubernetesObject> {
  readonly generation: number;
  readonly informer: ListWatch<T>;
  readonly watch: SessionWatch;
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const cause = (err as { cause?: unknown }).cause;
    const parts = [err.message.split('\n')[0] ?? ''];
    if (typeof code === 'string' || typeof code === 'number') parts.push(`code ${code}`);
    if (cause instanceof Error && !parts[0]!.includes(cause.message)) parts.push(cause.message);
    return parts.filter((p) => p !== '').join('; ');
  }
  return String(err);
}

function podResource(nodeName: string): WatchedResource<V1Pod> {
  const fieldSelector = `spec.nodeName=${nodeName}`;
  return { kind: 'pod', path: '/api/v1/pods', fieldSelector, list: (api) => api.listPodForAllNamespaces({ fieldSelector }) };
}

export class KubeWatch<T extends KubernetesObject = V1Pod> {
  private readonly options: Omit<KubeWatchOptions, 'nodeName' | 'pods'> & { nodeName?: string };
  private readonly resource: WatchedResource<T>;
  private readonly sink: WatchSink<T>;
  private readonly api: CoreV1Api;
  private readonly fieldSelector: string | undefined;
  private readonly resyncIntervalMs: number;
  private readonly backoffInitialMs: number;
  private readonly backoffMaxMs: number;
  private readonly listTimeoutMs: number;
  private session: Session<T> | undefined;
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
  private readonly events: Counter<'type'> | undefined;
  private readonly errors: Counter | undefined;

  constructor(options: KubeWatchOptions | ResourceWatchOptions<T>) {
    if ('resource' in options) {
      this.resource = options.resource;
      this.sink = options.sink;
    } else {
      if (options.nodeName === '') throw new Error('the pod watch needs the node name (spec.nodeName); refusing to watch every pod of the cluster');
      // T is V1Pod here: this constructor form only exists for the pod watch.
      this.resource = podResource(options.nodeName) as unknown as WatchedResource<T>;
      this.sink = options.pods as unknown as WatchSink<T>;
    }
    this.options = options;
    this.api = options.kubeConfig.makeApiClient(CoreV1Api);
    this.fieldSelector = this.resource.fieldSelector;
    this.resyncIntervalMs = options.resyncIntervalMs ?? 10 * 60_000;
    this.backoffInitialMs = options.backoffInitialMs ?? 500;
    this.backoffMaxMs = options.backoffMaxMs ?? 30_000;
    this.listTimeoutMs = options.listTimeoutMs ?? 30_000;
    this.backoffMs = this.backoffInitialMs;

    const registry = options.registry;
    if (registry !== undefined) {
      this.events = new Counter({
        name: 'kubepulse_kube_watch_events_total',
        help: 'Pod watch events received from the Kubernetes API server, by event type.',
        labelNames: ['type'] as const,
        registers: [registry],
      });
      this.errors = new Counter({
        name: 'kubepulse_kube_watch_errors_total',
        help: 'Failed pod lists and watches (API server unreachable, refused, timed out).',
        registers: [registry],
      });
      // eslint-disable-next-line @typescript-eslint/no-this-alias
      const watch = this;
      new Gauge({
        name: 'kubepulse_kube_watch_last_sync_timestamp_seconds',
        help: 'Unix time of the last successful pod list, 0 if none yet.',
        registers: [registry],
        collect() {
          this.set(watch.lastSyncMs / 1000);
        },
      });
      new Gauge({
        name: 'kubepulse_kube_watch_synced',
        help: '1 while the pod list+watch is in sync with the API server, 0 before the first list and after a failure.',
        registers: [registry],
        collect() {
          this.set(watch.synced ? 1 : 0);
        },
      });
    }
  }

  /** Starts listing and watching; returns at once (it never waits for, nor fails on, the API server). */
  start(): void {
    if (this.state !== 'idle' && this.state !== 'stopped') return;
    this.setState('connecting');
    this.startSession();
  }

  async stop(): Promise<void> {
    this.generation++;
    clearTimeout(this.retryTimer);
    clearTimeout(this.resyncTimer);
    this.retryTimer = undefined;
    this.resyncTimer = undefined;
    const session = this.session;
    this.session = undefined;
    this.synced = false;
    this.setState('stopped');
    for (const wake of this.syncWaiters) wake();
    if (session !== undefined) await this.endSession(session);
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

  private startSession(): void {
    const generation = ++this.generation;
    const current = () => generation === this.generation;
    const slim = this.resource.slim?.bind(this.resource);
    const watch = new SessionWatch(
      this.options.kubeConfig,
      (type) => {
        if (current()) this.events?.inc({ type });
      },
      (err) => {
        if (current()) this.onFailure(err);
      },
      slim === undefined ? undefined : (obj) => slim(obj as T),
    );
    const list = async (): Promise<KubernetesListObject<T>> => {
      const result = await this.listObjects();
      if (!current()) throw new Error(`superseded ${this.resource.kind} list`);
      if (slim !== undefined) result.items = result.items.map(slim);
      this.onListed(result);
      return result;
    };
    const informer = new ListWatch<T>(this.resource.path, watch, list, false, undefined, this.fieldSelector);
    const { sink } = this;
    informer.on('add', (obj) => {
      if (current()) sink.upsert(obj);
    });
    informer.on('update', (obj) => {
      if (current()) sink.upsert(obj);
    });
    informer.on('delete', (obj) => {
      if (current()) sink.remove(obj);
    });
    informer.on('error', (err) => {
      if (current()) this.onFailure(err);
    });
    this.session = { generation, informer, watch };
    informer.start().catch((err: unknown) => {
      if (current()) this.onFailure(err);
    });
  }

  private async endSession(session: Session<T>): Promise<void> {
    session.watch.close();
    try {
      await session.informer.stop();
    } catch {
      // stopping a broken informer has nothing left to clean
    }
  }

  private async listObjects(): Promise<KubernetesListObject<T>> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.resource.kind} list timed out after ${this.listTimeoutMs} ms`)), this.listTimeoutMs);
    });
    try {
      return await Promise.race([this.resource.list(this.api), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private onListed(list: KubernetesListObject<T>): void {
    this.sink.replace(list.items);
    this.synced = true;
    this.everSynced = true;
    this.lastSyncMs = Date.now();
    this.lastError = '';
    this.backoffMs = this.backoffInitialMs;
    this.setState('synced', { [`${this.resource.kind}s`]: list.items.length, resourceVersion: list.metadata?.resourceVersion });
    for (const wake of this.syncWaiters) wake();
    clearTimeout(this.resyncTimer);
    this.resyncTimer = setTimeout(() => this.resync(), this.resyncIntervalMs);
    this.resyncTimer.unref();
  }

  private resync(): void {
    const old = this.session;
    this.options.log.debug(`${this.resource.kind} watch resync: re-listing`, this.nodeField());
    this.startSession();
    if (old !== undefined) void this.endSession(old);
  }

  private onFailure(err: unknown): void {
    const reason = describe(err);
    this.errors?.inc();
    this.synced = false;
    this.lastError = reason;
    const old = this.session;
    this.session = undefined;
    this.generation++; // silences the failed informer
    if (old !== undefined) void this.endSession(old);
    clearTimeout(this.resyncTimer);
    clearTimeout(this.retryTimer);

    const delay = Math.round(this.backoffMs * (0.8 + Math.random() * 0.4));
    this.backoffMs = Math.min(this.backoffMs * 2, this.backoffMaxMs);
    const kinds = `${this.resource.kind}s`;
    this.setState('unreachable', { reason, retryInMs: delay, [`known${kinds[0]!.toUpperCase()}${kinds.slice(1)}`]: this.sink.size });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.startSession();
    }, delay);
    this.retryTimer.unref();
  }

  private nodeField(): Record<string, unknown> {
    return this.options.nodeName === undefined ? {} : { node: this.options.nodeName };
  }

  private setState(state: WatchState, fields: Record<string, unknown> = {}): void {
    const log = this.options.log;
    const all = { ...this.nodeField(), ...fields };
    const what = `${this.resource.kind} watch`;
    if (state === this.state) {
      log.debug(`${what} still ${state}`, all);
      return;
    }
    const previous = this.state;
    this.state = state;
    switch (state) {
      case 'synced':
        log.info(previous === 'unreachable' ? `${what} back in sync with the API server` : `${what} in sync with the API server`, all);
        break;
      case 'unreachable':
        log.warn(
          this.everSynced
            ? `${what} lost the API server; keeping the last known ${this.resource.kind}s and retrying`
            : `${what} cannot reach the API server; not ready until it can, retrying`,
          all,
        );
        break;
      case 'connecting':
        log.info(`${what} starting`, this.fieldSelector === undefined ? all : { ...all, fieldSelector: this.fieldSelector });
        break;
      default:
        log.debug(`${what} ${state}`, all);
    }
  }
}
