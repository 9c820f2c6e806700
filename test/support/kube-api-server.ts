// A stand-in for the Kubernetes API server, for tests.
//
// No API server exists on the machines that run these tests, so this serves
// the pods resource over the real list+watch protocol, closely enough for
// client-go's reflector, @kubernetes/client-node's informer and the daemon's
// own client (src/kube/):
// - GET /api/v1/pods: a PodList with metadata.resourceVersion;
// - GET /api/v1/pods?watch=true&resourceVersion=N: a chunked stream of
//   newline-delimited JSON watch events (ADDED, MODIFIED, DELETED, BOOKMARK
//   when allowWatchBookmarks=true, ERROR with a 410 Status when N is older
//   than the retained history);
// - fieldSelector=spec.nodeName=<node> on both, like a DaemonSet agent uses;
//   without it, every pod of the cluster (the cluster-wide peer resolver);
// - GET /api/v1/services, /api/v1/nodes, /api/v1/namespaces,
//   /apis/networking.k8s.io/v1/networkpolicies and ingresses and
//   /apis/apps/v1/deployments the same way (their lists and watches; any of
//   them through addObject), sharing one resource version sequence and one
//   history with the pods, as an API server backed by etcd does;
// - limit and continue on lists: pages of a snapshot taken at the first
//   page, every page carrying that snapshot's resourceVersion, and, but for
//   the last, metadata.continue and (without a selector, as the real one)
//   metadata.remainingItemCount. A continue token can be used again until
//   the snapshot is compacted away (compact(), as etcd's compaction ends
//   it): then 410 Expired, and the client must list from the start. (A
//   real server's 410 also carries a token to continue inconsistently; no
//   client here uses one, so none is sent.) A token never issued is 400.
//   Real servers before the watch cache could page (KEP-4988) answer a
//   resourceVersion=0 list whole, ignoring limit; this one pages it, so the
//   paging is what tests see (the daemon's client takes either);
// - bearer-token authentication (401 otherwise); the token can change while
//   it runs (`server.token = …`: a rotated service account token, the old
//   one refused); with TLS, client certificates signed by `clientCa` too.
// - POST /apis/authentication.k8s.io/v1/tokenreviews and
//   /apis/authorization.k8s.io/v1/subjectaccessreviews, the real protocol
//   (as kube-rbac-proxy and the kubelet's webhook authn/authz use it): the
//   review object is POSTed, answered 201 Created with its status filled in,
//   and nothing is stored. Tokens are the users `addUser` made; access is
//   what `grantNonResource` granted, matched as RBAC matches nonResourceURLs
//   (exact, or a trailing `*` as a prefix) and verbs. The caller must itself
//   be authenticated and allowed to create reviews (`reviewsForbidden` makes
//   it the 403 a missing ClusterRole gives).
// Tests mutate the pods, inject a 410 Gone into open watches, and stop and
// restart the server on the same port to simulate an API server that went
// away. It listens on 127.0.0.1 only, over plain HTTP, or over HTTPS with a
// self-signed certificate made by openssl at test time (tls: true), as a
// real API server with its own CA.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { KubernetesObject, V1Namespace, V1NetworkPolicy, V1Node, V1Pod, V1Service } from '@kubernetes/client-node';

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly watch: boolean;
  /** The Authorization header as received ('' without). */
  readonly authorization: string;
  /** The subject CN of a verified client certificate ('' without). */
  readonly clientCertificate: string;
}

/** The collections served, by path under /api/v1/. */
export type Collection = 'pods' | 'services' | 'nodes' | 'namespaces' | 'networkpolicies' | 'deployments' | 'ingresses';

const COLLECTIONS: Record<Collection, { kind: string; listKind: string; apiVersion: string; path: string }> = {
  pods: { kind: 'Pod', listKind: 'PodList', apiVersion: 'v1', path: '/api/v1/pods' },
  services: { kind: 'Service', listKind: 'ServiceList', apiVersion: 'v1', path: '/api/v1/services' },
  nodes: { kind: 'Node', listKind: 'NodeList', apiVersion: 'v1', path: '/api/v1/nodes' },
  namespaces: { kind: 'Namespace', listKind: 'NamespaceList', apiVersion: 'v1', path: '/api/v1/namespaces' },
  networkpolicies: {
    kind: 'NetworkPolicy',
    listKind: 'NetworkPolicyList',
    apiVersion: 'networking.k8s.io/v1',
    path: '/apis/networking.k8s.io/v1/networkpolicies',
  },
  deployments: { kind: 'Deployment', listKind: 'DeploymentList', apiVersion: 'apps/v1', path: '/apis/apps/v1/deployments' },
  ingresses: { kind: 'Ingress', listKind: 'IngressList', apiVersion: 'networking.k8s.io/v1', path: '/apis/networking.k8s.io/v1/ingresses' },
};
const COLLECTION_OF_PATH = new Map(Object.entries(COLLECTIONS).map(([c, v]) => [v.path, c as Collection]));

