// Turns a validated raw event into the normalised form every other module uses.
import { type RawEvent, rawEventSchema } from "./schemas.js";

export interface EngineEvent {
  type: string;
  /** The action without its detail: `health_status` for `health_status: healthy`. */
  action: string;
  /** What followed the first `": "` in the action (`healthy`, `/bin/sh -c true`), or "". */
  detail: string;
  actorId: string;
  /** The actor's name attribute (no leading `/`), or "". */
  name: string;
  attributes: Record<string, string>;
  /** Seconds since the epoch, as sent. */
  time: number;
  /** Nanoseconds since the epoch as a decimal string: JSON numbers lose precision past 2^53. */
  timeNano: string;
}

/** Splits `health_status: healthy` on the first `": "` only; the rest may hold more colons. */
export function splitAction(raw: string): { action: string; detail: string } {
  const at = raw.indexOf(": ");
  if (at === -1) return { action: raw, detail: "" };
  return { action: raw.slice(0, at), detail: raw.slice(at + 2) };
}

export type ParseResult =
  | { ok: true; event: EngineEvent }
  | { ok: false; reason: "not-json" | "wrong-shape"; message: string };

const TIME_NANO = /"timeNano"\s*:\s*(\d+)/;

/** The exact `timeNano` of a raw event line (a JSON number past 2^53), without parsing it. */
export function timeNanoOf(line: string): string | undefined {
  return TIME_NANO.exec(line)?.[1];
}

/** Parses one line of the /events stream. Never throws. */
export function parseEventLine(line: string): ParseResult {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (err: unknown) {
    return { ok: false, reason: "not-json", message: (err as Error).message };
  }
  const parsed = rawEventSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join(".") || "event";
    return {
      ok: false,
      reason: "wrong-shape",
      message: `${where}: ${issue?.message ?? "invalid"}`,
    };
  }
  const exactNano = timeNanoOf(line);
  return { ok: true, event: normaliseEvent(parsed.data, exactNano) };
}

export function normaliseEvent(raw: RawEvent, exactNano?: string): EngineEvent {
  const attributes: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw.Actor.Attributes ?? {})) {
    attributes[key] = typeof value === "string" ? value : JSON.stringify(value);
  }
  const { action, detail } = splitAction(raw.Action);
  const timeNano =
    exactNano ??
    (raw.timeNano !== undefined
      ? BigInt(Math.trunc(raw.timeNano)).toString()
      : (BigInt(raw.time) * 1_000_000_000n).toString());
  return {
    type: raw.Type,
    action,
    detail,
    actorId: raw.Actor.ID,
    name: (attributes.name ?? "").replace(/^\//, ""),
    attributes,
    time: raw.time,
    timeNano,
  };
}

/** The `since` query value for resuming after an event: `<sec>.<nanos>`. */
export function sinceParam(timeNano: string): string {
  const padded = timeNano.padStart(10, "0");
  return `${padded.slice(0, -9)}.${padded.slice(-9)}`;
}
