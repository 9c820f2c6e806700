// Which paths each listener answers when --web.api-listen-address splits the
// endpoints: Prometheus and the kubelet on the main port, the detailed
// /api/v1 (peer addresses, syscalls per container) and the page on another,
// which a NetworkPolicy or firewall can close to everyone but operators.

export type PathFilter = (pathname: string) => boolean;

const HEALTH = new Set(['/healthz', '/readyz']);

/** The main listener when the API has its own: /metrics and health. */
export const METRICS_PATHS: PathFilter = (p) => p === '/metrics' || HEALTH.has(p);

/** The API listener: /api/v1/*, the page (/ and /ui/*), and health (for its own probes). */
export const API_PATHS: PathFilter = (p) => p.startsWith('/api/') || p === '/' || p.startsWith('/ui/') || HEALTH.has(p);
