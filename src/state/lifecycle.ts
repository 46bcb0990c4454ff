// Each container name's lifecycle on MQTT, in one place: one phase per name and a pure transition
// function. The bridge feeds it what the model says and carries out the effects it returns.
//
//   phase      what is published                        leaves on
//   pending    nothing; its events wait                  the engine's first answer
//   announced  discovery and state                       opt-out, removal, rename
//   hidden     nothing (filtered or opted out)           a settled record that is mirrored
//   grace      the old container's entities, untouched   a container of that name, the timer
//   replacing  the old container's entities; a new one   the new container's first answer
//              of that name awaits the engine's answer
//   (gone)     nothing: the name has no entry
//
// A record is "settled" when no answer of the engine is awaited for it: a new container is not
// announced from an event alone (its healthcheck is unknown), and a state the event could not say
// in full (an unpause's health, a die under a restart policy) is not published until the engine
// says it. A device a user deletes in Home Assistant stays announced here; the announcer withholds
// its discovery (its state still goes out) until the container is gone.
import type { RemovalReason } from "./reducer.js";

export type Phase = "pending" | "announced" | "hidden" | "grace" | "replacing";

export type LifecycleInput =
  | { kind: "seen"; settled: boolean; mirrored: boolean }
  | { kind: "removed"; reason: RemovalReason }
  | { kind: "grace-expired" };

/**
 * announce: discovery (where it changed) and state; clear: discovery and state removed now;
 * start-grace / cancel-grace: the removal timer; release-events / drop-events: the container's
 * lifecycle events held while it was pending.
 */
export type Effect =
  | "announce"
  | "clear"
  | "start-grace"
  | "cancel-grace"
  | "release-events"
  | "drop-events";

export interface Transition {
  phase: Phase | "gone";
  effects: Effect[];
}

const stay = (phase: Phase | "gone"): Transition => ({ phase, effects: [] });

/** Whether a name in this phase has entities in Home Assistant. */
export function isPublished(phase: Phase | "gone"): boolean {
  return phase === "announced" || phase === "grace" || phase === "replacing";
}

export function transition(from: Phase | "gone", input: LifecycleInput): Transition {
  switch (input.kind) {
    case "seen":
      return seen(from, input.settled, input.mirrored);
    case "removed":
      return removed(from, input.reason);
    case "grace-expired":
      return from === "grace" ? { phase: "gone", effects: ["clear"] } : stay(from);
  }
}

function seen(from: Phase | "gone", settled: boolean, mirrored: boolean): Transition {
  if (!settled) {
    // The engine's answer is awaited: what is out stays as it is.
    if (from === "gone" || from === "hidden") return stay("pending");
    if (from === "grace") return { phase: "replacing", effects: ["cancel-grace"] };
    return stay(from);
  }
  if (!mirrored) {
    if (from === "announced" || from === "replacing" || from === "grace") {
      return { phase: "hidden", effects: ["clear", "drop-events", "cancel-grace"] };
    }
    return { phase: "hidden", effects: from === "pending" ? ["drop-events"] : [] };
  }
  if (from === "announced") return { phase: "announced", effects: ["announce"] };
  if (from === "grace") return { phase: "announced", effects: ["cancel-grace", "announce"] };
  return { phase: "announced", effects: ["announce", "release-events"] };
}

function removed(from: Phase | "gone", reason: RemovalReason): Transition {
  switch (from) {
    case "gone":
    case "hidden":
      return stay("gone");
    case "pending":
      return { phase: "gone", effects: ["drop-events"] };
    case "grace":
      return stay("grace");
    case "replacing":
      return { phase: "grace", effects: ["drop-events", "start-grace"] };
    case "announced":
      // A user's rename moves the entities to the new name at once; anything else may come back
      // under the same name (Compose recreating it), so its entities wait out the grace.
      return reason === "rename"
        ? { phase: "gone", effects: ["clear"] }
        : { phase: "grace", effects: ["start-grace"] };
  }
}
