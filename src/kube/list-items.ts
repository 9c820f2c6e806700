// Splits a List response (`{"kind":…,"metadata":…,"items":[{…},{…}]}`) into
// its items while it streams in: each element of the top-level "items" array
// is handed over as its own JSON text, the rest (kind, metadata) is kept and
// parsed at the end.
//
// Why: parsing a page whole makes one large string (which V8 keeps in its
// large-object space until a full GC) and every full object of the page
// alive at once, so scavenges promote them to the old generation. Item by
// item, a pod's full object dies young, as soon as it has been slimmed, and
// a large cluster's list leaves the heap about as big as what is kept.
//
// What the API server sends is trusted to be JSON, not to be small or
// well-formed: an element of "items" that is not an object, a second
// top-level "items", or an item longer than MAX_WATCH_LINE_CHARS is an
// error, never a phantom object or an item silently left in the rest.
import { MAX_WATCH_LINE_CHARS } from './watch-lines.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

export class ListItemSplitter {
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Within an element of the items array (depth > 2). */
  private inItem = false;
  /** Within the top-level items array. */
  private inItems = false;
  private afterItemsColon = false;
  private lastKey = '';
  private keyStart = 0;
  private item = '';
  private skeleton = '';
  private sawItems = false;

  constructor(
    private readonly onItem: (json: string) => void,
    private readonly maxItemChars = MAX_WATCH_LINE_CHARS,
  ) {}

  push(chunk: string): void {
    let itemFrom = this.inItem ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (this.inItem) {
        if (this.inString) {
          if (this.escaped) this.escaped = false;
          else if (c === BACKSLASH) this.escaped = true;
          else if (c === QUOTE) this.inString = false;
        } else if (c === QUOTE) this.inString = true;
        else if (c === OPEN_BRACE || c === OPEN_BRACKET) this.depth++;
        else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
          if (--this.depth === 2) {
            const text = this.item + chunk.slice(itemFrom, i + 1);
            this.item = '';
            this.inItem = false;
            itemFrom = -1;
            this.onItem(text);
          }
        }
        continue;
      }
      if (this.inItems && this.depth === 2) {
        if (c === OPEN_BRACE) {
          this.inItem = true;
          this.depth++;
          itemFrom = i;
        } else if (c === CLOSE_BRACKET) {
          this.inItems = false;
          this.depth--;
          this.skeleton += ']';
        } else if (c !== 0x2c && c > 0x20) {
          throw new Error('a list item is not an object');
        }
        // commas and whitespace between items are left out of the skeleton
        continue;
      }
      this.skeleton += chunk[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === BACKSLASH) this.escaped = true;
        else if (c === QUOTE) {
          this.inString = false;
          if (this.depth === 1) this.lastKey = keyText(this.skeleton.slice(this.keyStart, -1));
        }
        continue;
      }
      if (c === QUOTE) {
        this.inString = true;
        this.keyStart = this.skeleton.length;
      } else if (c === COLON) {
        this.afterItemsColon = this.depth === 1 && this.lastKey === 'items';
        if (this.afterItemsColon) {
          if (this.sawItems) throw new Error('the list has two "items"');
          this.sawItems = true;
        }
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        if (c === OPEN_BRACKET && this.afterItemsColon) this.inItems = true;
        this.afterItemsColon = false;
        this.depth++;
      } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        this.depth--;
      } else if (c > 0x20 && c !== 0x2c) {
        this.afterItemsColon = false;
      }
    }
    if (this.inItem) {
      this.item += chunk.slice(itemFrom);
      if (this.item.length > this.maxItemChars) throw new Error(`a list item longer than ${this.maxItemChars} characters`);
    }
  }

  /** The response without its items (kind, apiVersion, metadata); throws if it is not complete JSON. */
  end(): unknown {
    if (this.inItem || this.inItems || this.depth !== 0) throw new Error('list response ended mid-way');
    return JSON.parse(this.skeleton);
  }
}

/** A key as JSON means it: escapes decoded (`"\u0069tems"` is "items"); a broken escape stays as it is (the rest's JSON.parse refuses it). */
function keyText(raw: string): string {
  if (!raw.includes('\\')) return raw;
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return raw;
  }
}
