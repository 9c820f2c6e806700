// The selected workload: connect p50/p99, connection results, DNS by domain
// and rcode, top peers, the last events from the live stream, and the
// NetworkPolicy `kubepulse policy network` would write for it.

import type { Topology, TopologyNode } from '../api/topology.js';
import { rate } from './map.js';
import type { DataSource } from './source.js';

function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

export function duration(s: number | null): string {
  if (s === null) return '–';
  return s >= 1 ? `${s.toFixed(2)} s` : s >= 0.001 ? `${(s * 1000).toFixed(1)} ms` : `${Math.round(s * 1e6)} µs`;
}

function table(headers: string[], rows: (string | number)[][]): HTMLElement {
  if (rows.length === 0) return h('p', { class: 'none' }, 'none in the range');
  return h(
    'table',
    {},
    h('thead', {}, h('tr', {}, ...headers.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((c) => h('td', {}, String(c)))))),
  );
}

type Ev = Record<string, unknown>;

function eventLine(e: Ev): string {
  const time = String(e.time ?? '').slice(11, 23);
  if (e.type === 'tcp') return `${time} tcp ${String(e.result)} ${String(e.peer)}${typeof e.latency_seconds === 'number' ? ` ${duration(e.latency_seconds)}` : ''}`;
  if (e.type === 'dns') return `${time} dns ${String(e.rcode)} ${String(e.qtype)} ${String(e.name)}`;
  const peer = (e.peer ?? {}) as Ev;
  return `${time} flow ${String(e.protocol)}/${String(e.port)} ${String(e.direction)} ${String(peer.kind)} ${String(peer.name ?? peer.workload ?? peer.address ?? '')} +${String(e.delta)}`;
}

export class Details {
  private events: EventSource | undefined;
  private eventsFor = '';
  private readonly lines: string[] = [];
  private readonly eventList = h('ol', { class: 'events', 'aria-live': 'polite' });
  /** The policy fetched for the selected workload; the panel is redrawn every refresh, this is not. */
  private policy: { key: string; yaml: string | undefined; note: string } | undefined;

  constructor(
    private readonly panel: HTMLElement,
    private readonly source: DataSource,
  ) {}

  show(node: TopologyNode | undefined, t: Topology): void {
    if (!node) {
      this.panel.replaceChildren(h('p', { class: 'hint' }, 'Select a workload on the map or in the table.'));
      this.follow(undefined);
      return;
    }
    const f = node.figures;
    const peers = t.edges
      .filter((e) => e.source === node.id || e.target === node.id)
      .sort((a, b) => b.count - a.count)
      .slice(0, 8)
      .map((e) => [e.source === node.id ? `→ ${e.target.replace(/^[a-z]+:/, '')}` : `← ${e.source.replace(/^[a-z]+:/, '')}`, `${e.protocol}/${e.port}`, e.count, rate(e.ratePerSecond)]);
    const parts: (Node | string)[] = [
      h('h2', {}, node.kind === 'workload' || node.kind === 'service' ? `${node.namespace}/${node.name}` : node.name),
      h('p', { class: `health ${node.health}`, 'data-health': node.health }, `${node.kind}${node.workloadKind ? ` (${node.workloadKind})` : ''} · ${node.health}${node.reasons.length ? `: ${node.reasons.join(', ')}` : ''}`),
    ];
    if (f) {
      parts.push(
        h('dl', { class: 'figures' }, h('dt', {}, 'connect p50'), h('dd', { 'data-figure': 'p50' }, duration(f.connectP50Seconds)), h('dt', {}, 'connect p99'), h('dd', { 'data-figure': 'p99' }, duration(f.connectP99Seconds)), h('dt', {}, 'DNS failing'), h('dd', { 'data-figure': 'dns-failure' }, f.dnsFailureRatio === null ? '–' : `${(f.dnsFailureRatio * 100).toFixed(1)} %`)),
        h('h3', {}, 'Connections'),
        table(['result', 'count'], Object.entries(f.connections).sort((a, b) => b[1] - a[1])),
        h('h3', {}, 'DNS'),
        table(['domain', 'rcode', 'count'], f.dns.slice(0, 12).map((d) => [d.domain || '(all domains)', d.rcode || '(queries)', d.count])),
      );
    }
    parts.push(h('h3', {}, 'Top peers'), table(['peer', 'port', 'count', 'rate'], peers));
    if (node.kind === 'workload' && node.namespace !== undefined) {
      const copy = h('button', { type: 'button', class: 'copy-policy' }, 'Copy NetworkPolicy');
      const out = h('pre', { class: 'policy', hidden: '' });
      const note = h('p', { class: 'policy-note', role: 'status' });
      copy.addEventListener('click', () => void this.copyPolicy(node));
      parts.push(h('h3', {}, 'Last events'), this.eventList, h('h3', {}, 'NetworkPolicy'), copy, note, out);
    }
    this.panel.replaceChildren(...parts);
    this.paintPolicy(`${node.namespace}/${node.name}`);
    this.follow(node.kind === 'workload' ? node : undefined);
  }

  private async copyPolicy(node: TopologyNode): Promise<void> {
    const key = `${node.namespace}/${node.name}`;
    const done = (yaml: string | undefined, note: string): void => {
      this.policy = { key, yaml, note };
      this.paintPolicy(key);
    };
    try {
      const p = await this.source.policy(node.namespace ?? '', node.name);
      if (!p) return done(undefined, 'this source has no policy endpoint');
      const warnings = p.warnings.length ? ` (${p.warnings.join('; ')})` : '';
      try {
        await navigator.clipboard.writeText(p.yaml);
        done(p.yaml || '# nothing observed to allow', `copied${warnings}`);
      } catch {
        done(p.yaml || '# nothing observed to allow', `shown below; the clipboard is not available here${warnings}`);
      }
    } catch (err) {
      done(undefined, String(err instanceof Error ? err.message : err));
    }
  }

  /** Writes the fetched policy into the panel as it is now (it may have been redrawn since the click). */
  private paintPolicy(key: string): void {
    const p = this.policy;
    if (!p || p.key !== key) return;
    const out = this.panel.querySelector<HTMLElement>('pre.policy');
    const note = this.panel.querySelector<HTMLElement>('.policy-note');
    if (note) note.textContent = p.note;
    if (out && p.yaml !== undefined) {
      out.textContent = p.yaml;
      out.hidden = false;
    }
  }

  /** One EventSource for the selected workload: its last 20 events, then live. */
  private follow(node: TopologyNode | undefined): void {
    const key = node ? `${node.namespace}/${node.name}` : '';
    if (key === this.eventsFor) return;
    this.events?.close();
    this.events = undefined;
    this.eventsFor = key;
    this.lines.length = 0;
    this.eventList.replaceChildren();
    if (!node) return;
    const url = this.source.eventsUrl(node.namespace ?? '', node.name, 20);
    if (!url) return;
    this.events = new EventSource(url);
    this.events.onmessage = (m) => {
      try {
        this.lines.push(eventLine(JSON.parse(m.data as string) as Ev));
      } catch {
        return;
      }
      if (this.lines.length > 20) this.lines.shift();
      this.eventList.replaceChildren(...this.lines.map((l) => h('li', {}, l)));
    };
  }
}
