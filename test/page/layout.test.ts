// The layout never moves a vertex it has placed: vertices arriving in any
// order, islands outgrowing their boxes, vertices leaving (filters) and
// coming back. Boxes never overlap.
import t from 'tap';
import { CELL_H, CELL_W, StableLayout, type IslandBox } from '../../src/page/layout.js';

const overlap = (a: IslandBox, b: IslandBox) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

t.test('placed vertices stay where they are while the graph grows and shrinks', async (t) => {
  const layout = new StableLayout(1200);
  const seen = new Map<string, string>();
  let vertices: { id: string; island: string }[] = [];
  let moved = 0;
  let random = 7;
  const next = () => (random = (random * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let round = 0; round < 60; round++) {
    // Some arrive (new islands too), some leave for a round (a filter).
    for (let i = 0; i < 1 + Math.floor(next() * 8); i++) vertices.push({ id: `v${round}-${i}`, island: `ns:${Math.floor(next() * (3 + round / 10))}` });
    const shown = vertices.filter(() => next() > 0.2);
    const { points, islands } = layout.place(shown);
    for (const v of shown) {
      const p = points.get(v.id)!;
      const where = `${p.x},${p.y}`;
      const before = seen.get(v.id);
      if (before !== undefined && before !== where) moved++;
      seen.set(v.id, where);
      const inside = islands.some((b) => b.island === v.island && p.x > b.x && p.x < b.x + b.w && p.y > b.y && p.y < b.y + b.h);
      if (!inside) t.fail(`${v.id} is outside its island's boxes`);
    }
    for (const a of islands) for (const b of islands) if (a !== b && overlap(a, b)) t.fail(`boxes ${a.id} and ${b.id} overlap`);
    if (round === 59) t.ok(islands.some((b) => b.part > 1), 'some islands outgrew their first box');
    vertices = vertices.slice(-400);
  }
  t.equal(moved, 0, `no vertex moved (${seen.size} vertices over 60 rounds)`);
});

t.test('without islands growing, nothing moves at all', async (t) => {
  const layout = new StableLayout();
  const first = layout.place([{ id: 'a', island: 'ns:shop' }, { id: 'b', island: 'ns:shop' }, { id: 'x', island: 'external' }]).points;
  const second = layout.place([{ id: 'b', island: 'ns:shop' }, { id: 'c', island: 'ns:shop' }, { id: 'x', island: 'external' }, { id: 'n', island: 'nodes' }]).points;
  t.same(second.get('b'), first.get('b'));
  t.same(second.get('x'), first.get('x'));
  t.not(`${second.get('c')?.x},${second.get('c')?.y}`, `${first.get('a')?.x},${first.get('a')?.y}`, 'a new vertex does not take the slot of one filtered out');
  t.equal(Math.abs((second.get('c')?.x ?? 0) - (second.get('b')?.x ?? 0)) % CELL_W, 0);
  t.equal(Math.abs((second.get('c')?.y ?? 0) - (second.get('b')?.y ?? 0)) % CELL_H, 0);
});
