// The in-cluster endpoint: what a pod has, without any Kubernetes library.
//
// The service account token is a bound token: it expires (one hour by
// default) and the kubelet rewrites the file before it does. A client that
// read it once fails an hour after start, so the file is read again for
// every request (a few per resync period: lists and watches, not events).
// The CA is read once, when the agent is made: it rotates only with the
// cluster's CA, which restarts its pods.
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { isIPv6 } from 'node:net';
import { join } from 'node:path';
import type { Endpoint, RequestAuth } from './endpoint.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface InClusterOptions {
  host: string;
  port: string;
  /** Holds token and ca.crt; the standard mount unless a test says otherwise. */
  serviceAccountDir?: string;
}

export class InClusterEndpoint implements Endpoint {
  readonly server: string;
  private readonly tokenPath: string;
  private readonly caPath: string;
  private agent: Agent | undefined;

  constructor(options: InClusterOptions) {
    const host = isIPv6(options.host) ? `[${options.host}]` : options.host;
    this.server = `https://${host}:${options.port}`;
    const dir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
    this.tokenPath = join(dir, 'token');
    this.caPath = join(dir, 'ca.crt');
  }

  async ready(): Promise<void> {
    this.agentWithCa();
  }

  async authorize(): Promise<RequestAuth> {
    const agent = this.agentWithCa();
    let token: string;
    try {
      token = (await readFile(this.tokenPath, 'utf8')).trim();
    } catch (err) {
      throw new Error(`cannot read the service account token ${this.tokenPath}: ${(err as Error).message}`);
    }
    if (token === '') throw new Error(`the service account token ${this.tokenPath} is empty`);
    return { agent, headers: { authorization: `Bearer ${token}` } };
  }

  private agentWithCa(): Agent {
    if (this.agent !== undefined) return this.agent;
    let ca: Buffer;
    try {
      ca = readFileSync(this.caPath);
    } catch (err) {
      throw new Error(`cannot read the cluster CA ${this.caPath}: ${(err as Error).message}`);
    }
    this.agent = new Agent({ ca, keepAlive: true });
    return this.agent;
  }
}
