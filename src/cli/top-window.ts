// What `kubepulse top` shows: per workload, over a sliding window of
// one-second buckets, connections/s, connect p99, DNS queries/s and the DNS
// failure share. Latencies are kept per bucket up to a bound (a uniform
// sample beyond it), so a storm cannot grow the client's memory.

const SAMPLES_PER_BUCKET = 512;

interface Bucket {
  second: number;
  connects: number;
  connectFailures: number;
  latencies: number[];
  latencySeen: number;
  dns: number;
  dnsFailures: number;
}

export interface WorkloadRow {
  namespace: string;
  workload: string;
  connectionsPerSecond: number;
  connectFailurePercent: number;
  connectP99Seconds: number | undefined;
  dnsPerSecond: number;
  dnsFailurePercent: number;
}

export class TopWindow {
  private readonly workloads = new Map<string, Bucket[]>();

  constructor(private readonly windowSeconds = 10) {}

  add(e: Record<string, unknown>, nowMs = Date.now()): void {
    const second = Math.floor(nowMs / 1000);
    const key = `${String(e.namespace ?? '')}\u0000${String(e.workload || e.pod || '(host)')}`;
    let buckets = this.workloads.get(key);
    if (!buckets) this.workloads.set(key, (buckets = []));
    let b = buckets[buckets.length - 1];
    if (!b || b.second !== second) {
      buckets.push((b = { second, connects: 0, connectFailures: 0, latencies: [], latencySeen: 0, dns: 0, dnsFailures: 0 }));
      while (buckets.length > 0 && (buckets[0] as Bucket).second <= second - this.windowSeconds) buckets.shift();
    }
    if (e.type === 'tcp') {
      if (e.result === 'closed' || e.result === 'reset') return; // ends of connections, not attempts
      b.connects++;
      if (e.result !== 'established') b.connectFailures++;
      else if (typeof e.latency_seconds === 'number') {
        b.latencySeen++;
        if (b.latencies.length < SAMPLES_PER_BUCKET) b.latencies.push(e.latency_seconds);
        else {
          const j = Math.floor(Math.random() * b.latencySeen);
          if (j < SAMPLES_PER_BUCKET) b.latencies[j] = e.latency_seconds;
        }
      }
    } else if (e.type === 'dns') {
      b.dns++;
      if (e.rcode !== 'NOERROR') b.dnsFailures++;
    }
  }

  rows(nowMs = Date.now()): WorkloadRow[] {
    const from = Math.floor(nowMs / 1000) - this.windowSeconds;
    const out: WorkloadRow[] = [];
    for (const [key, buckets] of this.workloads) {
      const live = buckets.filter((b) => b.second > from);
      if (live.length === 0) {
        this.workloads.delete(key);
        continue;
      }
      const [namespace, workload] = key.split('\u0000') as [string, string];
      const sum = (f: (b: Bucket) => number) => live.reduce((a, b) => a + f(b), 0);
      const connects = sum((b) => b.connects);
      const dns = sum((b) => b.dns);
      const lat = live.flatMap((b) => b.latencies).sort((a, b) => a - b);
      out.push({
        namespace,
        workload,
        connectionsPerSecond: connects / this.windowSeconds,
        connectFailurePercent: connects > 0 ? (100 * sum((b) => b.connectFailures)) / connects : 0,
        connectP99Seconds: lat.length > 0 ? lat[Math.min(lat.length - 1, Math.ceil(lat.length * 0.99) - 1)] : undefined,
        dnsPerSecond: dns / this.windowSeconds,
        dnsFailurePercent: dns > 0 ? (100 * sum((b) => b.dnsFailures)) / dns : 0,
      });
    }
    return out;
  }
}
