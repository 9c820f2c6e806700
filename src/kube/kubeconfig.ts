// A kubeconfig endpoint: @kubernetes/client-node reads the file and
// authenticates each request (token, token file, client certificate, exec
// plugin, OIDC, basic auth, proxy-url), as kubectl would.
//
// The library is imported here only, when a kubeconfig is used: its import
// alone costs about 70 MiB of RSS, more than the rest of the daemon, and the
// in-cluster daemon never needs it.
//
// A server with http:// (kubectl proxy, a local API server) has no TLS to
// verify; the library refuses it unless insecure-skip-tls-verify is set,
// kubectl does not. The cluster is marked skip-verify for the library,
// which then makes a plain HTTP agent: nothing is skipped that existed.
// A file that is missing or does not parse is the user's to fix: UserError,
// one line, no stack.
import { readFileSync } from 'node:fs';
import type { Agent } from 'node:http';
import type { RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { UserError } from '../errors.js';
import type { Endpoint, RequestAuth } from './endpoint.js';

export class KubeconfigEndpoint implements Endpoint {
  private config: KubeConfig | undefined;
  private loading: Promise<KubeConfig> | undefined;
  private serverUrl: string;

  /** Reads the file at once, so that a missing or unreadable one is a start-up error. */
  constructor(readonly path: string) {
    try {
      readFileSync(path);
    } catch (err) {
      throw new UserError(`cannot load kubeconfig ${path}: ${(err as Error).message}`);
    }
    this.serverUrl = '';
  }

  /** Known once ready() has loaded the file; '' before. */
  get server(): string {
    return this.serverUrl;
  }

  async ready(): Promise<void> {
    await this.load();
  }

  async authorize(): Promise<RequestAuth> {
    const config = await this.load();
    const options: RequestOptions = {};
    await config.applyToHTTPSOptions(options);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    }
    return { agent: options.agent as Agent, headers, auth: options.auth ?? undefined };
  }

  private load(): Promise<KubeConfig> {
    if (this.config !== undefined) return Promise.resolve(this.config);
    this.loading ??= this.loadOnce().finally(() => (this.loading = undefined));
    return this.loading;
  }

  private async loadOnce(): Promise<KubeConfig> {
    const { KubeConfig } = await import('@kubernetes/client-node');
    const config = new KubeConfig();
    try {
      config.loadFromFile(this.path);
    } catch (err) {
      throw new UserError(`cannot load kubeconfig ${this.path}: ${(err as Error).message.split('\n')[0]}`);
    }
    const cluster = config.getCurrentCluster();
    if (cluster === null) throw new UserError(`kubeconfig ${this.path} has no current context with a cluster`);
    if (!/^https?:\/\//.test(cluster.server)) throw new UserError(`kubeconfig ${this.path}: server "${cluster.server}" is not an http:// or https:// URL`);
    if (cluster.server.startsWith('http://') && !cluster.skipTLSVerify) {
      config.loadFromOptions({
        clusters: config.clusters.map((c) => (c === cluster ? { ...c, skipTLSVerify: true } : c)),
        contexts: config.contexts,
        users: config.users,
        currentContext: config.currentContext,
      });
    }
    this.serverUrl = cluster.server.replace(/\/+$/, '');
    this.config = config;
    return config;
  }
}