interface HistoryEvent {
  readonly rv: number;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly collection: Collection;
  readonly object: KubernetesObject;
}

interface OpenWatch {
  readonly res: ServerResponse;
  readonly collection: Collection;
  readonly nodeName: string | undefined;
  readonly bookmarks: boolean;
}

/** Who a token belongs to, as TokenReview's status.user says. */
export interface ReviewUser {
  username: string;
  uid?: string;
  groups?: string[];
}

/** One RBAC rule for non-resource URLs, bound to users and groups (a ClusterRole plus its binding). */
export interface NonResourceGrant {
  users?: string[];
  groups?: string[];
  verbs: string[];
  nonResourceURLs: string[];
}

const AUTHENTICATION_GROUP = 'authentication.k8s.io';
const AUTHORIZATION_GROUP = 'authorization.k8s.io';
const TOKEN_REVIEWS = `/apis/${AUTHENTICATION_GROUP}/v1/tokenreviews`;
const ACCESS_REVIEWS = `/apis/${AUTHORIZATION_GROUP}/v1/subjectaccessreviews`;

// RBAC's own matching (k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac):
// a nonResourceURL rule is the path exactly, or a prefix ending in `*`.
function nonResourceUrlMatches(rule: string, path: string): boolean {
  if (rule === '*' || rule === path) return true;
  return rule.endsWith('*') && path.startsWith(rule.slice(0, -1));
}

export interface KubeApiServerOptions {
  /** Bearer token clients must send; default 'test-token'. */
  token?: string;
  /** Serve HTTPS with a fresh self-signed certificate for 127.0.0.1 (needs openssl). */
  tls?: boolean;
  /** With tls: a CA (PEM) whose client certificates authenticate a request instead of a token. */
  clientCa?: string;
}

