// The list splitter against JSON.parse: the same items and metadata, for
// any split of the body into chunks.
import t from 'tap';
import { ListItemSplitter } from '../../src/kube/list-items.js';

function split(body: string, chunkSize: number): { items: unknown[]; rest: unknown } {
  const items: unknown[] = [];
  const splitter = new ListItemSplitter((json) => items.push(JSON.parse(json)));
  for (let i = 0; i < body.length; i += chunkSize) splitter.push(body.slice(i, i + chunkSize));
  return { items, rest: splitter.end() };
}

const tricky = {
  metadata: { name: 'a "quoted" name with \\ and ] and } and {"items":[1]}', labels: { 'items': '[{', x: 'é ✓ 😀' } },
  spec: { containers: [{ name: 'c', args: ['[', ']', '{', '}', '\\"'] }], nested: [[[]], {}] },
};
const cases: Array<{ name: string; list: Record<string, unknown> }> = [
  { name: 'empty items', list: { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '7' }, items: [] } },
  { name: 'items null', list: { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '7' }, items: null } },
  { name: 'items first, metadata last', list: { items: [tricky, { a: 1 }], metadata: { resourceVersion: '9', continue: 'c1' }, kind: 'ServiceList' } },
  { name: 'an "items" key inside metadata is not the list', list: { kind: 'NodeList', metadata: { items: ['x'], resourceVersion: '3' }, items: [{ metadata: { name: 'n' } }] } },
  { name: 'many', list: { kind: 'PodList', metadata: { resourceVersion: '1' }, items: Array.from({ length: 50 }, (_, i) => ({ ...tricky, i })) } },
];

for (const { name, list } of cases) {
  t.test(name, async (t) => {
    for (const body of [JSON.stringify(list), JSON.stringify(list, null, 2)]) {
      const { items: expectedItems, ...expectedRest } = JSON.parse(body) as { items: unknown[] | null };
      for (const chunkSize of [1, 3, 7, 64, body.length]) {
        const { items, rest } = split(body, chunkSize);
        t.same(items, expectedItems ?? [], `items, chunks of ${chunkSize}`);
        t.same(rest, { ...expectedRest, items: expectedItems === null ? null : [] }, `the rest, chunks of ${chunkSize}`);
      }
    }
  });
}

t.test('a truncated body is an error', async (t) => {
  const splitter = new ListItemSplitter(() => {});
  splitter.push('{"kind":"PodList","items":[{"metadata":{"na');
  t.throws(() => splitter.end(), /ended mid-way/);
});
