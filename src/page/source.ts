// Where the page's data comes from: the one place that knows. By default the
// API beside the page (relative URLs, so a path prefix such as kubectl
// proxy's works); `?api=<base>` points it elsewhere. An agent serves
// api/v1/topology and api/v1/events itself; `kubepulse ui --prometheus`
// would serve the same two paths beside the same page, built from
// Prometheus, and nothing here changes.

import type { Topology } from '../api/topology.js';

export interface DataSource {
  topology(range: string): Promise<Topology>;
  /** The live stream of one workload, the last N events first; null where the source has none. */
  eventsUrl(namespace: string, workload: string, last: number): string | null;
  policy(namespace: string, workload: string): Promise<{ yaml: string; warnings: string[] } | null>;
}

export function dataSource(location: Location): DataSource {
  const given = new URLSearchParams(location.search).get('api');
  const base = new URL(given ?? 'api/v1/', location.href);
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  const url = (path: string, params: Record<string, string>): string => {
    const u = new URL(path, base);
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    return u.href;
  };
  const text = async (res: Response): Promise<string> => (await res.text()).trim();
  return {
    async topology(range) {
      const res = await fetch(url('topology', { range }), { cache: 'no-store' });
      if (!res.ok) throw new Error(`topology: ${res.status} ${await text(res)}`);
      return (await res.json()) as Topology;
    },
    eventsUrl: (namespace, workload, last) => url('events', { namespace, workload, last: String(last) }),
    async policy(namespace, workload) {
      const res = await fetch(url('policy/network', { namespace, workload }));
      if (res.status === 404) return null;
      if (!res.ok) throw new Error(`policy: ${res.status} ${await text(res)}`);
      return (await res.json()) as { yaml: string; warnings: string[] };
    },
  };
}
