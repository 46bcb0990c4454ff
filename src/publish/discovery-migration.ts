// Switching `homeassistant.discovery_mode` hands every entity over from the old discovery topics
// to the new ones without Home Assistant deleting it (which would drop its customisations), with
// Home Assistant's own procedure (mqtt/discovery.py, "migrate_discovery"):
//   1. `{"migrate_discovery": true}` on each old topic: Home Assistant unloads those entities and
//      keeps their registry entries (ids, names, areas a user set);
//   2. the new configs, which take the same discovery ids and unique ids over;
//   3. an empty retained payload on each old topic, which Home Assistant then ignores.
// Each step is acknowledged before the next starts, so they reach Home Assistant in that order.
// The new topics are held back from the moment an old topic is seen, so Home Assistant is not
// sent colliding unique ids first (it would log a conflict for each).
import type { Logger } from "pino";
import { expand } from "../homeassistant/abbreviations.js";
import type { DiscoveryContext } from "../homeassistant/discovery.js";
import { PRIORITY, type Publisher } from "../mqtt/publisher.js";

/** The exact payload Home Assistant accepts (its schema allows no other key). */
export const MIGRATE_PAYLOAD = JSON.stringify({ migrate_discovery: true });

/** One old discovery topic and the topics, held now, that take its entities over. */
export interface Handover {
  old: string;
  targets: string[];
}

function components(payload: string | undefined): Record<string, { platform?: unknown }> {
  try {
    // Either form: abbreviated (`cmps`, `p`) or an earlier version's long keys.
    const parsed = expand(JSON.parse(payload ?? "") as Record<string, unknown>) as {
      components?: unknown;
    };
    const c = parsed.components;
    return typeof c === "object" && c !== null ? (c as Record<string, { platform?: unknown }>) : {};
  } catch {
    return {};
  }
}

/**
 * The topics of the current mode that would take over an old topic of the other mode (for the
 * same device, the same components), or [] when the topic is of the current mode.
 */
export function handoverTargets(ctx: DiscoveryContext, topic: string, payload: string): string[] {
  const parsed = ctx.topics.parseDiscovery(topic);
  if (ctx.mode === "device" && parsed?.kind === "component")
    return [ctx.topics.deviceDiscovery(parsed.deviceId)];
  if (ctx.mode === "component" && parsed?.kind === "device")
    return Object.entries(components(payload)).map(([key, c]) =>
      ctx.topics.componentDiscovery(String(c.platform), parsed.deviceId, key),
    );
  return [];
}

/**
 * Which stale discovery topics (ours, from an earlier run, with their payloads) are the other
 * mode's announcement of a device that is announced now: those are handed over, not cleared.
 */
export function planHandovers(
  ctx: DiscoveryContext,
  stale: ReadonlyMap<string, string>,
  held: (topic: string) => string | undefined,
): Handover[] {
  const out: Handover[] = [];
  for (const [topic, payload] of stale) {
    const parsed = ctx.topics.parseDiscovery(topic);
    let targets = handoverTargets(ctx, topic, payload).filter((t) => held(t) !== undefined);
    // A component topic moves only if the device announced now still has that component.
    if (parsed?.kind === "component")
      targets = targets.filter(
        (t) => components(held(t))[parsed.key]?.platform === parsed.platform,
      );
    if (targets.length > 0) out.push({ old: topic, targets });
  }
  return out;
}

/** Runs the hand-overs; true when done, false when the broker could not take a step. */
export async function handOver(
  handovers: readonly Handover[],
  publisher: Publisher,
  log: Logger,
  stopped: () => boolean,
): Promise<boolean> {
  if (handovers.length === 0) return true;
  const step = async (sends: Promise<boolean>[]) => (await Promise.all(sends)).every(Boolean);
  if (!(await step(handovers.map((h) => publisher.publishNow(h.old, MIGRATE_PAYLOAD, false))))) {
    for (const t of handovers.flatMap((h) => h.targets)) publisher.release(t);
    log.warn("could not hand discovery over to the new mode; trying again at the next start");
    return false;
  }
  if (stopped()) return false;
  const targets = [...new Set(handovers.flatMap((h) => h.targets))];
  const resend = targets.map(async (t) => {
    const payload = publisher.retained(t);
    const ok = payload === undefined || (await publisher.publishNow(t, payload, true));
    publisher.release(t);
    return ok;
  });
  if (!(await step(resend)) || stopped()) return false;
  for (const h of handovers) publisher.clearRetained(h.old, PRIORITY.discovery);
  log.info(
    { topics: handovers.length },
    "handed Home Assistant entities over to the new discovery mode",
  );
  return true;
}
