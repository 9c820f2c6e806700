// GET /api/v1/status: one agent's health in one JSON object, for
// `kubepulse status`. Built from the daemon's own metrics (read through the
// registry, so the figures are the ones Prometheus scrapes) plus readiness.

import type { Registry } from 'prom-client';

export interface AgentStatus {
  node: string;
  version: string;
  uptime_seconds: number;
  ready: boolean;
  reasons: string[];
  probes: Array<{ name: string; attached: boolean; hook: string; events_per_second: number; events_total: number; dropped_total: number }>;
  pods_known: number;
  flows_tracked: number;
  stream: { subscribers: number; history: number; dropped_total: number };
}

export interface StatusSources {
  node: string;
  version: string;
  registry: Registry;
  readiness: () => { ready: boolean; reasons: string[] };
  podsKnown: () => number;
}

type Values = Array<{ labels: Record<string, string | number>; value: number }>;

async function values(registry: Registry, name: string): Promise<Values> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return [];
  return ((await metric.get()).values as Values) ?? [];
}

const sum = (v: Values): number => v.reduce((a, x) => a + x.value, 0);

/** Events/s per probe over the last ~10 s, from totals sampled at each request and every 5 s. */
export class StatusReporter {
  private readonly started = Date.now();
  private samples: Array<{ at: number; totals: Map<string, number> }> = [];
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly src: StatusSources) {
    this.timer = setInterval(() => void this.totals().then((t) => this.remember(t)), 5000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async status(): Promise<AgentStatus> {
    const r = this.src.registry;
    const [attached, info, drops, flows, sDropped, sSubs, sHistory] = await Promise.all([
      values(r, 'kubepulse_probe_attached'),
      values(r, 'kubepulse_probe_info'),
      values(r, 'kubepulse_events_dropped_total'),
      values(r, 'kubepulse_flows_tracked'),
      values(r, 'kubepulse_stream_dropped_total'),
      values(r, 'kubepulse_stream_subscribers'),
      values(r, 'kubepulse_stream_history_events'),
    ]);
    const totals = await this.totals();
    const now = Date.now();
    const base = this.samples.find((s) => now - s.at <= 15_000 && now - s.at >= 1000);
    this.remember(totals);
    const { ready, reasons } = this.src.readiness();
    return {
      node: this.src.node,
      version: this.src.version,
      uptime_seconds: Math.round((now - this.started) / 1000),
      ready,
      reasons,
      probes: attached.map((a) => {
        const name = String(a.labels.probe);
        const total = totals.get(name) ?? 0;
        const rate = base ? (total - (base.totals.get(name) ?? 0)) / ((now - base.at) / 1000) : 0;
        return {
          name,
          attached: a.value === 1,
          hook: String(info.find((i) => i.labels.probe === name)?.labels.hook ?? ''),
          events_per_second: Math.round(rate * 10) / 10,
          events_total: total,
          dropped_total: sum(drops.filter((d) => d.labels.type === name)),
        };
      }),
      pods_known: this.src.podsKnown(),
      flows_tracked: sum(flows),
      stream: { subscribers: sum(sSubs), history: sum(sHistory), dropped_total: sum(sDropped) },
    };
  }

  private async totals(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const v of await values(this.src.registry, 'kubepulse_events_total')) out.set(String(v.labels.type), v.value);
    return out;
  }

  private remember(totals: Map<string, number>): void {
    const now = Date.now();
    this.samples.push({ at: now, totals });
    this.samples = this.samples.filter((s) => now - s.at <= 15_000);
  }
}
