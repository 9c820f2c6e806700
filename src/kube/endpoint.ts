// Where an API server is and how each request to it is authenticated.
//
// An Endpoint is asked before every request: credentials change while the
// daemon runs (the kubelet rotates the service account token, exec plugins
// hand out tokens that expire), so nothing is read once and kept forever.
import type { Agent } from 'node:http';

/** What a request needs beyond its path: the agent (TLS settings) and the headers (credentials). */
export interface RequestAuth {
  readonly agent: Agent;
  readonly headers: Readonly<Record<string, string>>;
  /** user:password for basic authentication, when the kubeconfig has one. */
  readonly auth?: string | undefined;
}

export interface Endpoint {
  /** The server's base URL (https://host:port, or http:// for e.g. kubectl proxy). */
  readonly server: string;
  /** Loads what must be loaded before the first request; a broken configuration throws here. */
  ready(): Promise<void>;
  /** Credentials and TLS for one request, read afresh. */
  authorize(): Promise<RequestAuth>;
}
