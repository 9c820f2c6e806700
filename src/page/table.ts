// The flows as a table: the same edges as the map (what a screen reader
// uses). Headers sort (aria-sort says how); rows are reachable with Tab,
// move with ↑/↓/Home/End, and Enter selects the row's client workload.

import type { Topology, TopologyEdge } from '../api/topology.js';
import { rate } from './map.js';

type Column = { key: string; label: string; value: (e: TopologyEdge) => string | number; numeric?: boolean };

const name = (id: string): string => id.replace(/^[a-z]+:/, '');
const COLUMNS: Column[] = [
  { key: 'source', label: 'Client', value: (e) => name(e.source) },
  { key: 'target', label: 'Server', value: (e) => name(e.target) },
  { key: 'port', label: 'Port', value: (e) => e.port, numeric: true },
  { key: 'protocol', label: 'Protocol', value: (e) => e.protocol },
  { key: 'count', label: 'Count', value: (e) => e.count, numeric: true },
  { key: 'rate', label: 'Rate', value: (e) => e.ratePerSecond, numeric: true },
  { key: 'health', label: 'Health', value: (e) => e.health },
];
/** Rows drawn at once; the rest one click away (5,000 rows of DOM would cost more than the map). */
const PAGE = 300;

export class FlowsTable {
  private sortKey = 'count';
  private descending = true;
  private limit = PAGE;
  private flows: TopologyEdge[] = [];
  private readonly table = document.createElement('table');
  private readonly body = document.createElement('tbody');
  private readonly more = document.createElement('button');
  private readonly caption = document.createElement('caption');

  constructor(
    container: HTMLElement,
    private readonly onSelect: (id: string) => void,
  ) {
    this.table.className = 'flows';
    const head = document.createElement('thead');
    const row = document.createElement('tr');
    for (const c of COLUMNS) {
      const th = document.createElement('th');
      th.scope = 'col';
      const b = document.createElement('button');
      b.textContent = c.label;
      b.dataset.sort = c.key;
      b.addEventListener('click', () => {
        if (this.sortKey === c.key) this.descending = !this.descending;
        else {
          this.sortKey = c.key;
          this.descending = c.numeric === true;
        }
        this.draw();
      });
      th.append(b);
      row.append(th);
    }
    head.append(row);
    this.table.append(this.caption, head, this.body);
    this.more.type = 'button';
    this.more.className = 'more';
    this.more.addEventListener('click', () => {
      this.limit += PAGE;
      this.draw();
    });
    container.append(this.table, this.more);
    this.body.addEventListener('keydown', (ev) => {
      const tr = (ev.target as Element).closest('tr');
      if (!tr) return;
      const rows = [...this.body.rows];
      const i = rows.indexOf(tr);
      const go = (j: number) => rows[Math.max(0, Math.min(rows.length - 1, j))]?.focus();
      if (ev.key === 'ArrowDown') go(i + 1);
      else if (ev.key === 'ArrowUp') go(i - 1);
      else if (ev.key === 'Home') go(0);
      else if (ev.key === 'End') go(rows.length - 1);
      else if (ev.key === 'Enter') this.onSelect(tr.dataset.source ?? '');
      else return;
      ev.preventDefault();
    });
    this.body.addEventListener('click', (ev) => {
      const tr = (ev.target as Element).closest('tr');
      if (tr?.dataset.source) this.onSelect(tr.dataset.source);
    });
  }

  update(flows: TopologyEdge[], _t: Topology): void {
    this.flows = flows;
    this.draw();
  }

  private draw(): void {
    const column = COLUMNS.find((c) => c.key === this.sortKey) as Column;
    const sorted = [...this.flows].sort((a, b) => {
      const x = column.value(a);
      const y = column.value(b);
      // Plain code-point order: localeCompare costs ~10× more over 5,000 rows.
      const c = typeof x === 'number' && typeof y === 'number' ? x - y : x < y ? -1 : x > y ? 1 : 0;
      return (this.descending ? -c : c) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
    });
    for (const th of this.table.tHead?.rows[0]?.cells ?? []) {
      const key = th.querySelector('button')?.dataset.sort;
      th.setAttribute('aria-sort', key === this.sortKey ? (this.descending ? 'descending' : 'ascending') : 'none');
    }
    // Rows are reused and only changed cells written: a refresh every second
    // must not make the browser lay out 300 new rows.
    const shown = sorted.slice(0, this.limit);
    const rows = this.body.rows;
    for (let i = 0; i < shown.length; i++) {
      const e = shown[i] as TopologyEdge;
      let tr = rows[i];
      if (!tr) {
        tr = document.createElement('tr');
        tr.tabIndex = 0;
        for (let c = 0; c < COLUMNS.length; c++) tr.append(document.createElement('td'));
        this.body.append(tr);
      }
      if (tr.dataset.edge !== e.id) tr.dataset.edge = e.id;
      if (tr.dataset.source !== e.source) tr.dataset.source = e.source;
      if (tr.className !== e.health) tr.className = e.health;
      const cells = [name(e.source), name(e.target), String(e.port), e.protocol, String(e.count), rate(e.ratePerSecond), e.health];
      cells.forEach((text, c) => {
        const td = tr.cells[c] as HTMLTableCellElement;
        if (td.textContent !== text) td.textContent = text;
      });
    }
    while (rows.length > shown.length) rows[rows.length - 1]?.remove();
    this.caption.textContent = `${this.flows.length} flows${this.flows.length > this.limit ? `, first ${this.limit} shown` : ''}`;
    this.more.hidden = this.flows.length <= this.limit;
    this.more.textContent = `Show ${Math.min(PAGE, this.flows.length - this.limit)} more`;
  }
}
