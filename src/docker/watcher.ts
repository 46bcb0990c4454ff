// Follows one engine: negotiate, open /events, take a snapshot, hand both to a sink in order,
// and on any loss reconnect with capped exponential backoff and jitter, resuming with `since`
// and reconciling with a fresh snapshot (the engine replays only its last 256 events).
import { hash } from "node:crypto";
import type { Logger } from "pino";
import { type BridgeError, DockerError, describeError } from "../errors.js";
import type { ContainerRecord } from "../state/model.js";
import type { DockerApi } from "./client.js";
import { type EngineEvent, parseEventLine, sinceParam, timeNanoOf } from "./events.js";
import { LineSplitter } from "./line-splitter.js";
import { type HealthcheckLookup, ProbeLines } from "./probe-lines.js";
import { readChunks } from "./read-chunks.js";
import type { EngineInfo } from "./schemas.js";
import { takeSnapshot } from "./snapshot.js";

/** The engine's `SystemTime` (RFC 3339 with nanoseconds) as a `since` value, if it has one. */
export function engineClock(systemTime: string | undefined): string | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(
    systemTime ?? "",
  );
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return undefined;
  return `${Math.floor(ms / 1000)}.${(m[2] ?? "").padEnd(9, "0").slice(0, 9)}`;
}

/** More than the engine's replay buffer (256), so a whole replay is recognised. */
const RECENT_LINES = 512;

export interface WatcherSink {
  /**
   * The engine answered; `info` is its /info. Called on every (re)connect as soon as it answers,
   * before the snapshot is taken.
   */
  connected(info: EngineInfo, apiVersion: string): void;
  /** A complete snapshot. Events that follow it are newer or re-applied ones. */
  snapshot(records: ContainerRecord[]): void;
  event(event: EngineEvent): void;
  /**
   * A container event line recognised as a healthcheck probe's exec event and left out unparsed
   * (see WatcherOptions.skipProbeExecs): received, counted, never delivered.
   */
  probeSkipped?(): void;
  /** The engine was lost; the watcher is already trying to get it back. */
  disconnected(reason: string): void;
}

export interface WatcherOptions {
  api: DockerApi;
  sink: WatcherSink;
  log: Logger;
  reconnectMaxMs?: number;
  reconnectBaseMs?: number;
  /** How long the stream may be silent before `/_ping` is asked whether the engine lives. */
  watchdogMs?: number;
  maxLineBytes?: number;
  inspectConcurrency?: number;
  /** The `/events` filters (exact on the engine); the same apply to the stall check. */
  filters?: Record<string, string[]>;
  /**
   * Leave out the exec_create/exec_start/exec_die of healthcheck probes, recognised in the raw
   * line before it is parsed (see probe-lines.ts): gives a container's healthcheck command as
   * exec events show it, null for a container without one.
   */
  skipProbeExecs?: HealthcheckLookup;
  /** Where the first stream starts (`<sec>[.<nanos>]`); default: the engine's clock at connect. */
  since?: string;
  /** Connection changes, for library users (the bridge logs them instead). */
  onStatus?: (status: WatcherStatus) => void;
  /** Invalid input and lost connections, as errors with a stable code. */
  onError?: (error: BridgeError) => void;
}

export type WatcherStatus =
  | {
      state: "connected";
      /** True after a reconnect that resumed with `since`. */
      resumed: boolean;
      /**
       * True when the replay did not start at the last event seen: more than the engine's
       * 256 buffered events may have been missed. The snapshot has reconciled the model anyway.
       */
      possibleGap: boolean;
    }
  | { state: "reconnecting"; attempt: number; delayMs: number; reason: string }
  | { state: "disconnected"; reason: string };

export interface WatcherStats {
  /** Events read from the engine, replays left out; healthcheck probe lines skipped unparsed too. */
  eventsReceived: number;
  /** Of those, healthcheck probe exec lines left out before parsing (skipProbeExecs). */
  probeExecsSkipped: number;
  eventsInvalid: number;
  reconnects: number;
}

