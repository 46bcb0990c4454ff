// Fake Docker Engine 20.10, event side: the wire shape of an event, its Go-compatible
// serialisation, the engine clock, the 256-event replay ring and the `filters` semantics of
// moby's daemon/events/filter.go.
import { hrtime } from "node:process";

/** One engine event as 20.10 puts it on the wire (`timeNano` kept exact as a bigint). */
export interface EngineEvent {
  status?: string;
  id?: string;
  from?: string;
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: string;
  time: number;
  timeNano: bigint;
}

/** What a caller supplies to emit an arbitrary event; the engine adds scope and times. */
export interface EventInput {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes?: Record<string, string> };
  scope?: string;
}

/** Size of the engine's replay buffer (moby daemon/events: eventsLimit). */
export const EVENT_RING_SIZE = 256;

const NS_PER_SEC = 1_000_000_000n;
const MIN_STEP_NS = 1_000n;

/** JSON the way Go's encoding/json writes it: `<`, `>`, `&`, U+2028/9 escaped. */
export function goJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Attributes with keys in Go's map order (sorted bytewise). */
export function sortedAttributes(attrs: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(attrs).sort()) out[key] = attrs[key] ?? "";
  return out;
}

/** One event as one line, exactly like json.Encoder: big `timeNano` digits intact, then "\n". */
export function serializeEvent(ev: EngineEvent): string {
  const { time, timeNano, ...rest } = ev;
  return `${goJson(rest).slice(0, -1)},"time":${time},"timeNano":${timeNano}}\n`;
}

/**
 * Builds an event with the legacy `status`/`id`/`from` fields where 20.10 writes them (`legacy`:
 * below API 1.52, which dropped them).
 */
export function buildEvent(input: EventInput, timeNano: bigint, legacy = true): EngineEvent {
  const attributes = sortedAttributes(input.Actor.Attributes ?? {});
  const body = {
    Type: input.Type,
    Action: input.Action,
    Actor: { ID: input.Actor.ID, Attributes: attributes },
    scope: input.scope ?? "local",
    time: Number(timeNano / NS_PER_SEC),
    timeNano,
  };
  if (!legacy) return body;
  if (input.Type === "container") {
    return { status: input.Action, id: input.Actor.ID, from: attributes.image ?? "", ...body };
  }
  if (input.Type === "image") return { status: input.Action, id: input.Actor.ID, ...body };
  return body;
}

/**
 * Wall-clock nanoseconds, strictly increasing per event. Never behind `Date.now()`, so a test's
 * `since` taken from Date.now() before an operation always includes that operation's events.
 * Steps at least 1 us so that timeNano values stay distinct after a client's JSON.parse rounds them.
 */
export class EventClock {
  readonly #wall0 = BigInt(Date.now()) * 1_000_000n;
  readonly #hr0 = hrtime.bigint();
  #last = 0n;

  /** Now, but never before the last event handed out. */
  now(): bigint {
    const hr = this.#wall0 + (hrtime.bigint() - this.#hr0);
    const wall = BigInt(Date.now()) * 1_000_000n;
    const now = hr > wall ? hr : wall;
    return now > this.#last ? now : this.#last;
  }

  next(): bigint {
    const now = this.now();
    this.#last = now > this.#last + MIN_STEP_NS ? now : this.#last + MIN_STEP_NS;
    return this.#last;
  }
}

/** `"<sec>.<nanos>"` as the Docker CLI sends `since`/`until`. */
export function formatEventTime(ns: bigint): string {
  return `${ns / NS_PER_SEC}.${(ns % NS_PER_SEC).toString().padStart(9, "0")}`;
}

/** Parses `since`/`until` like moby's timetypes.ParseTimestamps; null for "not given". */
export function parseEventTime(value: string | null): bigint | null {
  if (value === null || value === "") return null;
  const match = /^(-?\d+)(?:\.(\d+))?$/.exec(value);
  if (!match) throw new Error(`invalid timestamp: ${value}`);
  const seconds = BigInt(match[1] ?? "0");
  const frac = (match[2] ?? "").slice(0, 9).padEnd(9, "0");
  return seconds * NS_PER_SEC + BigInt(frac);
}

