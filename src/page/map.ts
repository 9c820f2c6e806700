// The map: islands, vertices and edges as SVG, updated in place (elements
// kept by id, only changed attributes written), so a refresh every second
// neither rebuilds the DOM nor moves anything (layout.ts). Pan with a drag,
// zoom with the wheel; a vertex is a focusable button.

import type { IslandBox, Point } from './layout.js';
import { CELL_H, CELL_W } from './layout.js';
import type { View, ViewEdge, ViewVertex } from './view.js';

const SVG = 'http://www.w3.org/2000/svg';
/** Beyond this many edges their labels (port, rate) are drawn for the selection only. */
const LABELS_UP_TO = 150;
/**
 * Beyond this many edges they are drawn as one path per health colour (no
 * arrowheads), and only the selection's edges as elements of their own:
 * 5,000 paths with titles and markers cost the browser seconds to style and
 * paint; three paths cost milliseconds. The table lists every flow.
 */
const BULK_FROM = 1000;

function el<K extends keyof SVGElementTagNameMap>(name: K, attrs: Record<string, string> = {}): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function set(e: Element, name: string, value: string): void {
  if (e.getAttribute(name) !== value) e.setAttribute(name, value);
}

function setText(e: Element, text: string): void {
  if (e.textContent !== text) e.textContent = text;
}

export function rate(r: number): string {
  return r >= 100 ? `${Math.round(r)}/s` : r >= 1 ? `${r.toFixed(1)}/s` : r > 0 ? `${r.toFixed(2)}/s` : '0/s';
}

const KIND_MARK: Record<ViewVertex['kind'], string> = { workload: '', service: 'svc', node: 'node', external: 'ext', namespace: 'ns' };

export interface MapCallbacks {
  select(id: string): void;
  toggleIsland(island: string): void;
}

export class TopologyMap {
  readonly svg: SVGSVGElement;
  private readonly islandLayer = el('g', { class: 'islands' });
  private readonly edgeLayer = el('g', { class: 'edges' });
  private readonly labelLayer = el('g', { class: 'edge-labels' });
  private readonly vertexLayer = el('g', { class: 'vertices' });
  private readonly islands = new Map<string, SVGGElement>();
  private readonly vertices = new Map<string, SVGGElement>();
  private readonly edges = new Map<string, SVGPathElement>();
  private readonly labels = new Map<string, SVGTextElement>();
  private readonly bulk = new Map<string, SVGPathElement>();
  private viewBox = { x: -20, y: -20, w: 1200, h: 800 };
  private fitted = false;
  selected: string | undefined;

  constructor(
    container: HTMLElement,
    private readonly callbacks: MapCallbacks,
  ) {
    this.svg = el('svg', { class: 'map', role: 'group', 'aria-label': 'Topology map' });
    const defs = el('defs');
    for (const h of ['ok', 'slow', 'failing']) {
      const marker = el('marker', { id: `arrow-${h}`, viewBox: '0 0 10 10', refX: '10', refY: '5', markerWidth: '7', markerHeight: '7', orient: 'auto-start-reverse' });
      marker.append(el('path', { d: 'M0,0 L10,5 L0,10 z', class: `arrow ${h}` }));
      defs.append(marker);
    }
    this.svg.append(defs, this.islandLayer, this.edgeLayer, this.labelLayer, this.vertexLayer);
    container.append(this.svg);
    this.panZoom();
    this.svg.addEventListener('click', (ev) => {
      const target = (ev.target as Element).closest('[data-id],[data-island]');
      if (!target) return;
      const id = target.getAttribute('data-id');
      if (id) this.callbacks.select(id);
      const island = target.getAttribute('data-island');
      if (island) this.callbacks.toggleIsland(island);
    });
    this.svg.addEventListener('keydown', (ev) => {
      if (ev.key !== 'Enter' && ev.key !== ' ') return;
      const target = (ev.target as Element).closest('[data-id],[data-island]');
      if (!target) return;
      ev.preventDefault();
      (target as SVGElement).dispatchEvent(new MouseEvent('click', { bubbles: true }));
    });
  }

