// Container image references as the runtimes read them: an optional registry
// host (a first component with a '.' or ':', or `localhost`; otherwise
// Docker Hub, whose one-part names live under `library/`), a path, an
// optional `:tag` and an optional `@digest`.

export interface ImageReference {
  /** Registry host (with port), docker.io when the reference names none. */
  readonly registry: string;
  /** registry/path, e.g. docker.io/library/nginx. */
  readonly name: string;
  /** '' when the reference has no tag. */
  readonly tag: string;
  /** '' when the reference has no digest. */
  readonly digest: string;
}

export const DOCKER_HUB = 'docker.io';

export function parseImage(image: string): ImageReference {
  let rest = image.trim();
  let digest = '';
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag = '';
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  const hasRegistry = first !== '' && (first.includes('.') || first.includes(':') || first === 'localhost');
  const registry = hasRegistry ? first : DOCKER_HUB;
  let path = hasRegistry ? rest.slice(slash + 1) : rest;
  if (!hasRegistry && !path.includes('/')) path = `library/${path}`;
  return { registry: registry === 'index.docker.io' ? DOCKER_HUB : registry, name: `${registry === 'index.docker.io' ? DOCKER_HUB : registry}/${path}`, tag, digest };
}

/**
 * Whether an image comes from one of the allowed registries. An entry is a
 * registry host (`ghcr.io`, `registry.local:5000`) or a prefix of the name
 * (`ghcr.io/acme`, `docker.io/library`).
 */
export function fromAllowedRegistry(ref: ImageReference, allowed: readonly string[]): boolean {
  return allowed.some((entry) => {
    const e = entry.replace(/\/+$/, '');
    return ref.registry === e || ref.name.startsWith(`${e}/`);
  });
}
