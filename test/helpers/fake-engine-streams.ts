// Fake Docker Engine 20.10, the open `GET /events` responses: replay then live events, `until`,
// and the fault controls (raw bytes, stall/resume, cut) that act on every open stream.
import type { ServerResponse } from "node:http";
import { type EngineEvent, type EventFilter, serializeEvent } from "./fake-engine-events.js";

/** What a test learns about an /events request once its stream is open. */
export interface EventStreamInfo {
  /** Path and query as the client sent them. */
  url: string;
  since: string | null;
  until: string | null;
  filters: string | null;
}

interface Stream {
  res: ServerResponse;
  filter: EventFilter;
  until: bigint | null;
  pending: Array<string | Uint8Array>;
  ending: boolean;
  timer: NodeJS.Timeout | undefined;
}

const MAX_TIMER_MS = 2_147_483_647;

interface Waiter {
  count: number;
  resolve: (info: EventStreamInfo) => void;
}

export class EventStreamHub {
  readonly #streams = new Set<Stream>();
  readonly #opened: EventStreamInfo[] = [];
  #waiters: Waiter[] = [];
  #stalled = false;

  /** Streams open right now. */
  get count(): number {
    return this.#streams.size;
  }

  /** Every /events stream opened so far, in order. */
  get opened(): readonly EventStreamInfo[] {
    return this.#opened;
  }

  get stalled(): boolean {
    return this.#stalled;
  }

  /**
   * Registers a response whose headers are already flushed: writes the replay, then either ends
   * (an `until` in the past) or stays open for live events until `until` or the client leaves.
   */
  open(
    res: ServerResponse,
    info: EventStreamInfo,
    filter: EventFilter,
    until: bigint | null,
    replay: EngineEvent[],
    nowNs: bigint,
  ): void {
    const s: Stream = { res, filter, until, pending: [], ending: false, timer: undefined };
    this.#streams.add(s);
    res.on("close", () => this.#forget(s));
    // A client that vanished mid-write is the client's problem, not the fake's.
    res.on("error", () => undefined);
    for (const ev of replay) this.#write(s, serializeEvent(ev));
    if (until !== null && until > 0n) {
      if (until <= nowNs) this.#end(s);
      else {
        const ms = Number((until - nowNs) / 1_000_000n) + 1;
        // Beyond setTimeout's range the stream simply never ends on its own.
        if (ms <= MAX_TIMER_MS) s.timer = setTimeout(() => this.#end(s), ms);
      }
    }
    this.#opened.push(info);
    const ready = this.#waiters.filter((w) => this.#opened.length >= w.count);
    this.#waiters = this.#waiters.filter((w) => this.#opened.length < w.count);
    for (const w of ready) w.resolve(this.#opened[w.count - 1] ?? info);
  }

  /** Resolves when the n-th /events stream (1-based, over the engine's life) is open. */
  waitFor(count: number): Promise<EventStreamInfo> {
    const done = this.#opened[count - 1];
    if (done) return Promise.resolve(done);
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  /** One live event to every open stream whose filters and `until` accept it. */
  publish(ev: EngineEvent): void {
    const line = serializeEvent(ev);
    for (const s of this.#streams) {
      if (s.ending) continue;
      if (s.until !== null && s.until > 0n && ev.timeNano > s.until) continue;
      if (s.filter.includes(ev)) this.#write(s, line);
    }
  }

  /** Arbitrary bytes to every open stream, regardless of filters. */
  raw(text: string | Uint8Array): void {
    for (const s of this.#streams) if (!s.ending) this.#write(s, text);
  }

  stall(): void {
    this.#stalled = true;
  }

  /** Writes what was held back during the stall (or throws it away with `drop`). */
  resume(options: { drop?: boolean } = {}): void {
    this.#stalled = false;
    for (const s of this.#streams) {
      const pending = s.pending.splice(0);
      if (!options.drop) for (const text of pending) s.res.write(text);
      if (s.ending) {
        this.#forget(s);
        s.res.end();
      }
    }
  }

  /**
   * Destroys every open stream (no terminating chunk), after writing `partial` to each if given.
   * With `graceful`, ends them properly instead. Resolves once all are gone.
   */
  async cut(options: { partial?: string; graceful?: boolean } = {}): Promise<void> {
    const streams = [...this.#streams];
    await Promise.all(
      streams.map(
        (s) =>
          new Promise<void>((resolve) => {
            this.#forget(s);
            s.res.once("close", () => resolve());
            if (s.res.destroyed) {
              resolve();
              return;
            }
            const finish = (): void => {
              if (options.graceful) s.res.end();
              else s.res.destroy();
            };
            if (options.partial) s.res.write(options.partial, finish);
            else finish();
          }),
      ),
    );
  }

  /** Destroys everything at engine close. */
  closeAll(): void {
    for (const s of [...this.#streams]) {
      this.#forget(s);
      s.res.destroy();
    }
  }

  #write(s: Stream, text: string | Uint8Array): void {
    if (this.#stalled) s.pending.push(text);
    else s.res.write(text);
  }

  #end(s: Stream): void {
    clearTimeout(s.timer);
    if (this.#stalled) {
      s.ending = true;
      return;
    }
    this.#forget(s);
    s.res.end();
  }

  #forget(s: Stream): void {
    clearTimeout(s.timer);
    this.#streams.delete(s);
  }
}