  render(view: View, points: Map<string, Point>, boxes: IslandBox[], collapsed: ReadonlySet<string>): void {
    const seenIslands = new Set<string>();
    const inView = new Set(view.vertices.map((v) => v.island));
    for (const box of boxes) {
      if (!inView.has(box.island)) continue;
      seenIslands.add(box.id);
      let g = this.islands.get(box.id);
      if (!g) {
        g = el('g', { class: 'island' });
        const title = el('text', { class: 'island-title', 'data-island': box.id, tabindex: '0', role: 'button' });
        g.append(el('rect', { rx: '10' }), title);
        this.islands.set(box.id, g);
        this.islandLayer.append(g);
      }
      const [rect, title] = g.children as unknown as [SVGRectElement, SVGTextElement];
      const ns = box.island.startsWith('ns:') ? box.island.slice(3) : undefined;
      const folded = ns !== undefined && collapsed.has(ns);
      const more = box.part > 1 ? ' (more)' : '';
      set(rect, 'x', String(box.x));
      set(rect, 'y', String(box.y));
      set(rect, 'width', String(box.w));
      set(rect, 'height', String(folded ? CELL_H + 40 : box.h));
      set(title, 'x', String(box.x + 12));
      set(title, 'y', String(box.y + 19));
      setText(title, ns !== undefined ? `${folded ? '▸' : '▾'} ${ns}${more}` : `${box.island}${more}`);
      set(title, 'aria-label', ns !== undefined ? `namespace ${ns}${more}, ${folded ? 'expand' : 'collapse'}` : box.island);
      if (ns === undefined) title.removeAttribute('data-island');
      else set(title, 'data-island', box.island);
      // A folded namespace is one vertex, in its first box.
      g.style.display = folded && box.part > 1 ? 'none' : '';
    }
    for (const [id, g] of this.islands) if (!seenIslands.has(id)) (g.remove(), this.islands.delete(id));

    const seen = new Set<string>();
    for (const v of view.vertices) {
      const p = points.get(v.id);
      if (!p) continue;
      seen.add(v.id);
      let g = this.vertices.get(v.id);
      if (!g) {
        g = el('g', { 'data-id': v.id, tabindex: '0', role: 'button' });
        g.append(el('rect', { x: String(-CELL_W / 2 + 8), y: '-18', width: String(CELL_W - 16), height: '36', rx: v.kind === 'service' ? '18' : '5' }), el('text', { y: '-2' }), el('text', { y: '12', class: 'sub' }), el('title'));
        this.vertices.set(v.id, g);
        this.vertexLayer.append(g);
      }
      const [, name, sub, title] = g.children as unknown as [SVGRectElement, SVGTextElement, SVGTextElement, SVGTitleElement];
      set(g, 'transform', `translate(${p.x},${p.y})`);
      set(g, 'class', `vertex ${v.kind} ${v.health}${this.selected === v.id ? ' selected' : ''}`);
      set(g, 'data-health', v.health);
      setText(name, v.label.length > 20 ? `${v.label.slice(0, 19)}…` : v.label);
      const mark = v.kind === 'namespace' ? `${v.members} folded` : (v.node?.workloadKind ?? KIND_MARK[v.kind]);
      setText(sub, v.health === 'ok' ? mark : `${mark}${mark ? ' · ' : ''}${v.health}`);
      const label = `${v.kind} ${v.id.replace(/^[a-z]+:/, '')}, ${v.health}${v.reasons.length ? `: ${v.reasons.join(', ')}` : ''}`;
      setText(title, label);
      set(g, 'aria-label', label);
    }
    for (const [id, g] of this.vertices) if (!seen.has(id)) (g.remove(), this.vertices.delete(id));

    const seenEdges = new Set<string>();
    const labelled = view.edges.length <= LABELS_UP_TO;
    const inBulk = view.edges.length >= BULK_FROM;
    const bulkPaths: Record<string, string[]> = { ok: [], slow: [], failing: [] };
    for (const e of view.edges) {
      const a = points.get(e.source);
      const b = points.get(e.target);
      if (!a || !b) continue;
      const touchesSelection = this.selected !== undefined && (e.source === this.selected || e.target === this.selected);
      if (inBulk && !touchesSelection) {
        bulkPaths[e.health]?.push(curve(a, b).path);
        continue;
      }
      seenEdges.add(e.id);
      let path = this.edges.get(e.id);
      if (!path) {
        path = el('path', { 'data-edge': e.id });
        path.append(el('title'));
        this.edges.set(e.id, path);
        this.edgeLayer.append(path);
      }
      const d = curve(a, b);
      set(path, 'd', d.path);
      const touches = this.selected !== undefined && (e.source === this.selected || e.target === this.selected);
      set(path, 'class', `edge ${e.health}${touches ? ' selected' : ''}`);
      set(path, 'marker-end', `url(#arrow-${e.health})`);
      set(path, 'stroke-width', String(Math.min(6, 1 + Math.log10(1 + e.ratePerSecond) * 1.5).toFixed(1)));
      setText(path.firstChild as SVGTitleElement, edgeText(e));
      let text = this.labels.get(e.id);
      if (labelled || touches) {
        if (!text) {
          text = el('text', { class: 'edge-label' });
          this.labels.set(e.id, text);
          this.labelLayer.append(text);
        }
        set(text, 'x', d.mid.x.toFixed(0));
        set(text, 'y', d.mid.y.toFixed(0));
        setText(text, `${e.protocol}/${e.port} ${rate(e.ratePerSecond)}`);
      } else if (text) (text.remove(), this.labels.delete(e.id));
    }
    for (const [id, p] of this.edges) if (!seenEdges.has(id)) (p.remove(), this.edges.delete(id));
    for (const [health, parts] of Object.entries(bulkPaths)) {
      let path = this.bulk.get(health);
      if (parts.length === 0) {
        if (path) (path.remove(), this.bulk.delete(health));
        continue;
      }
      if (!path) {
        path = el('path', { class: `edge bulk ${health}` });
        this.bulk.set(health, path);
        this.edgeLayer.prepend(path);
      }
      path.setAttribute('d', parts.join(''));
      set(path, 'data-edges', String(parts.length));
    }
    for (const [id, t] of this.labels) if (!seenEdges.has(id)) (t.remove(), this.labels.delete(id));

    if (!this.fitted && boxes.length > 0) {
      this.fitted = true;
      const w = Math.max(...boxes.map((b) => b.x + b.w)) + 40;
      const h = Math.max(...boxes.map((b) => b.y + b.h)) + 40;
      this.viewBox = { x: -20, y: -20, w, h };
    }
    set(this.svg, 'viewBox', `${this.viewBox.x} ${this.viewBox.y} ${this.viewBox.w} ${this.viewBox.h}`);
  }

