// The Kubernetes API's response framing: a list body split into its items
// while it streams in (src/kube/list-items.ts) and a watch stream split into
// its lines (src/kube/watch-lines.ts). Input: the first byte picks a chunk
// size, the rest is the body as UTF-8, fed in chunks of that size and whole.
// Invariant, for every chunking:
// - only Error is thrown; every item handed over is a JSON object;
// - a list JSON.parse reads as an object whose items are all objects gives
//   exactly JSON.parse's items and the rest with items [] — or an Error when
//   the top level has two "items" (JSON.parse keeps the last) or an item is
//   over the bound;
// - any element of items that is not an object is an Error;
// - the watch lines are the text's lines, trimmed, blank ones skipped, and
//   a line over the bound is an Error after exactly the lines before it.

import { isDeepStrictEqual } from 'node:util';

const MAX_ITEM = 512;
const MAX_LINE = 256;
const isObj = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

export default {
  sources: ['src/kube/list-items.js', 'src/kube/watch-lines.js'],
  maxLength: 4096,
  dictionary: ['{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[', '"items":', '"\\u0069tems":', '"items":null', '],"items":[', '{"type":"ADDED","object":', '{"type":"ERROR","object":{"kind":"Status","code":410}}', '"continue":"eyJ2"', '\\"', '\\\\', '},{', ']}', '\r\n', '\n', '"[{', '✓'],
  async setup(load) {
    const { ListItemSplitter } = await load('src/kube/list-items.js');
    const { WatchLineSplitter } = await load('src/kube/watch-lines.js');

    const chunked = (text, size, push) => {
      for (let i = 0; i < text.length; i += size) push(text.slice(i, i + size));
    };

    const checkList = (text, size, ref) => {
      const items = [];
      let rest;
      let error;
      try {
        const splitter = new ListItemSplitter((json) => items.push(JSON.parse(json)), MAX_ITEM);
        chunked(text, size, (c) => splitter.push(c));
        rest = splitter.end();
      } catch (err) {
        if (!(err instanceof Error)) throw new Error(`threw a non-Error: ${String(err)}`);
        error = err;
      }
      for (const item of items) if (!isObj(item)) throw new Error(`handed over a non-object item ${JSON.stringify(item)}`);
      if (!isObj(ref.value)) return;
      const listed = ref.value.items;
      if (Array.isArray(listed) && listed.some((i) => !isObj(i)) && error === undefined) throw new Error('a non-object element of items was accepted');
      if (!Array.isArray(listed) || !listed.every(isObj)) return;
      if (error !== undefined) {
        if (/longer than/.test(error.message)) return;
        // JSON.parse keeps the last of two keys: the splitter must refuse the list (because of the
        // second, or of what the first holds), and only where a second one can be.
        if (/two "items"|not an object/.test(error.message) && (text.match(/items|\\u/g) ?? []).length >= 2) return;
        throw new Error(`a valid list refused (chunks of ${size}): ${error.message}`);
      }
      if (!isDeepStrictEqual(items, listed)) throw new Error(`items differ from JSON.parse (chunks of ${size})`);
      if (!isDeepStrictEqual(rest, { ...ref.value, items: [] })) throw new Error(`the rest differs from JSON.parse (chunks of ${size})`);
    };

    const checkWatch = (text, size) => {
      const segments = text.split('\n');
      const expected = segments.map((s) => s.trim()).filter((s) => s !== '');
      const overlong = segments.findIndex((s) => s.length > MAX_LINE);
      const before = overlong < 0 ? expected : segments.slice(0, overlong).map((s) => s.trim()).filter((s) => s !== '');
      const lines = [];
      let error;
      try {
        const splitter = new WatchLineSplitter((line) => lines.push(line), MAX_LINE);
        chunked(text, size, (c) => splitter.push(c));
        splitter.end();
      } catch (err) {
        if (!(err instanceof Error)) throw new Error(`threw a non-Error: ${String(err)}`);
        error = err;
      }
      if ((error !== undefined) !== overlong >= 0) throw new Error(`line bound: ${error ? error.message : 'no error'} with the longest line ${Math.max(...segments.map((s) => s.length))}`);
      if (!isDeepStrictEqual(lines, before)) throw new Error(`watch lines differ (chunks of ${size}): ${lines.length} vs ${before.length}`);
    };

    return (data) => {
      if (data.length === 0) return;
      const size = 1 + (data[0] % 97);
      const text = data.subarray(1).toString('utf8');
      let ref = { value: undefined };
      try {
        ref = { value: JSON.parse(text) };
      } catch {
        // not JSON: the splitter may refuse it or not; it must still only hand over objects
      }
      for (const s of [size, text.length || 1]) {
        checkList(text, s, ref);
        checkWatch(text, s);
      }
    };
  },
};
