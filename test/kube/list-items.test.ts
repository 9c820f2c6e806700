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

// What JSON.parse would read differently, or what no API server sends: an
// error, never a phantom item or items left in the rest.
t.test('an element of items that is not an object is an error, not a phantom item', async (t) => {
  for (const body of ['{"items":["{}"]}', '{"items":[1]}', '{"items":[{},null]}', '{"items":[[{}]]}']) {
    const items: unknown[] = [];
    const splitter = new ListItemSplitter((json) => items.push(JSON.parse(json)));
    t.throws(() => {
      splitter.push(body);
      splitter.end();
    }, /not an object/, body);
    if (body === '{"items":["{}"]}') t.same(items, [], 'no object made from the text of a string');
  }
});

t.test('an escaped "items" key is the items key', async (t) => {
  const { items, rest } = split('{"\\u0069tems":[{"a":1}],"metadata":{"resourceVersion":"4"}}', 5);
  t.same(items, [{ a: 1 }]);
  t.same(rest, { items: [], metadata: { resourceVersion: '4' } });
});

t.test('two top-level items keys are an error (JSON.parse keeps the last one)', async (t) => {
  for (const body of ['{"items":[{"a":1}],"items":[{"b":2}]}', '{"items":[{"a":1}],"items":null}', '{"items":null,"items":[{"b":2}]}']) {
    t.throws(() => split(body, 4), /two "items"/, body);
  }
});

t.test('an item over the bound is an error while it streams in', async (t) => {
  const splitter = new ListItemSplitter(() => t.fail('no item'), 100);
  splitter.push('{"items":[{"x":"');
  t.throws(() => splitter.push('y'.repeat(200)), /longer than 100 characters/);
});
