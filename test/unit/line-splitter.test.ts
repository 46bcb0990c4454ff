import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LineSplitter, type SplitResult } from "../../src/docker/line-splitter.js";
import { eventLines, readFixture } from "./fixtures.js";

const bytes = (text: string) => new TextEncoder().encode(text);

/** Feeds the chunks one after another and collects everything the splitter returned. */
function feed(splitter: LineSplitter, chunks: readonly Uint8Array[]): SplitResult[] {
  return chunks.flatMap((chunk) => splitter.push(chunk));
}

const lines = (...texts: string[]): SplitResult[] => texts.map((text) => ({ kind: "line", text }));

/** Cuts `data` at the given offsets (sorted, deduplicated, within bounds). */
function cut(data: Uint8Array, offsets: readonly number[]): Uint8Array[] {
  const points = [...new Set(offsets.filter((o) => o > 0 && o < data.length))].sort(
    (a, b) => a - b,
  );
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const p of points) {
    chunks.push(data.subarray(start, p));
    start = p;
  }
  chunks.push(data.subarray(start));
  return chunks;
}

describe("LineSplitter", () => {
  it("returns a line cut into two chunks at every byte offset, even inside a UTF-8 character", () => {
    // "é" is 2 bytes, "€" 3 and "🐳" 4: some offsets fall inside each of them.
    const text = '{"name":"café-€-🐳"}';
    const data = bytes(`${text}\nnext\n`);
    for (let at = 0; at <= data.length; at++) {
      const splitter = new LineSplitter();
      const out = feed(splitter, [data.subarray(0, at), data.subarray(at)]);
      expect(out, `cut at byte ${at}`).toEqual(lines(text, "next"));
      expect(splitter.pendingBytes).toBe(0);
    }
  });

  it("returns a line fed one byte at a time only once its newline arrives", () => {
    const data = bytes("ü🐳x\n");
    const splitter = new LineSplitter();
    for (let i = 0; i < data.length - 1; i++) {
      expect(splitter.push(data.subarray(i, i + 1))).toEqual([]);
    }
    expect(splitter.pendingBytes).toBe(data.length - 1);
    expect(splitter.push(data.subarray(data.length - 1))).toEqual(lines("ü🐳x"));
  });

  it("returns every line of a chunk holding many, in order", () => {
    const splitter = new LineSplitter();
    expect(splitter.push(bytes("a\nbb\nccc\ndddd"))).toEqual(lines("a", "bb", "ccc"));
    expect(splitter.pendingBytes).toBe(4);
    expect(splitter.push(bytes("\n"))).toEqual(lines("dddd"));
  });

  it("returns the whole captured event stream from one chunk, line for line", () => {
    const raw = readFixture("events-all.raw.jsonl");
    const splitter = new LineSplitter();
    expect(splitter.push(bytes(raw))).toEqual(lines(...eventLines("events-all.raw.jsonl")));
    expect(splitter.pendingBytes).toBe(0);
  });

  it("strips the CR of CRLF line ends, even when CR and LF arrive in different chunks", () => {
    const splitter = new LineSplitter();
    expect(splitter.push(bytes("one\r\ntwo\r"))).toEqual(lines("one"));
    expect(splitter.push(bytes("\nthree\r\n"))).toEqual(lines("two", "three"));
  });

  it("keeps a CR inside a line and only strips the last one", () => {
    const splitter = new LineSplitter();
    expect(splitter.push(bytes("a\rb\r\r\n"))).toEqual(lines("a\rb\r"));
  });

  it("skips empty and blank lines (keep-alive newlines)", () => {
    const splitter = new LineSplitter();
    expect(splitter.push(bytes("\n\n  \n\r\n{}\n\t\n"))).toEqual(lines("{}"));
  });

  it("skips a line over the cap, reports its size, and still returns the next line", () => {
    const splitter = new LineSplitter(16);
    const long = "x".repeat(40);
    expect(splitter.push(bytes(`${long}\nnext\n`))).toEqual([
      { kind: "oversized", bytes: 40 },
      { kind: "line", text: "next" },
    ]);
  });

  it("reports the full size of an oversized line that spans many chunks, without holding it", () => {
    const splitter = new LineSplitter(16);
    expect(splitter.push(bytes("0123456789"))).toEqual([]);
    expect(splitter.push(bytes("0123456789"))).toEqual([]);
    expect(splitter.pendingBytes).toBe(0);
    expect(splitter.push(bytes("0123456789"))).toEqual([]);
    expect(splitter.push(bytes("01\nok\n"))).toEqual([
      { kind: "oversized", bytes: 32 },
      { kind: "line", text: "ok" },
    ]);
  });

  it("accepts a line of exactly the cap", () => {
    const splitter = new LineSplitter(16);
    const exact = "y".repeat(16);
    expect(splitter.push(bytes(`${exact}\n${exact}y\n`))).toEqual([
      { kind: "line", text: exact },
      { kind: "oversized", bytes: 17 },
    ]);
  });

  it("reset() reports the bytes of the unfinished line it drops, and starts afresh", () => {
    const splitter = new LineSplitter();
    expect(splitter.push(bytes('done\n{"Type":"cont'))).toEqual(lines("done"));
    expect(splitter.reset()).toBe(13);
    expect(splitter.pendingBytes).toBe(0);
    expect(splitter.push(bytes("fresh\n"))).toEqual(lines("fresh"));
    expect(splitter.reset()).toBe(0);
  });

  it("reset() counts the bytes of an oversized line being skipped", () => {
    const splitter = new LineSplitter(8);
    expect(splitter.push(bytes("0123456789abc"))).toEqual([]);
    expect(splitter.reset()).toBe(13);
    expect(splitter.push(bytes("ok\n"))).toEqual(lines("ok"));
  });

  it("copies what it holds: a caller reusing its chunk buffer does not change the line", () => {
    const splitter = new LineSplitter();
    const buffer = new Uint8Array(bytes("abc"));
    expect(splitter.push(buffer)).toEqual([]);
    buffer.set(bytes("XYZ"));
    expect(splitter.push(bytes("\n"))).toEqual(lines("abc"));
  });

  it("returns exactly the non-blank lines, in order, for any lines and any chunking", () => {
    // U+FEFF left out: each line is decoded as a stream of its own, whose leading BOM the
    // decoder drops by design (harmless: no JSON line starts with one).
    const line = fc
      .string({ unit: "binary", maxLength: 40 })
      .map((s) => s.replace(/[\n\uFEFF]/g, ""));
    fc.assert(
      fc.property(
        fc.array(line, { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (texts, offsets) => {
          const data = bytes(texts.map((t) => `${t}\n`).join(""));
          const splitter = new LineSplitter();
          const out = feed(splitter, cut(data, offsets));
          const expected = texts
            .map((t) => t.replace(/\r$/, ""))
            .filter((t) => t.trim() !== "")
            .map((text) => ({ kind: "line", text }));
          expect(out).toEqual(expected);
          expect(splitter.pendingBytes).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("never throws on arbitrary bytes, and every line it returns is a string without a newline", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }),
        fc.integer({ min: 1, max: 64 }),
        (chunks, cap) => {
          const splitter = new LineSplitter(cap);
          for (const result of feed(splitter, chunks)) {
            if (result.kind === "line") {
              expect(result.text).not.toContain("\n");
              expect(Buffer.byteLength(result.text)).toBeGreaterThan(0);
            } else {
              expect(result.bytes).toBeGreaterThan(cap);
            }
          }
          splitter.reset();
          expect(splitter.pendingBytes).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });
});
