// A layout that does not jump: vertices sit in grid slots on their island
// (a namespace, the nodes, the external peers); a vertex keeps its slot for
// as long as the page is open, a new one takes the next free slot of its
// island, a new island goes after the others. Islands keep spare rows and
// never shrink (a collapsed or filtered namespace keeps its place), so what
// is on the screen stays where it is. Only an island that outgrows its
// spare rows pushes the islands below it down, all together.

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
  id: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

interface Island {
  id: string;
  cols: number;
  rows: number;
  slots: Map<string, number>;
  next: number;
  /** Position in the flow of islands, fixed once placed. */
  order: number;
}

export class StableLayout {
  private readonly islands = new Map<string, Island>();
  private boxes = new Map<string, IslandBox>();

  constructor(private readonly maxWidth = 1800) {}

  /** Places the vertices (new ones get slots); returns every vertex's centre and every island's box. */
  place(vertices: ReadonlyArray<{ id: string; island: string }>): { points: Map<string, Point>; islands: IslandBox[] } {
    const byIsland = new Map<string, string[]>();
    for (const v of vertices) {
      let list = byIsland.get(v.island);
      if (!list) byIsland.set(v.island, (list = []));
      list.push(v.id);
    }
    // New islands in name order, after the known ones; their size from what they hold now.
    for (const id of [...byIsland.keys()].filter((i) => !this.islands.has(i)).sort(islandOrder)) {
      const n = byIsland.get(id)?.length ?? 1;
      const cols = Math.max(2, Math.min(8, Math.ceil(Math.sqrt(n * 1.5))));
      this.islands.set(id, { id, cols, rows: Math.ceil(n / cols) + 1, slots: new Map(), next: 0, order: this.islands.size });
    }
    let grown = false;
    for (const [id, members] of byIsland) {
      const island = this.islands.get(id) as Island;
      for (const m of [...members].sort()) {
        if (island.slots.has(m)) continue;
        island.slots.set(m, island.next++);
        if (Math.ceil(island.next / island.cols) > island.rows) {
          island.rows += 2;
          grown = true;
        }
      }
    }
    if (grown || this.boxes.size !== this.islands.size) this.flow();
    const points = new Map<string, Point>();
    for (const v of vertices) {
      const island = this.islands.get(v.island) as Island;
      const box = this.boxes.get(v.island) as IslandBox;
      const slot = island.slots.get(v.id) as number;
      points.set(v.id, {
        x: box.x + PAD + (slot % island.cols) * CELL_W + CELL_W / 2,
        y: box.y + TITLE + Math.floor(slot / island.cols) * CELL_H + CELL_H / 2,
      });
    }
    return { points, islands: [...this.boxes.values()] };
  }

  /** Islands left to right in rows, in the order they first appeared. */
  private flow(): void {
    const boxes = new Map<string, IslandBox>();
    let x = 0;
    let y = 0;
    let rowH = 0;
    for (const island of [...this.islands.values()].sort((a, b) => a.order - b.order)) {
      const w = island.cols * CELL_W + 2 * PAD;
      const h = island.rows * CELL_H + TITLE + PAD;
      if (x > 0 && x + w > this.maxWidth) {
        x = 0;
        y += rowH + GAP;
        rowH = 0;
      }
      boxes.set(island.id, { id: island.id, x, y, w, h });
      x += w + GAP;
      rowH = Math.max(rowH, h);
    }
    this.boxes = boxes;
  }

  /** Where a vertex is, without placing anything. */
  has(id: string): boolean {
    for (const i of this.islands.values()) if (i.slots.has(id)) return true;
    return false;
  }
}

/** Namespaces first (by name), then nodes, then external peers. */
function islandOrder(a: string, b: string): number {
  const k = (s: string) => (s.startsWith('ns:') ? `0${s}` : s === 'nodes' ? '1' : '2');
  return k(a) < k(b) ? -1 : k(a) > k(b) ? 1 : 0;
}
