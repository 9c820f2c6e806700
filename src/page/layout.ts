// A layout that does not jump: vertices sit in grid slots on their island
// (a namespace, the nodes, the external peers). A box, once placed, never
// moves or changes size, and a vertex keeps its slot for as long as the page
// is open (filtered out and back, it returns to the same place). A new
// vertex takes the next free slot of its island; an island that is full
// gets one more box (its continuation) after all the others; a new island
// too. So nothing already on the screen ever moves.

export const CELL_W = 168;
export const CELL_H = 64;
const PAD = 16;
const TITLE = 28;
const GAP = 28;

export interface Point {
  x: number;
  y: number;
}

export interface IslandBox {
  /** `<island>` for its first box, `<island>#2`, `#3`… for continuations. */
  id: string;
  island: string;
  part: number;
  x: number;
  y: number;
  w: number;
  h: number;
}

interface Box extends IslandBox {
  cols: number;
  rows: number;
}

interface Island {
  boxes: Box[];
  slots: Map<string, { box: Box; index: number }>;
  used: number;
}

export class StableLayout {
  private readonly islands = new Map<string, Island>();
  private readonly boxes: Box[] = [];
  /** Where the next box goes: left to right, then a new row below everything. */
  private cursor = { x: 0, y: 0, rowH: 0 };

  constructor(private readonly maxWidth = 1800) {}

  /** Places the vertices (new ones get slots); returns every vertex's centre and every box. */
  place(vertices: ReadonlyArray<{ id: string; island: string }>): { points: Map<string, Point>; islands: IslandBox[] } {
    const byIsland = new Map<string, string[]>();
    for (const v of vertices) {
      let list = byIsland.get(v.island);
      if (!list) byIsland.set(v.island, (list = []));
      list.push(v.id);
    }
    // New islands in order (namespaces by name, then nodes, then external), sized for what they hold now.
    for (const id of [...byIsland.keys()].filter((i) => !this.islands.has(i)).sort(islandOrder)) {
      const n = byIsland.get(id)?.length ?? 1;
      const cols = Math.max(2, Math.min(8, Math.ceil(Math.sqrt(n * 1.5))));
      const island: Island = { boxes: [], slots: new Map(), used: 0 };
      this.islands.set(id, island);
      this.addBox(id, island, cols, Math.ceil(n / cols) + 1);
    }
    for (const [id, members] of byIsland) {
      const island = this.islands.get(id) as Island;
      for (const m of [...members].sort()) {
        if (island.slots.has(m)) continue;
        let box = island.boxes.at(-1) as Box;
        const inBox = island.used - island.boxes.slice(0, -1).reduce((n, b) => n + b.cols * b.rows, 0);
        if (inBox >= box.cols * box.rows) box = this.addBox(id, island, box.cols, Math.max(2, Math.ceil(box.rows / 2)));
        const index = island.used - island.boxes.slice(0, -1).reduce((n, b) => n + b.cols * b.rows, 0);
        island.slots.set(m, { box, index });
        island.used++;
      }
    }
    const points = new Map<string, Point>();
    for (const v of vertices) {
      const { box, index } = (this.islands.get(v.island) as Island).slots.get(v.id) as { box: Box; index: number };
      points.set(v.id, { x: box.x + PAD + (index % box.cols) * CELL_W + CELL_W / 2, y: box.y + TITLE + Math.floor(index / box.cols) * CELL_H + CELL_H / 2 });
    }
    return { points, islands: this.boxes };
  }

  private addBox(island: string, into: Island, cols: number, rows: number): Box {
    const w = cols * CELL_W + 2 * PAD;
    const h = rows * CELL_H + TITLE + PAD;
    const c = this.cursor;
    if (c.x > 0 && c.x + w > this.maxWidth) {
      c.x = 0;
      c.y += c.rowH + GAP;
      c.rowH = 0;
    }
    const part = into.boxes.length + 1;
    const box: Box = { id: part === 1 ? island : `${island}#${part}`, island, part, x: c.x, y: c.y, w, h, cols, rows };
    c.x += w + GAP;
    c.rowH = Math.max(c.rowH, h);
    into.boxes.push(box);
    this.boxes.push(box);
    return box;
  }
}

/** Namespaces first (by name), then nodes, then external peers. */
function islandOrder(a: string, b: string): number {
  const k = (s: string) => (s.startsWith('ns:') ? `0${s}` : s === 'nodes' ? '1' : '2');
  return k(a) < k(b) ? -1 : k(a) > k(b) ? 1 : 0;
}
