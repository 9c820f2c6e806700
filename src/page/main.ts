// The page: fetches the topology every second from its data source
// (source.ts), applies the filters, and updates the map, the table and the
// selected workload's panel in place.

import type { Topology } from '../api/topology.js';
import { Details } from './details.js';
import { exportJson, exportPng, exportSvg } from './export.js';
import { StableLayout } from './layout.js';
import { TopologyMap } from './map.js';
import { dataSource } from './source.js';
import { FlowsTable } from './table.js';
import { buildView, type View, type ViewOptions } from './view.js';
import './style.css';

const REFRESH_MS = 1000;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

const source = dataSource(window.location);
const layout = new StableLayout();
const state = {
  options: { namespaces: new Set<string>(), hidden: new Set<string>(), onlyFailing: false, collapsed: new Set<string>() } as ViewOptions & { onlyFailing: boolean; namespaces: Set<string>; hidden: Set<string>; collapsed: Set<string> },
  selected: undefined as string | undefined,
  topology: undefined as Topology | undefined,
  view: undefined as View | undefined,
  renders: 0,
};

const map = new TopologyMap($('map'), {
  select: (id) => select(id),
  toggleIsland: (island) => toggleNamespace(island.slice(3)),
});
const details = new Details($('details'), source);
const table = new FlowsTable($('table'), (id) => select(id));

function toggleNamespace(ns: string): void {
  if (state.options.collapsed.has(ns)) state.options.collapsed.delete(ns);
  else state.options.collapsed.add(ns);
  draw();
}

function select(id: string): void {
  if (id.startsWith('ns:')) return toggleNamespace(id.slice(3));
  state.selected = id;
  draw();
  const g = map.svg.querySelector(`[data-id="${CSS.escape(id)}"]`);
  if (g && document.activeElement?.closest('#map')) (g as SVGGElement).focus();
}

function draw(): void {
  const t = state.topology;
  if (!t) return;
  performance.mark('kubepulse-draw-start');
  const view = buildView(t, state.options);
  state.view = view;
  const { points, islands } = layout.place(view.vertices);
  map.selected = state.selected;
  map.render(view, points, islands, state.options.collapsed);
  table.update(view.flows, t);
  details.show(t.nodes.find((n) => n.id === state.selected), t);
  drawFilters(t);
  state.renders++;
  document.body.dataset.renders = String(state.renders);
  document.body.dataset.generatedAt = t.generatedAt;
  performance.measure('kubepulse-draw', 'kubepulse-draw-start');
  if (state.renders === 1) performance.mark('kubepulse-first-render');
}

let namespacesShown = '';
function drawFilters(t: Topology): void {
  const namespaces = [...new Set(t.nodes.flatMap((n) => (n.namespace !== undefined ? [n.namespace] : [])))].sort();
  const key = namespaces.join(',') + '|' + [...state.options.namespaces].join(',');
  if (key !== namespacesShown) {
    namespacesShown = key;
    const list = $('namespaces');
    list.replaceChildren(
      ...namespaces.map((ns) => {
        const label = document.createElement('label');
        const box = document.createElement('input');
        box.type = 'checkbox';
        box.value = ns;
        box.checked = state.options.namespaces.has(ns);
        box.addEventListener('change', () => {
          if (box.checked) state.options.namespaces.add(ns);
          else state.options.namespaces.delete(ns);
          draw();
        });
        label.append(box, ` ${ns}`);
        return label;
      }),
    );
    const options = $('hide-options');
    options.replaceChildren(
      ...[...namespaces.map((ns) => `ns:${ns}`), ...t.nodes.map((n) => n.id)].map((v) => {
        const o = document.createElement('option');
        o.value = v;
        return o;
      }),
    );
  }
  $('namespace-count').textContent = state.options.namespaces.size === 0 ? 'all' : String(state.options.namespaces.size);
  const chips = $('hidden');
  chips.replaceChildren(
    ...[...state.options.hidden].map((h) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'chip';
      b.textContent = `${h} ×`;
      b.setAttribute('aria-label', `show ${h} again`);
      b.addEventListener('click', () => {
        state.options.hidden.delete(h);
        draw();
      });
      return b;
    }),
  );
  const failing = t.nodes.filter((n) => n.health === 'failing').length;
  $('summary').textContent = `${t.scope === 'node' ? `node ${t.agents.join(', ')}` : `${t.agents.length} agents`} · ${t.nodes.length} vertices, ${t.edges.length} flows, ${failing} failing · last ${Math.round(t.rangeSeconds / 60) || 1} min`;
}

let inFlight = false;
async function refresh(): Promise<void> {
  if (inFlight || document.hidden) return;
  inFlight = true;
  try {
    state.topology = await source.topology(($('range') as HTMLSelectElement).value);
    $('status').textContent = 'live';
    $('status').className = 'live';
    draw();
  } catch (err) {
    $('status').textContent = err instanceof Error ? err.message : String(err);
    $('status').className = 'error';
  } finally {
    inFlight = false;
  }
}

$('range').addEventListener('change', () => void refresh());
($('only-failing') as HTMLInputElement).addEventListener('change', (ev) => {
  state.options.onlyFailing = (ev.target as HTMLInputElement).checked;
  draw();
});
$('hide-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = $('hide-input') as HTMLInputElement;
  if (input.value.trim()) state.options.hidden.add(input.value.trim());
  input.value = '';
  draw();
});
$('export-json').addEventListener('click', () => state.topology && state.view && exportJson(state.topology, state.view));
$('export-svg').addEventListener('click', () => exportSvg(map.svg));
$('export-png').addEventListener('click', () => void exportPng(map.svg));

void refresh();
setInterval(() => void refresh(), REFRESH_MS);
