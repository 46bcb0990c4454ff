// Engine events for the throughput and soak runs: lines taken from the real engine's capture
// (test/fixtures/docker-engine-20.10/events-all.raw.jsonl) and rewritten for the bench's own
// containers (their ids, names and image) with fresh, increasing times, pre-serialised once per
// container and action so that producing them costs the bench almost nothing.
import { readFixtureText } from "../test/helpers/fake-engine-fixtures.js";
import type { WallClock } from "./clock.js";

export interface CorpusContainer {
  id: string;
  name: string;
  image: string;
}

interface Template {
  key: string;
  match: (type: string, action: string) => boolean;
}

/**
 * One stop/start cycle of a container with a healthcheck, as 20.10 reports it: kill (SIGTERM),
 * die, network disconnect, stop, network connect, start, one healthcheck probe (its three exec
 * events) and health_status: healthy. Three of these ten change the container's state.
 */
const CYCLE: readonly Template[] = [
  { key: "kill", match: (t, a) => t === "container" && a === "kill" },
  { key: "die", match: (t, a) => t === "container" && a === "die" },
  { key: "disconnect", match: (t, a) => t === "network" && a === "disconnect" },
  { key: "stop", match: (t, a) => t === "container" && a === "stop" },
  { key: "connect", match: (t, a) => t === "network" && a === "connect" },
  { key: "start", match: (t, a) => t === "container" && a === "start" },
  {
    key: "exec_create",
    match: (t, a) => t === "container" && a === "exec_create: /bin/sh -c true",
  },
  { key: "exec_start", match: (t, a) => t === "container" && a === "exec_start: /bin/sh -c true" },
  { key: "exec_die", match: (t, a) => t === "container" && a === "exec_die" },
  { key: "health", match: (t, a) => t === "container" && a === "health_status: healthy" },
];

export const CYCLE_LENGTH = CYCLE.length;
/** How many of a cycle's events change the container's published state (die, start, health). */
export const STATE_CHANGES_PER_CYCLE = 3;

interface Raw {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: string;
}

function rewrite(raw: Raw, c: CorpusContainer, execId: string): string {
  let body: Record<string, unknown>;
  if (raw.Type === "network") {
    const attributes = { ...raw.Actor.Attributes, container: c.id };
    body = {
      Type: raw.Type,
      Action: raw.Action,
      Actor: { ID: raw.Actor.ID, Attributes: attributes },
    };
  } else {
    const extra: Record<string, string> = {};
    for (const key of ["exitCode", "signal", "execID"]) {
      const value = raw.Actor.Attributes[key];
      if (value !== undefined)
        extra[key] = key === "execID" ? execId : key === "exitCode" ? "0" : value;
    }
    const attributes = Object.fromEntries(
      Object.entries({ ...extra, image: c.image, name: c.name }).sort(([a], [b]) =>
        a < b ? -1 : 1,
      ),
    );
    body = {
      status: raw.Action,
      id: c.id,
      from: c.image,
      Type: raw.Type,
      Action: raw.Action,
      Actor: { ID: c.id, Attributes: attributes },
    };
  }
  body.scope = raw.scope;
  // Everything but the times, which json.Encoder writes last: `,"time":..,"timeNano":..}`.
  return JSON.stringify(body).slice(0, -1);
}

export class EventCorpus {
  /** prefixes[container][cycle position] */
  readonly #prefixes: string[][];
  readonly #clock: WallClock;
  #last = 0n;
  #cursor = 0;
  emitted = 0;

  private constructor(prefixes: string[][], clock: WallClock) {
    this.#prefixes = prefixes;
    this.#clock = clock;
  }

  static async load(containers: CorpusContainer[], clock: WallClock): Promise<EventCorpus> {
    const lines = (await readFixtureText("events-all.raw.jsonl")).split("\n").filter(Boolean);
    const raws = lines.map((l) => JSON.parse(l) as Raw);
    const templates = CYCLE.map((t) => {
      const raw = raws.find((r) => t.match(r.Type, r.Action));
      if (!raw) throw new Error(`bench: the capture has no ${t.key} event`);
      return raw;
    });
    const prefixes = containers.map((c, i) =>
      templates.map((raw) => rewrite(raw, c, i.toString(16).padStart(64, "e"))),
    );
    return new EventCorpus(prefixes, clock);
  }

  /** Serialises an event line for `prefix` with the next engine time. */
  #line(prefix: string): string {
    const now = this.#clock.nowNs();
    this.#last = now > this.#last + 1000n ? now : this.#last + 1000n;
    return `${prefix},"time":${this.#last / 1_000_000_000n},"timeNano":${this.#last}}\n`;
  }

  /**
   * The next `count` events: whole cycles, container after container round-robin, so each
   * container alternates stop and start.
   */
  chunk(count: number): string {
    const parts: string[] = [];
    const n = this.#prefixes.length;
    for (let i = 0; i < count; i++) {
      const position = this.#cursor % CYCLE_LENGTH;
      const container = Math.floor(this.#cursor / CYCLE_LENGTH) % n;
      parts.push(this.#line(this.#prefixes[container]?.[position] ?? ""));
      this.#cursor++;
    }
    this.emitted += count;
    return parts.join("");
  }

  /** A `die` with exit code 42 for `c`: its state message marks the end of a run. */
  sentinel(c: CorpusContainer): string {
    const attributes = { exitCode: "42", image: c.image, name: c.name };
    const body = {
      status: "die",
      id: c.id,
      from: c.image,
      Type: "container",
      Action: "die",
      Actor: { ID: c.id, Attributes: attributes },
      scope: "local",
    };
    this.emitted += 1;
    return this.#line(JSON.stringify(body).slice(0, -1));
  }
}
