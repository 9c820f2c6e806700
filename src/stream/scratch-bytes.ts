// Text appended piece by piece and taken as one Buffer, through a scratch
// area that is reused.
//
// Why not a string: a stream write of a batch joined as a string is one
// flat string of the whole batch (100 ms of events at 12k/s is ~250 KB),
// and V8 puts any string over ~128 KB straight into its large-object space,
// which only a major GC frees; a socket that holds the write a moment longer
// keeps even smaller ones past two scavenges, into the old generation. With
// one live subscriber that was ~2.6 MB/s of old-generation garbage, most of
// the daemon's (a sampled heap profile of the soak). A Buffer past 4 KiB
// keeps its bytes outside the V8 heap, freed with its small handle object.

const INITIAL_BYTES = 1 << 16;

export class ScratchBytes {
  private buf = Buffer.allocUnsafeSlow(INITIAL_BYTES);
  private used = 0;

  append(text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    this.reserve(3 * text.length);
    this.used += this.buf.write(text, this.used, 'utf8');
  }

  /** Bytes as they are (no string, no native call: a typed-array copy). */
  appendBytes(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.used);
    this.used += bytes.length;
  }

  /** A whole number 0 ≤ n ≤ 2^53 − 1 in decimal digits, as `${n}` writes it. */
  appendUint(n: number): void {
    let digits = 1;
    for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
    this.reserve(digits);
    const buf = this.buf;
    let at = this.used + digits;
    let x = n;
    do {
      const q = Math.floor(x / 10);
      buf[--at] = 48 + (x - q * 10);
      x = q;
    } while (x > 0);
    this.used += digits;
  }

  private reserve(bytes: number): void {
    if (this.used + bytes <= this.buf.length) return;
    const bigger = Buffer.allocUnsafeSlow(Math.max(2 * this.buf.length, this.used + bytes));
    this.buf.copy(bigger, 0, 0, this.used);
    this.buf = bigger;
  }

  /** Bytes appended since the last take or clear. */
  get length(): number {
    return this.used;
  }

  /** Bytes start..end of what was appended, without a copy: valid until the next append, take or clear. */
  view(start: number, end: number): Buffer {
    return this.buf.subarray(start, end);
  }

  /** Forgets what was appended after the first `length` bytes. */
  truncate(length: number): void {
    if (length < this.used) this.used = Math.max(0, length);
  }

  /** Starts over without a copy. */
  clear(): void {
    this.used = 0;
  }

  /** What was appended since the last take, copied into a Buffer of its own; the scratch starts over. */
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.used));
    this.used = 0;
    return out;
  }
}