  private panZoom(): void {
    let drag: { x: number; y: number; vb: { x: number; y: number; w: number; h: number } } | undefined;
    const scale = () => this.viewBox.w / (this.svg.clientWidth || 1);
    this.svg.addEventListener('pointerdown', (ev) => {
      if ((ev.target as Element).closest('[data-id],[data-island]')) return;
      drag = { x: ev.clientX, y: ev.clientY, vb: { ...this.viewBox } };
      this.svg.setPointerCapture(ev.pointerId);
    });
    this.svg.addEventListener('pointermove', (ev) => {
      if (!drag) return;
      const s = scale();
      this.viewBox = { ...drag.vb, x: drag.vb.x - (ev.clientX - drag.x) * s, y: drag.vb.y - (ev.clientY - drag.y) * s };
      set(this.svg, 'viewBox', `${this.viewBox.x} ${this.viewBox.y} ${this.viewBox.w} ${this.viewBox.h}`);
    });
    this.svg.addEventListener('pointerup', () => (drag = undefined));
    this.svg.addEventListener(
      'wheel',
      (ev) => {
        ev.preventDefault();
        const f = ev.deltaY > 0 ? 1.15 : 1 / 1.15;
        const r = this.svg.getBoundingClientRect();
        const s = scale();
        const cx = this.viewBox.x + (ev.clientX - r.left) * s;
        const cy = this.viewBox.y + (ev.clientY - r.top) * s;
        this.viewBox = { x: cx - (cx - this.viewBox.x) * f, y: cy - (cy - this.viewBox.y) * f, w: this.viewBox.w * f, h: this.viewBox.h * f };
        set(this.svg, 'viewBox', `${this.viewBox.x} ${this.viewBox.y} ${this.viewBox.w} ${this.viewBox.h}`);
      },
      { passive: false },
    );
  }
}

export function edgeText(e: ViewEdge): string {
  return `${e.source.replace(/^[a-z]+:/, '')} → ${e.target.replace(/^[a-z]+:/, '')} ${e.protocol}/${e.port}, ${rate(e.ratePerSecond)} (${e.count}), ${e.health}`;
}

/** A gentle arc from a's box edge to b's, so opposite edges do not overlap. */
function curve(a: Point, b: Point): { path: string; mid: Point } {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const len = Math.hypot(dx, dy) || 1;
  // Leave the boxes (approximately) rather than start in their middle.
  const cut = (ux: number, uy: number) => Math.min((CELL_W / 2 - 8) / Math.abs(ux || 1e-9), 18 / Math.abs(uy || 1e-9));
  const ux = dx / len;
  const uy = dy / len;
  const ca = Math.min(cut(ux, uy), len / 2 - 1);
  const sx = a.x + ux * ca;
  const sy = a.y + uy * ca;
  const ex = b.x - ux * ca;
  const ey = b.y - uy * ca;
  const bend = Math.min(40, len * 0.15);
  const mx = (sx + ex) / 2 - uy * bend;
  const my = (sy + ey) / 2 + ux * bend;
  return {
    path: `M${sx.toFixed(1)},${sy.toFixed(1)} Q${mx.toFixed(1)},${my.toFixed(1)} ${ex.toFixed(1)},${ey.toFixed(1)}`,
    mid: { x: (sx + 2 * mx + ex) / 4, y: (sy + 2 * my + ey) / 4 - 3 },
  };
}