/** A self-signed certificate for 127.0.0.1, which is also its own CA. */
export function selfSignedCertificate(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-cert-'));
  try {
    execFileSync(
      'openssl',
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1',
        '-subj', '/CN=kubepulse-test-apiserver', '-addext', 'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Continue tokens held at most. */
const MAX_HELD_PAGES = 1000;

const keyOf = (obj: KubernetesObject) => `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** The API server labels every Namespace with its name (immutable, since Kubernetes 1.21). */
function withNameLabel(namespace: V1Namespace): V1Namespace {
  const name = namespace.metadata?.name ?? '';
  return { ...namespace, metadata: { ...namespace.metadata, labels: { ...namespace.metadata?.labels, 'kubernetes.io/metadata.name': name } } };
}

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

/** A CA and a client certificate it signed (CN=<user>), as a kubeconfig's client-certificate-data holds. */
export function clientCertificate(user: string): { ca: string; cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-client-cert-'));
  const run = (args: string[]) => execFileSync('openssl', args, { stdio: 'ignore', cwd: dir });
  try {
    run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=kubepulse-test-client-ca']);
    run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'client.key', '-out', 'client.csr', '-subj', `/CN=${user}`]);
    run(['x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.pem', '-days', '1']);
    const read = (f: string) => readFileSync(join(dir, f), 'utf8');
    return { ca: read('ca.pem'), cert: read('client.pem'), key: read('client.key') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export class TestKubeApiServer {
  /** The bearer token accepted; assign to rotate it (the old one is refused from then on). */
  token: string;
  /** The server certificate (PEM) when serving TLS; it is its own CA. */
  readonly certificate: string | undefined;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[] = [];
  /** When set, lists answer with this HTTP status (a Status body) instead of the pods. */
  listFailure: number | undefined;
  /** The same for one collection only (wins over listFailure). */
  readonly listFailureOf: Partial<Record<Collection, number>> = {};
  /**
   * When true, watches go silent: open ones get no more events or bookmarks
   * and new ones get their headers, then nothing (a stuck API server, or a
   * half-open connection). Lists still answer.
   */
  hangWatches = false;
  /** Tokens TokenReview knows, and whose they are. */
  readonly users = new Map<string, ReviewUser>();
  /** What SubjectAccessReview allows (non-resource URLs only). */
  readonly grants: NonResourceGrant[] = [];
  /** The caller lacks `create` on the review resources (its ClusterRole is missing): 403. */
  reviewsForbidden = false;
  /** Reviews are answered after this long (a slow API server). */
  reviewDelayMs = 0;
  /** The most reviews that were being answered at once. */
  maxReviewsInFlight = 0;
  private reviewsInFlight = 0;
  /** The username the caller's own token stands for (in 403 messages). */
  callerName = 'system:serviceaccount:kubepulse:kubepulse';

  private server: Server | undefined;
  private readonly key: string | undefined;
  private readonly clientCa: string | undefined;
  /** Called before each list request is answered (tests compact between two pages with it). */
  beforeList: ((request: RecordedRequest) => void) | undefined;
  /** Snapshots of paginated lists, by continue token: what is left of the list after that page. */
  private readonly pages = new Map<string, { rv: number; items: KubernetesObject[] }>();
  private nextContinue = 1;
  private port = 0;
  private readonly sockets = new Set<Socket>();
  private readonly watches = new Set<OpenWatch>();
  private readonly objects: Record<Collection, Map<string, KubernetesObject>> = {
    pods: new Map(),
    services: new Map(),
    nodes: new Map(),
    namespaces: new Map(),
    networkpolicies: new Map(),
    deployments: new Map(),
    ingresses: new Map(),
  };
  private readonly pods = this.objects.pods as Map<string, V1Pod>;
  private history: HistoryEvent[] = [];
  private rv = 1000;
  /** Watches from resource versions below this get 410 Gone. */
  private oldestRv = 1000;

  constructor(options: KubeApiServerOptions = {}) {
    this.token = options.token ?? 'test-token';
    if (options.tls === true) {
      const { cert, key } = selfSignedCertificate();
      this.certificate = cert;
      this.key = key;
      this.clientCa = options.clientCa;
    }
  }

  get url(): string {
    return `${this.certificate === undefined ? 'http' : 'https'}://127.0.0.1:${this.port}`;
  }

  get resourceVersion(): string {
    return String(this.rv);
  }

  /** Lists begun (a list's further pages are not counted again). */
  get listCount(): number {
    return this.requests.filter((r) => !r.watch && (r.query['continue'] ?? '') === '').length;
  }

  /** TokenReviews and SubjectAccessReviews asked for. */
  get tokenReviewCount(): number {
    return this.requests.filter((r) => r.method === 'POST' && r.path === TOKEN_REVIEWS).length;
  }

  get accessReviewCount(): number {
    return this.requests.filter((r) => r.method === 'POST' && r.path === ACCESS_REVIEWS).length;
  }

  /** A token TokenReview authenticates as `user`. */
  addUser(token: string, user: ReviewUser): void {
    this.users.set(token, user);
  }

  /** Lets users/groups use verbs on nonResourceURLs, as a ClusterRole and ClusterRoleBinding do. */
  grantNonResource(grant: NonResourceGrant): void {
    this.grants.push(grant);
  }

  get watchCount(): number {
    return this.requests.filter((r) => r.watch).length;
  }

  get openWatchCount(): number {
    return this.watches.size;
  }

  /** Listens (on the same port as before after a stop). */
  async start(): Promise<void> {
    if (this.server !== undefined) return;
    const handler = (req: IncomingMessage, res: ServerResponse) => this.handle(req, res);
    const server: Server =
      this.certificate === undefined
        ? createServer(handler)
        : createTlsServer(
            // A certificate is asked for, not required: token clients connect too.
            { cert: this.certificate, key: this.key, ...(this.clientCa === undefined ? {} : { ca: this.clientCa, requestCert: true, rejectUnauthorized: false }) },
            handler,
          );
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address !== null && typeof address === 'object') this.port = address.port;
    this.server = server;
  }

  /** Vanishes: closes the listener and cuts every connection, open watches included. */
  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    this.watches.clear();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await closed;
  }

  /** Comes back on the same port; with loseHistory, watches from before get 410 Gone (a restarted watch cache). */
  async restart(options: { loseHistory?: boolean } = {}): Promise<void> {
    await this.stop();
    if (options.loseHistory === true) this.compact();
    await this.start();
  }

  addPod(pod: V1Pod): V1Pod {
    return this.record('pods', 'ADDED', pod);
  }

  modifyPod(pod: V1Pod): V1Pod {
    return this.modify('pods', pod);
  }

  deletePod(namespace: string, name: string): void {
    this.remove('pods', namespace, name);
  }

  /** Adds a Service (namespaced, like pods). */
  addService(service: V1Service): V1Service {
    return this.record('services', 'ADDED', service);
  }

  modifyService(service: V1Service): V1Service {
    return this.modify('services', service);
  }

  deleteService(namespace: string, name: string): void {
    this.remove('services', namespace, name);
  }

  /** Adds a Node (cluster-scoped: no namespace). */
  addNode(node: V1Node): V1Node {
    return this.record('nodes', 'ADDED', node);
  }

  modifyNode(node: V1Node): V1Node {
    return this.modify('nodes', node);
  }

  deleteNode(name: string): void {
    this.remove('nodes', '', name);
  }

  /** Adds a Namespace (cluster-scoped), with the kubernetes.io/metadata.name label the API server always sets. */
  addNamespace(namespace: V1Namespace): V1Namespace {
    return this.record('namespaces', 'ADDED', withNameLabel(namespace));
  }

  modifyNamespace(namespace: V1Namespace): V1Namespace {
    return this.modify('namespaces', withNameLabel(namespace));
  }

  deleteNamespace(name: string): void {
    this.remove('namespaces', '', name);
  }

  addNetworkPolicy(policy: V1NetworkPolicy): V1NetworkPolicy {
    return this.record('networkpolicies', 'ADDED', policy);
  }

  modifyNetworkPolicy(policy: V1NetworkPolicy): V1NetworkPolicy {
    return this.modify('networkpolicies', policy);
  }

  deleteNetworkPolicy(namespace: string, name: string): void {
    this.remove('networkpolicies', namespace, name);
  }

  /** Adds an object of any collection (namespaced or not, as its metadata says). */
  addObject<T extends KubernetesObject>(collection: Collection, object: T): T {
    return this.record(collection, 'ADDED', object);
  }

  modifyObject<T extends KubernetesObject>(collection: Collection, object: T): T {
    return this.modify(collection, object);
  }

  deleteObject(collection: Collection, namespace: string, name: string): void {
    this.remove(collection, namespace, name);
  }

  getPod(namespace: string, name: string): V1Pod | undefined {
    const pod = this.pods.get(`${namespace}/${name}`);
    return pod === undefined ? undefined : clone(pod);
  }

  /** Changes a pod without telling open watches (an event lost in an outage); only a re-list sees it. */
  silentlyDeletePod(namespace: string, name: string): void {
    this.pods.delete(`${namespace}/${name}`);
    this.rv++;
    this.compact();
  }

  /** Sends a BOOKMARK with the current resource version to watches that asked for bookmarks. */
  bookmark(): void {
    if (this.hangWatches) return;
    for (const w of this.watches) {
      if (!w.bookmarks) continue;
      const event = { type: 'BOOKMARK', object: { kind: COLLECTIONS[w.collection].kind, apiVersion: COLLECTIONS[w.collection].apiVersion, metadata: { resourceVersion: String(this.rv) } } };
      w.res.write(JSON.stringify(event) + '\n');
    }
  }

  /** Ends every open watch normally, as the API server does when a watch's timeout runs out. */
  endWatches(): void {
    for (const w of this.watches) w.res.end();
    this.watches.clear();
  }

  /** Forgets the history: watches resuming from an older version get 410 Gone. */
  compact(): void {
    this.history = [];
    this.oldestRv = this.rv;
    for (const [token, page] of this.pages) if (page.rv < this.oldestRv) this.pages.delete(token);
  }

  /** 410 Gone mid-way: every open watch gets an ERROR event and is closed, and the history is compacted. */
  injectGone(): void {
    this.compact();
    const event = { type: 'ERROR', object: status(410, 'Expired', 'too old resource version') };
    for (const w of this.watches) {
      w.res.write(JSON.stringify(event) + '\n');
      w.res.end();
    }
    this.watches.clear();
  }

  /** MODIFIED for an object that exists (an error otherwise). */
  private modify<T extends KubernetesObject>(collection: Collection, object: T): T {
    if (!this.objects[collection].has(keyOf(object))) throw new Error(`no ${COLLECTIONS[collection].kind.toLowerCase()} ${keyOf(object)} to modify`);
    return this.record(collection, 'MODIFIED', object);
  }

  /** DELETED for an object that exists (an error otherwise); namespace '' for cluster-scoped ones. */
  private remove(collection: Collection, namespace: string, name: string): void {
    const object = this.objects[collection].get(`${namespace}/${name}`);
    if (object === undefined) throw new Error(`no ${COLLECTIONS[collection].kind.toLowerCase()} ${namespace === '' ? '' : `${namespace}/`}${name} to delete`);
    this.record(collection, 'DELETED', object);
  }

  private record<T extends KubernetesObject>(collection: Collection, type: HistoryEvent['type'], input: T): T {
    const object = clone(input);
    this.rv++;
    object.metadata = { ...object.metadata, resourceVersion: String(this.rv) };
    if (type === 'DELETED') this.objects[collection].delete(keyOf(object));
    else this.objects[collection].set(keyOf(object), object);
    const event: HistoryEvent = { rv: this.rv, type, collection, object };
    this.history.push(event);
    for (const w of this.watches) this.send(w, event);
    return clone(object);
  }

  private send(w: OpenWatch, event: HistoryEvent): void {
    if (this.hangWatches) return;
    if (event.collection !== w.collection) return;
    if (w.nodeName !== undefined && (event.object as V1Pod).spec?.nodeName !== w.nodeName) return;
    w.res.write(JSON.stringify({ type: event.type, object: event.object }) + '\n');
  }

  /** A TokenReview or SubjectAccessReview: read the posted object, fill in its status, answer 201. */
  private review(req: IncomingMessage, path: string, reply: (code: number, body: unknown) => void): void {
    const token = path === TOKEN_REVIEWS;
    const [resource, group] = token ? ['tokenreviews', AUTHENTICATION_GROUP] : ['subjectaccessreviews', AUTHORIZATION_GROUP];
    const kind = token ? 'TokenReview' : 'SubjectAccessReview';
    const chunks: Buffer[] = [];
    this.reviewsInFlight++;
    this.maxReviewsInFlight = Math.max(this.maxReviewsInFlight, this.reviewsInFlight);
    const done = reply;
    reply = (code, body) => {
      this.reviewsInFlight--;
      done(code, body);
    };
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      if (this.reviewDelayMs > 0) await new Promise((r) => setTimeout(r, this.reviewDelayMs));
      if (this.reviewsForbidden) {
        const message = `${resource}.${group} is forbidden: User "${this.callerName}" cannot create resource "${resource}" in API group "${group}" at the cluster scope`;
        reply(403, status(403, 'Forbidden', message));
        return;
      }
      let object: { apiVersion?: string; kind?: string; spec?: Record<string, unknown> };
      try {
        object = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof object;
      } catch (err) {
        reply(400, status(400, 'BadRequest', `the object provided is unrecognized: ${(err as Error).message}`));
        return;
      }
      if (object.apiVersion !== `${group}/v1` || object.kind !== kind) {
        reply(400, status(400, 'BadRequest', `the API version in the data (${object.apiVersion}) does not match the expected API version (${group}/v1) or kind (${kind})`));
        return;
      }
      const spec = object.spec ?? {};
      const answer = (statusField: Record<string, unknown>) =>
        reply(201, { kind, apiVersion: `${group}/v1`, metadata: { creationTimestamp: null }, spec, status: statusField });
      if (token) {
        const user = this.users.get(String(spec['token'] ?? ''));
        answer(user === undefined ? { user: {}, error: '[invalid bearer token, token lookup failed]' } : { authenticated: true, user: { uid: '', groups: [], ...user } });
        return;
      }
      const user = typeof spec['user'] === 'string' ? spec['user'] : '';
      const groups = Array.isArray(spec['groups']) ? (spec['groups'] as string[]) : [];
      const attributes = spec['nonResourceAttributes'] as { path?: string; verb?: string } | undefined;
      if (user === '' && groups.length === 0) {
        reply(422, status(422, 'Invalid', `SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": at least one of user or group must be specified`));
        return;
      }
      const allowed =
        attributes !== undefined &&
        this.grants.some(
          (g) =>
            ((g.users ?? []).includes(user) || (g.groups ?? []).some((x) => groups.includes(x))) &&
            g.verbs.some((v) => v === '*' || v === attributes.verb) &&
            g.nonResourceURLs.some((u) => nonResourceUrlMatches(u, attributes.path ?? '')),
        );
      answer(allowed ? { allowed: true, reason: 'RBAC: allowed by ClusterRoleBinding' } : { allowed: false });
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const query = Object.fromEntries(url.searchParams);
    const watch = query['watch'] === 'true' || query['watch'] === '1';
    const authorization = req.headers.authorization ?? '';
    const socket = req.socket as TLSSocket;
    const clientCertificate = this.clientCa !== undefined && socket.authorized ? String(socket.getPeerCertificate().subject?.CN ?? '') : '';
    this.requests.push({ method: req.method ?? '', path: url.pathname, query, watch, authorization, clientCertificate });

    const reply = (code: number, body: unknown) => {
      res.writeHead(code, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (authorization !== `Bearer ${this.token}` && clientCertificate === '') {
      reply(401, status(401, 'Unauthorized', 'Unauthorized'));
      return;
    }
    if (req.method === 'POST' && (url.pathname === TOKEN_REVIEWS || url.pathname === ACCESS_REVIEWS)) {
      this.review(req, url.pathname, reply);
      return;
    }
    const collection = COLLECTION_OF_PATH.get(url.pathname);
    if (req.method !== 'GET' || collection === undefined) {
      reply(404, status(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`));
      return;
    }
    let nodeName: string | undefined;
    const selector = query['fieldSelector'];
    if (selector !== undefined && selector !== '') {
      const match = collection === 'pods' ? /^spec\.nodeName==?(.*)$/.exec(selector) : null;
      if (match === null) {
        reply(400, status(400, 'BadRequest', `unable to parse requirement: field label not supported: ${selector}`));
        return;
      }
      nodeName = match[1];
    }
    const matches = (obj: KubernetesObject) => nodeName === undefined || (obj as V1Pod).spec?.nodeName === nodeName;
    const objects = this.objects[collection];

    if (!watch) {
      this.beforeList?.(this.requests[this.requests.length - 1]!);
      const failure = this.listFailureOf[collection] ?? this.listFailure;
      if (failure !== undefined) {
        reply(failure, status(failure, 'InternalError', 'injected list failure'));
        return;
      }
      // A continued list pages through the snapshot its first page took.
      let snapshot = { rv: this.rv, items: [...objects.values()].filter(matches) };
      const token = query['continue'];
      if (token !== undefined && token !== '') {
        const held = this.pages.get(token);
        if (held === undefined) {
          const issued = /^c(\d+)$/.exec(token) !== null && Number(token.slice(1)) < this.nextContinue;
          if (issued) reply(410, status(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.'));
          else reply(400, status(400, 'BadRequest', 'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)'));
          return;
        }
        snapshot = held;
      }
      const limit = Number(query['limit'] ?? 0);
      let items = snapshot.items;
      let rest: KubernetesObject[] = [];
      if (limit > 0 && items.length > limit) {
        rest = items.slice(limit);
        items = items.slice(0, limit);
      }
      let more = {};
      if (rest.length > 0) {
        const next = `c${this.nextContinue++}`;
        this.pages.set(next, { rv: snapshot.rv, items: rest });
        // Bounded, oldest first (what a long soak lists must not pile up here); those expire.
        if (this.pages.size > MAX_HELD_PAGES) this.pages.delete(this.pages.keys().next().value!);
        more = { continue: next, ...(selector === undefined || selector === '' ? { remainingItemCount: rest.length } : {}) };
      }
      reply(200, {
        kind: COLLECTIONS[collection].listKind,
        apiVersion: COLLECTIONS[collection].apiVersion,
        metadata: { resourceVersion: String(snapshot.rv), ...more },
        items,
      });
      return;
    }

    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    if (this.hangWatches) return; // open, and silent until the client gives up (its socket is cut by stop())
    const w: OpenWatch = { res, collection, nodeName, bookmarks: query['allowWatchBookmarks'] === 'true' };
    const from = query['resourceVersion'];
    if (from === undefined || from === '' || from === '0') {
      // "Any version": the current state as ADDED events, then changes.
      for (const obj of objects.values()) if (matches(obj)) res.write(JSON.stringify({ type: 'ADDED', object: obj }) + '\n');
    } else {
      const since = Number(from);
      if (!Number.isFinite(since) || since < this.oldestRv) {
        res.write(JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from} (${this.oldestRv})`) }) + '\n');
        res.end();
        return;
      }
      for (const event of this.history) if (event.rv > since) this.send(w, event);
    }
    this.watches.add(w);
    // The server ends a watch when the timeout it was asked for runs out (a hanging one does not).
    const timeoutSeconds = Number(query['timeoutSeconds'] ?? 0);
    const timer =
      timeoutSeconds > 0
        ? setTimeout(() => {
            if (!this.hangWatches && this.watches.delete(w)) res.end();
          }, timeoutSeconds * 1000).unref()
        : undefined;
    req.on('close', () => {
      clearTimeout(timer);
      this.watches.delete(w);
    });
  }
}
