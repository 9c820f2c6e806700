// Splits a watch response (one JSON event a line) into its lines while it
// streams in.
//
// Why a class of its own: the framing is where a broken or hostile server
// can hurt the daemon without sending a single bad object — a line that
// never ends would grow the pending text without bound, and re-searching
// it from its start on every chunk costs time quadratic in its length. Here
// the pending text is kept as chunks, each chunk is searched once, and a
// line longer than any object the API server can store is an error.

/**
 * The longest line accepted, in UTF-16 code units. The API server refuses
 * requests over 3 MiB and etcd stores values up to 1.5 MiB by default; an
 * event wraps one object, so 16 Mi leaves room for any real one.
 */
export const MAX_WATCH_LINE_CHARS = 16 * 1024 * 1024;

export class WatchLineSplitter {
  private readonly parts: string[] = [];
  private pendingChars = 0;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxChars = MAX_WATCH_LINE_CHARS,
  ) {}

  /** Hands over every line this chunk completes (trimmed, blank lines skipped); throws on a line over the bound. */
  push(chunk: string): void {
    let from = 0;
    for (let nl = chunk.indexOf('\n'); nl >= 0; nl = chunk.indexOf('\n', from)) {
      let line = chunk.slice(from, nl);
      from = nl + 1;
      if (this.parts.length > 0) {
        this.parts.push(line);
        line = this.parts.join('');
        this.parts.length = 0;
        this.pendingChars = 0;
      }
      this.emit(line);
    }
    if (from < chunk.length) {
      this.pendingChars += chunk.length - from;
      if (this.pendingChars > this.maxChars) throw this.tooLong();
      this.parts.push(from === 0 ? chunk : chunk.slice(from));
    }
  }

  /** The stream ended: a last line without its newline is still a line. */
  end(): void {
    if (this.parts.length === 0) return;
    const line = this.parts.join('');
    this.parts.length = 0;
    this.pendingChars = 0;
    this.emit(line);
  }

  private emit(line: string): void {
    if (line.length > this.maxChars) throw this.tooLong();
    const trimmed = line.trim();
    if (trimmed !== '') this.onLine(trimmed);
  }

  private tooLong(): Error {
    return new Error(`watch event longer than ${this.maxChars} characters`);
  }
}