/** `since`, `until` and `filters` of `GET /events`, or the 400 message the engine gives. */
export function parseEventsQuery(
  query: URLSearchParams,
): { since: bigint | null; until: bigint | null; filter: EventFilter } | string {
  try {
    const since = parseEventTime(query.get("since"));
    const until = parseEventTime(query.get("until"));
    const filter = new EventFilter(parseFilterArgs(query.get("filters")));
    if (until !== null && since !== null && until < since) {
      return `\`since\` time (${query.get("since")}) cannot be after \`until\` time (${query.get("until")})`;
    }
    return { since, until, filter };
  } catch (err: unknown) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** The last 256 events of all types; older ones are silently gone, as in moby. */
export class EventRing {
  readonly #events: EngineEvent[] = [];

  push(ev: EngineEvent): void {
    if (this.#events.length === EVENT_RING_SIZE) this.#events.shift();
    this.#events.push(ev);
  }

  get events(): readonly EngineEvent[] {
    return this.#events;
  }

  /** moby's loadBufferedEvents: nothing unless since or until is set; since <= t <= until. */
  replay(since: bigint | null, until: bigint | null, filter: EventFilter): EngineEvent[] {
    if (since === null && until === null) return [];
    return this.#events.filter(
      (ev) =>
        ev.timeNano >= (since ?? 0n) &&
        (until === null || until <= 0n || ev.timeNano <= until) &&
        filter.includes(ev),
    );
  }
}

/** Docker `filters` (modern `{"k":{"v":true}}` or legacy `{"k":["v"]}`) as key -> values. */
export type FilterArgs = Map<string, Set<string>>;

export function parseFilterArgs(raw: string | null): FilterArgs {
  const args: FilterArgs = new Map();
  if (raw === null || raw === "") return args;
  const parsed: unknown = JSON.parse(raw);
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error("invalid filter");
  }
  for (const [key, value] of Object.entries(parsed)) {
    const values = new Set<string>();
    if (Array.isArray(value)) {
      for (const v of value) if (typeof v === "string") values.add(v);
    } else if (typeof value === "object" && value !== null) {
      for (const [v, on] of Object.entries(value)) if (on === true) values.add(v);
    } else {
      throw new Error("invalid filter");
    }
    args.set(key, values);
  }
  return args;
}

export function exactMatch(args: FilterArgs, key: string, source: string): boolean {
  const values = args.get(key);
  return values === undefined || values.size === 0 || values.has(source);
}

export function fuzzyMatch(args: FilterArgs, key: string, source: string): boolean {
  if (exactMatch(args, key, source)) return true;
  for (const prefix of args.get(key) ?? []) if (source.startsWith(prefix)) return true;
  return false;
}

/** `label=k` or `label=k=v`, all of them must hold (filters.Args.MatchKVList). */
export function matchKvList(args: FilterArgs, key: string, attrs: Record<string, string>): boolean {
  const values = args.get(key);
  if (values === undefined || values.size === 0) return true;
  if (Object.keys(attrs).length === 0) return false;
  for (const value of values) {
    const eq = value.indexOf("=");
    const k = eq === -1 ? value : value.slice(0, eq);
    if (!Object.hasOwn(attrs, k)) return false;
    if (eq !== -1 && attrs[k] !== value.slice(eq + 1)) return false;
  }
  return true;
}

/** The familiar repository name without tag or digest (reference.FamiliarName, roughly). */
function stripTag(image: string): string {
  let name = image.split("@")[0] ?? image;
  const colon = name.lastIndexOf(":");
  if (colon > name.lastIndexOf("/")) name = name.slice(0, colon);
  return name.replace(/^docker\.io\/(library\/)?/, "");
}

const FUZZY_EVENT_NAMES = new Set(["health_status", "exec_create", "exec_start"]);
const NAME_MATCHED_TYPES = [
  "daemon",
  "container",
  "plugin",
  "volume",
  "network",
  "service",
  "node",
  "secret",
  "config",
];

/** moby daemon/events/filter.go Filter.Include, key for key. */
export class EventFilter {
  constructor(readonly args: FilterArgs) {}

  includes(ev: EngineEvent): boolean {
    const a = this.args;
    if (a.size === 0) return true;
    const attrs = ev.Actor.Attributes;
    const eventValues = a.get("event") ?? new Set<string>();
    const fuzzyEvent = [...eventValues].some((v) => FUZZY_EVENT_NAMES.has(v));
    if (!(fuzzyEvent ? fuzzyMatch(a, "event", ev.Action) : exactMatch(a, "event", ev.Action))) {
      return false;
    }
    if (!exactMatch(a, "type", ev.Type)) return false;
    if (a.has("scope") && !exactMatch(a, "scope", ev.scope)) return false;
    for (const type of NAME_MATCHED_TYPES) {
      if (!(fuzzyMatch(a, type, ev.Actor.ID) || fuzzyMatch(a, type, attrs.name ?? ""))) {
        return false;
      }
    }
    const imageName = (ev.Type === "image" ? attrs.name : attrs.image) ?? "";
    const imageOk = [ev.Actor.ID, imageName, stripTag(ev.Actor.ID), stripTag(imageName)].some((s) =>
      exactMatch(a, "image", s),
    );
    if (!imageOk) return false;
    return !a.has("label") || matchKvList(a, "label", attrs);
  }
}
