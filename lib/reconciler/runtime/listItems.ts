/**
 * A list response read item by item as its bytes arrive. A Kubernetes list is one JSON
 * object, `{"kind":…,"metadata":{…},"items":[{…},{…},…]}`; parsed whole, a page of 500
 * Deployments is megabytes of string and then megabytes of objects, all alive until the
 * last item is parsed. That outlives the young generation, so every page was promoted to
 * the old one as garbage, and V8 grew the heap to several times what the caches hold
 * (measured: a relist of 5,000 worlds' objects took the heap from 223 to 822 MB).
 *
 * Here each item is cut out of the byte stream as soon as its closing brace arrives and
 * parsed alone (`onItem`), so it can be trimmed to its compact record (runtime/trim.ts) or
 * dropped for the cached object it equals before the next item is read: what is alive
 * beyond the cache is one item, never a page. Everything else of the response (kind,
 * metadata with `continue` and `resourceVersion`) is kept as the small `envelope`.
 *
 * Only the structure is scanned: strings (with their escapes) are skipped, and UTF-8 is
 * safe to scan by byte (no byte of a multi-byte character is below 0x80).
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

export class ListItemSplitter {
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Inside the top-level `items` array: its bytes are items, not envelope. */
  private inItems = false;
  /** Inside one item: its bytes so far in earlier chunks, and where it starts in this one. */
  private inItem = false;
  private itemParts: Buffer[] = [];
  private itemStart = 0;
  /** The last string at the top level (a key, or a kind's value): `items` before its `[`. */
  private keyParts: Buffer[] = [];
  private keyStart = -1;
  private lastKey = '';
  private readonly envelopeParts: Buffer[] = [];
  items = 0;

  constructor(private readonly onItem: (item: unknown) => void) {}

  /** The next bytes of the response. */
  feed(chunk: Buffer): void {
    let envelopeFrom = this.inItems ? -1 : 0;
    if (this.inItem) this.itemStart = 0;
    if (this.keyStart >= 0) this.keyStart = 0;
    // Where the next backslash is (Infinity: none in this chunk), found once and reused.
    let backslash = -1;
    for (let i = 0; i < chunk.length; i++) {
      if (this.inString) {
        // Strings are most of the bytes: jump to their end rather than scan them byte by byte.
        if (this.escaped) {
          this.escaped = false;
          continue;
        }
        if (backslash < i) {
          backslash = chunk.indexOf(BACKSLASH, i);
          if (backslash < 0) backslash = Infinity;
        }
        const quote = chunk.indexOf(QUOTE, i);
        const end = quote < 0 ? chunk.length : quote;
        if (backslash < end) {
          // An escape: skip the byte it escapes (in the next chunk, if this one ends here).
          if (backslash + 1 >= chunk.length) {
            this.escaped = true;
            break;
          }
          i = backslash + 1;
          continue;
        }
        if (quote < 0) break;
        i = quote;
        this.inString = false;
        if (this.keyStart >= 0) this.endKey(chunk, i);
        continue;
      }
      const c = chunk[i]!;
      if (c === QUOTE) {
        this.inString = true;
        if (this.depth === 1 && !this.inItems) this.keyStart = i + 1;
      } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
        if (this.inItems && this.depth === 2) {
          this.inItem = true;
          this.itemStart = i;
        } else if (c === OPEN_ARRAY && this.depth === 1 && this.lastKey === 'items') {
          this.envelopeParts.push(chunk.subarray(envelopeFrom, i + 1));
          envelopeFrom = -1;
          this.inItems = true;
        }
        this.depth++;
      } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
        this.depth--;
        if (this.inItem && this.depth === 2) this.endItem(chunk, i);
        else if (this.inItems && this.depth === 1) {
          this.inItems = false;
          envelopeFrom = i;
        }
      }
    }
    if (envelopeFrom >= 0) this.envelopeParts.push(chunk.subarray(envelopeFrom));
    if (this.inItem) this.itemParts.push(chunk.subarray(this.itemStart));
    if (this.keyStart >= 0) this.keyParts.push(chunk.subarray(this.keyStart));
  }

  /** The response without its items' content (`"items":[]`), parsed: kind and list metadata. */
  envelope<T>(): T {
    return JSON.parse(Buffer.concat(this.envelopeParts).toString('utf8')) as T;
  }

  private endItem(chunk: Buffer, end: number): void {
    const last = chunk.subarray(this.itemStart, end + 1);
    const bytes = this.itemParts.length > 0 ? Buffer.concat([...this.itemParts, last]) : last;
    this.itemParts = [];
    this.inItem = false;
    this.items++;
    this.onItem(JSON.parse(bytes.toString('utf8')));
  }

  private endKey(chunk: Buffer, end: number): void {
    const last = chunk.subarray(this.keyStart, end);
    this.lastKey = (this.keyParts.length > 0 ? Buffer.concat([...this.keyParts, last]) : last).toString('utf8');
    this.keyParts = [];
    this.keyStart = -1;
  }
}
