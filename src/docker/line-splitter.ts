// Splits a byte stream into lines. Chunks may cut lines anywhere (even inside a UTF-8 sequence)
// or hold many lines; a line longer than the cap is skipped whole and reported, never buffered
// without bound.

export type SplitResult = { kind: "line"; text: string } | { kind: "oversized"; bytes: number };

const NEWLINE = 0x0a;

export class LineSplitter {
  readonly #maxLineBytes: number;
  #parts: Buffer[] = [];
  #partBytes = 0;
  /** True while skipping the rest of an oversized line. */
  #discarding = false;
  #discarded = 0;
  readonly #decoder = new TextDecoder("utf-8", { fatal: false });

  constructor(maxLineBytes = 1024 * 1024) {
    this.#maxLineBytes = maxLineBytes;
  }

  /** Feeds a chunk; returns the complete lines it finished, in order. */
  push(chunk: Uint8Array): SplitResult[] {
    const out: SplitResult[] = [];
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(NEWLINE, start);
      const end = nl === -1 ? chunk.length : nl;
      this.#append(chunk.subarray(start, end));
      if (nl === -1) break;
      this.#finish(out);
      start = nl + 1;
    }
    return out;
  }

  /** Bytes held for an unfinished line (what a cut stream would lose). */
  get pendingBytes(): number {
    return this.#partBytes;
  }

  /** Drops any unfinished line, e.g. when the stream was cut mid-line. Returns its size. */
  reset(): number {
    const dropped = this.#partBytes + this.#discarded;
    this.#parts = [];
    this.#partBytes = 0;
    this.#discarding = false;
    this.#discarded = 0;
    return dropped;
  }

  #append(piece: Uint8Array): void {
    if (piece.length === 0) return;
    if (this.#discarding) {
      this.#discarded += piece.length;
      return;
    }
    if (this.#partBytes + piece.length > this.#maxLineBytes) {
      this.#discarding = true;
      this.#discarded = this.#partBytes + piece.length;
      this.#parts = [];
      this.#partBytes = 0;
      return;
    }
    // Copy: the caller may reuse the chunk's memory.
    this.#parts.push(Buffer.from(piece));
    this.#partBytes += piece.length;
  }

  #finish(out: SplitResult[]): void {
    if (this.#discarding) {
      out.push({ kind: "oversized", bytes: this.#discarded });
      this.#discarding = false;
      this.#discarded = 0;
      return;
    }
    if (this.#partBytes === 0) return;
    const bytes = this.#parts.length === 1 ? this.#parts[0] : Buffer.concat(this.#parts);
    this.#parts = [];
    this.#partBytes = 0;
    const text = this.#decoder.decode(bytes).replace(/\r$/, "");
    if (text.trim() !== "") out.push({ kind: "line", text });
  }
}