export class EngineWatcher {
  readonly #o: Required<
    Omit<
      WatcherOptions,
      "api" | "sink" | "log" | "filters" | "since" | "onStatus" | "onError" | "skipProbeExecs"
    >
  > &
    WatcherOptions;
  readonly #log: Logger;
  #abort = new AbortController();
  #stopped = false;
  #running: Promise<void> | undefined;
  #lastTimeNano: string | undefined;
  /**
   * Digests of the latest event lines, to drop what a resumed stream replays. A digest, not the
   * line: every event carries all its container's labels, and a line may be up to a megabyte.
   */
  readonly #recentLines = new Set<string>();
  readonly #recentOrder: (string | undefined)[] = new Array(RECENT_LINES);
  #recentAt = 0;
  #firstSince: string | undefined;
  #resumePointSeen = false;
  #wake: (() => void) | undefined;
  #connected = false;
  /** The engine answered in this session (the sink was told so). */
  #reached = false;
  /** False after a session whose snapshot failed, until one succeeds. */
  #snapshotsWork = true;
  readonly #probes: ProbeLines | undefined;
  readonly stats: WatcherStats = {
    eventsReceived: 0,
    probeExecsSkipped: 0,
    eventsInvalid: 0,
    reconnects: 0,
  };

  constructor(options: WatcherOptions) {
    this.#o = {
      reconnectMaxMs: 30_000,
      reconnectBaseMs: 500,
      watchdogMs: 30_000,
      maxLineBytes: 1024 * 1024,
      inspectConcurrency: 16,
      ...options,
    };
    this.#log = options.log;
    this.#probes = options.skipProbeExecs ? new ProbeLines(options.skipProbeExecs) : undefined;
  }

  get connected(): boolean {
    return this.#connected;
  }

  start(): void {
    this.#running ??= this.#loop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort();
    this.#wake?.();
    await this.#running;
    this.#connected = false;
  }

  async #loop(): Promise<void> {
    let attempt = 0;
    while (!this.#stopped) {
      this.#abort = new AbortController();
      let reason: string;
      try {
        await this.#session(() => {
          attempt = 0;
        });
        reason = "the event stream ended";
      } catch (err: unknown) {
        reason = describeError(err);
        if (!this.#stopped) {
          this.#o.onError?.(
            err instanceof DockerError
              ? err
              : new DockerError("DOCKER_UNREACHABLE", reason, { cause: err }),
          );
        }
      }
      if (this.#stopped) break;
      if (this.#reached) {
        this.#reached = false;
        this.#connected = false;
        this.stats.reconnects++;
        this.#o.sink.disconnected(reason);
        this.#o.onStatus?.({ state: "disconnected", reason });
      }
      const cap = Math.min(this.#o.reconnectBaseMs * 2 ** attempt, this.#o.reconnectMaxMs);
      const delay = Math.round(cap * (0.5 + Math.random() * 0.5));
      attempt++;
      // Debug: a person is told once per cause through onStatus/onError (the bridge's reporter).
      this.#log.debug({ reason, attempt, retryInMs: delay }, "engine lost; reconnecting");
      this.#o.onStatus?.({ state: "reconnecting", attempt, delayMs: delay, reason });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  #announceReached(info: EngineInfo, apiVersion: string): void {
    this.#reached = true;
    this.#o.sink.connected(info, apiVersion);
  }

  /** One connection: negotiate, stream, snapshot, then follow until the stream ends or fails. */
  async #session(onEstablished: () => void): Promise<void> {
    const { api, sink } = this.#o;
    const signal = this.#abort.signal;
    const apiVersion = await api.negotiate(signal);
    const info = await api.info(signal);
    // The engine answers: say so now, not after the snapshot, which may take seconds over a slow
    // link (availability follows whether the engine is reachable, not how long a reconcile takes).
    // After a session whose snapshot failed, only once a snapshot succeeds: an engine that answers
    // /info but not the list would otherwise flap online and offline at every retry.
    const early = this.#snapshotsWork;
    if (early) this.#announceReached(info, apiVersion);
    // A reconnect, whether or not an event had been seen before the loss.
    const resumed = this.#firstSince !== undefined;
    // Resume after the last event seen; on a first connection, from the engine's own clock before
    // the snapshot. Either way nothing between the snapshot and the stream is lost, and the
    // snapshot need not wait for the stream's headers (a buffering proxy may hold them back).
    const lastSeen = this.#lastTimeNano;
    // Before any event was seen, a reconnect resumes from where the first stream began, so an
    // outage's events are not lost.
    const since = lastSeen
      ? sinceParam(lastSeen)
      : (this.#firstSince ?? this.#o.since ?? engineClock(info.SystemTime));
    this.#firstSince ??= since;
    this.#resumePointSeen = false;
    const filters = this.#o.filters ?? {};
    const opening = api.events(since ? { since, signal, filters } : { signal, filters });
    if (!since) await opening;

    // Events arriving while the snapshot is taken wait here, then apply after it, in order.
    let buffer: EngineEvent[] | undefined = [];
    const deliver = (event: EngineEvent) => {
      if (buffer) buffer.push(event);
      else sink.event(event);
    };
    let lastData = Date.now();
    const reading = opening.then((body) =>
      this.#read(body, deliver, () => {
        lastData = Date.now();
      }),
    );
    // Handled here so a failure during the snapshot is not an unhandled rejection; the race
    // below still sees it.
    reading.catch(() => undefined);
    const watchdog = this.#watchdog(() => lastData, deliver);

    try {
      const snapshot = await this.#snapshot(signal).catch((err: unknown) => {
        this.#snapshotsWork = false;
        throw err;
      });
      this.#snapshotsWork = true;
      if (!early) this.#announceReached(info, apiVersion);
      this.#connected = true;
      // The backoff starts over only once the stream itself has opened, so an /events that keeps
      // failing (a proxy refusing it) is not retried, with a full snapshot, every half second.
      opening.then(
        () => onEstablished(),
        () => undefined,
      );
      sink.snapshot(snapshot);
      const pending = buffer;
      buffer = undefined;
      for (const event of pending) sink.event(event);
      // The replay repeats events already seen unless the engine's buffer has dropped them all.
      const possibleGap = lastSeen !== undefined && !this.#resumePointSeen;
      this.#o.onStatus?.({ state: "connected", resumed, possibleGap });
      this.#log.info(
        {
          engine: info.Name,
          apiVersion,
          containers: snapshot.length,
          resumed,
        },
        "following engine events",
      );
      await Promise.race([reading, watchdog.failed]);
    } finally {
      watchdog.stop();
      this.#abort.abort();
      await reading.catch(() => undefined);
    }
  }

  /**
   * Reads an event stream to its end: splits lines, validates, drops replayed lines, delivers the
   * rest. The live stream and the stall check's catch-up share it. `onNew` hears of every new
   * event, delivered or skipped as a probe.
   */
  async #read(
    body: AsyncIterable<Uint8Array>,
    deliver: (event: EngineEvent) => void,
    onData: () => void = () => undefined,
    onNew: () => void = () => undefined,
  ): Promise<void> {
    const splitter = new LineSplitter(this.#o.maxLineBytes);
    try {
      await readChunks(body, (chunk) => {
        onData();
        for (const piece of splitter.push(chunk)) {
          if (piece.kind === "oversized") {
            this.#invalid(
              `event line of ${piece.bytes} bytes skipped (limit ${this.#o.maxLineBytes})`,
              { bytes: piece.bytes, limit: this.#o.maxLineBytes },
              "event line too long; skipped",
            );
            continue;
          }
          if (this.#probes?.isProbe(piece.text)) {
            const timeNano = timeNanoOf(piece.text);
            // Without its time a line cannot be resumed from: parse it like any other.
            if (timeNano !== undefined) {
              this.#skipProbe(piece.text, timeNano, onNew);
              continue;
            }
          }
          const parsed = parseEventLine(piece.text);
          if (!parsed.ok) {
            this.#invalid(
              `invalid event line (${parsed.reason}): ${parsed.message}`,
              { reason: parsed.reason, detail: parsed.message, excerpt: piece.text.slice(0, 120) },
              "invalid event line; skipped",
            );
            continue;
          }
          if (!this.#isNew(parsed.event.timeNano, piece.text)) continue;
          this.stats.eventsReceived++;
          onNew();
          this.#deliverSafely(deliver, parsed.event, piece.text);
        }
      });
    } finally {
      const cut = splitter.reset();
      if (cut > 0)
        this.#log.warn({ bytes: cut }, "event stream cut mid-line; the partial line is dropped");
    }
  }

  /**
   * A probe's exec line: not parsed, not delivered, but received like any event, so that a resume
   * starts after it, its replay is recognised, and the counts stay true.
   */
  #skipProbe(line: string, timeNano: string, onNew: () => void): void {
    if (!this.#isNew(timeNano, line)) return;
    this.stats.eventsReceived++;
    this.stats.probeExecsSkipped++;
    onNew();
    this.#o.sink.probeSkipped?.();
  }

  /** A line that is not an event: counted, reported to library users, logged with why. */
  #invalid(message: string, fields: Record<string, unknown>, logLine: string): void {
    this.stats.eventsInvalid++;
    this.#o.onError?.(new DockerError("EVENT_INVALID", message));
    this.#log.warn(fields, logLine);
  }

  /**
   * False for an event already delivered: a resumed stream replays from the last event seen
   * (`since` is inclusive), and the engine sends a replayed event as the very same line. Events
   * merely older than the last one are kept: the engine may deliver concurrent events slightly
   * out of time order.
   */
  #isNew(t: string, line: string): boolean {
    const digest = hash("sha1", line, "base64");
    if (this.#recentLines.has(digest)) {
      this.#resumePointSeen = true;
      return false;
    }
    this.#recentLines.add(digest);
    const evicted = this.#recentOrder[this.#recentAt];
    if (evicted !== undefined) this.#recentLines.delete(evicted);
    this.#recentOrder[this.#recentAt] = digest;
    this.#recentAt = (this.#recentAt + 1) % RECENT_LINES;
    const last = this.#lastTimeNano;
    // Same-length decimal strings compare as numbers (19 digits until the year 2286).
    if (last === undefined || t.length > last.length || (t.length === last.length && t > last)) {
      this.#lastTimeNano = t;
    }
    return true;
  }

  /** A sink that throws on one odd event must not end the stream nor lose the rest of the chunk. */
  #deliverSafely(deliver: (event: EngineEvent) => void, event: EngineEvent, line: string): void {
    try {
      deliver(event);
    } catch (err: unknown) {
      this.stats.eventsInvalid++;
      this.#log.warn(
        { err: describeError(err), excerpt: line.slice(0, 120) },
        "event could not be applied; skipped",
      );
      this.#o.onError?.(
        new DockerError("EVENT_INVALID", `event could not be applied: ${describeError(err)}`),
      );
    }
  }

  /** Asks /_ping whenever the stream has been silent for watchdogMs; a failed ping ends the session. */
  #watchdog(
    lastData: () => number,
    deliver: (event: EngineEvent) => void,
  ): { failed: Promise<void>; stop(): void } {
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const failed = new Promise<void>((_resolve, reject) => {
      const check = async () => {
        if (stopped) return;
        const idle = Date.now() - lastData();
        if (idle >= this.#o.watchdogMs) {
          try {
            await this.#o.api.ping(AbortSignal.timeout(Math.min(this.#o.watchdogMs, 10_000)));
          } catch (err: unknown) {
            if (!stopped) {
              reject(
                new DockerError(
                  "DOCKER_STREAM_STALLED",
                  `engine silent and /_ping failed: ${describeError(err)}`,
                ),
              );
            }
            return;
          }
          // The engine lives; does it hold events our stream never delivered?
          if (!stopped && (await this.#catchUp(deliver))) {
            reject(
              new DockerError(
                "DOCKER_STREAM_STALLED",
                "the event stream is silent but the engine has newer events",
              ),
            );
            return;
          }
        }
        if (!stopped) timer = setTimeout(check, this.#o.watchdogMs);
      };
      timer = setTimeout(check, this.#o.watchdogMs);
    });
    failed.catch(() => undefined);
    return {
      failed,
      stop() {
        stopped = true;
        clearTimeout(timer);
      },
    };
  }

  /**
   * Asks the engine for what followed the last event seen, up to its clock now. Anything new
   * means the live stream stalled (a half-open connection, a proxy holding data back): those
   * events are delivered here, in order, and true is returned so the stream is replaced.
   */
  async #catchUp(deliver: (event: EngineEvent) => void): Promise<boolean> {
    // Before any event was seen, from where the first stream began: a quiet engine's half-open
    // stream must be noticed too.
    const last = this.#lastTimeNano;
    const since = last !== undefined ? sinceParam(last) : this.#firstSince;
    if (since === undefined) return false;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 2000);
    // Stopping the watcher (or the session) ends the query at once.
    const session = this.#abort.signal;
    const onSessionEnd = () => abort.abort();
    session.addEventListener("abort", onSessionEnd, { once: true });
    let found = false;
    try {
      // Up to the engine's clock now: the answer then ends by itself, so a proxy that holds
      // data back (Portainer) hands it over whole.
      const now = engineClock((await this.#o.api.info(abort.signal)).SystemTime);
      const body = await this.#o.api.events({
        since,
        ...(now ? { until: now } : {}),
        signal: abort.signal,
        filters: this.#o.filters ?? {},
      });
      // A probe's line counts too: the live stream missed it all the same.
      await this.#read(body, deliver, undefined, () => {
        found = true;
      });
    } catch (err: unknown) {
      // Aborted, or the query failed: only what arrived counts (and was delivered already).
      if (!abort.signal.aborted) {
        this.#log.debug({ err: describeError(err) }, "stall check query failed");
      }
    } finally {
      clearTimeout(timer);
      session.removeEventListener("abort", onSessionEnd);
      abort.abort();
    }
    return found;
  }

  #snapshot(signal: AbortSignal): Promise<ContainerRecord[]> {
    return takeSnapshot(this.#o.api, {
      signal,
      concurrency: this.#o.inspectConcurrency,
      log: this.#log,
    });
  }
}
