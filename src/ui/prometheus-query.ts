// Instant queries against Prometheus's HTTP API (/api/v1/query), answered as
// plain samples. A failed request or an answer that is not an instant vector
// is a SourceError naming the Prometheus and the reason, never a half answer.

import { getJson, joinUrl, SourceError, type HttpOptions } from '../policy/sources.js';

export interface PromSample {
  labels: Record<string, string>;
  value: number;
}

/** Runs one PromQL instant query; the samples whose value is a finite number. */
export async function instantQuery(base: string, query: string, opts: HttpOptions): Promise<PromSample[]> {
  const source = `prometheus ${base}`;
  const body = await getJson(source, `${joinUrl(base, '/api/v1/query')}?query=${encodeURIComponent(query)}`, opts);
  return parseVector(source, body);
}

export function parseVector(source: string, body: unknown): PromSample[] {
  const o = body as { status?: unknown; error?: unknown; data?: { resultType?: unknown; result?: unknown } } | null;
  if (typeof o !== 'object' || o === null) throw new SourceError(source, 'unexpected answer from /api/v1/query: not an object');
  if (o.status !== 'success') throw new SourceError(source, `query failed: ${typeof o.error === 'string' ? o.error : JSON.stringify(o.status)}`);
  if (o.data?.resultType !== 'vector' || !Array.isArray(o.data.result))
    throw new SourceError(source, `unexpected answer from /api/v1/query: resultType ${JSON.stringify(o.data?.resultType)}, expected vector`);
  const out: PromSample[] = [];
  for (const r of o.data.result as unknown[]) {
    const metric = (r as { metric?: unknown } | null)?.metric;
    const value = (r as { value?: unknown } | null)?.value;
    if (typeof metric !== 'object' || metric === null || !Array.isArray(value)) continue;
    const v = Number(value[1]);
    if (!Number.isFinite(v)) continue;
    const labels: Record<string, string> = {};
    for (const [k, x] of Object.entries(metric)) if (typeof x === 'string') labels[k] = x;
    out.push({ labels, value: v });
  }
  return out;
}
