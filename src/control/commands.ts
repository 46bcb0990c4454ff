// What a command message may say, and which containers commands may act on: pure rules, so the
// controller only wires them to MQTT and the engine.

import { LABEL_PREFIX } from "../homeassistant/labels.js";
import { compilePattern } from "../state/filter.js";
import type { ContainerRecord } from "../state/model.js";

export const CONTAINER_ACTIONS = ["start", "stop", "restart", "pause", "unpause"] as const;
export type ContainerAction = (typeof CONTAINER_ACTIONS)[number];
export const STACK_ACTIONS = ["start", "stop", "restart"] as const;
export type StackAction = (typeof STACK_ACTIONS)[number];
export const HOST_ACTIONS = ["prune_images"] as const;
export type HostAction = (typeof HOST_ACTIONS)[number];

/** `docker-mqtt-bridge.control=true` allows a container, `=false` forbids it whatever the list says. */
export const CONTROL_LABEL = `${LABEL_PREFIX}control`;

/** A command payload longer than this is not read. */
const MAX_PAYLOAD_BYTES = 1024;

export type Parsed<A extends string> = { action: A } | { error: string };

/** `restart`, or `{"action": "restart"}`; any case, surrounding blanks ignored. */
export function parseCommand<A extends string>(payload: Buffer, allowed: readonly A[]): Parsed<A> {
  if (payload.length > MAX_PAYLOAD_BYTES) {
    return { error: `payload longer than ${MAX_PAYLOAD_BYTES} bytes` };
  }
  const text = payload.toString("utf8").trim();
  let word: unknown = text;
  if (text.startsWith("{")) {
    try {
      word = (JSON.parse(text) as { action?: unknown }).action;
    } catch {
      return { error: 'not JSON: send an action word, or {"action": "<action>"}' };
    }
  }
  const action = typeof word === "string" ? word.trim().toLowerCase() : "";
  const known = allowed.find((a) => a === action);
  if (known) return { action: known };
  const shown = typeof word === "string" ? JSON.stringify(word.slice(0, 40)) : "no action";
  return { error: `unknown action ${shown}: expected one of ${allowed.join(", ")}` };
}

const TRUE_WORDS = new Set(["true", "1", "yes", "on"]);
const FALSE_WORDS = new Set(["false", "0", "no", "off"]);

/** Why commands may not act on a container, or undefined when they may. */
export type Refusal = string | undefined;

/**
 * The allowlist: the label decides when present (`false` always wins), else the name patterns.
 * An empty list allows only containers labelled `docker-mqtt-bridge.control=true`.
 */
export function buildControlPolicy(
  patterns: readonly string[],
): (record: ContainerRecord) => Refusal {
  const compiled = patterns.map(compilePattern);
  return (record) => {
    const label = record.labels[CONTROL_LABEL]?.trim().toLowerCase();
    if (label !== undefined && FALSE_WORDS.has(label)) {
      return `labelled ${CONTROL_LABEL}=false`;
    }
    if (label !== undefined && TRUE_WORDS.has(label)) return undefined;
    if (compiled.some((r) => r.test(record.name))) return undefined;
    return "not in control.containers and not labelled docker-mqtt-bridge.control=true";
  };
}
