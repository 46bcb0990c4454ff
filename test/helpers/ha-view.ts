// A simulated Home Assistant that follows an MQTT recording: discovery sets up, updates, hands
// over (migrate_discovery) and removes entities; devices link to their parent through
// `via_device`; every state message updates the entities reading its topic. Everything Home
// Assistant would log as a warning or error is collected in `problems`.
// Sources: homeassistant/components/mqtt/{discovery,entity,sensor,binary_sensor}.py and
// helpers/device_registry.py (a via_device naming an unknown device is dropped, with a warning).

import { discoveryProblems, type HaEntity, parseDiscovery, renderState } from "./ha-rules.js";
import type { Recorded } from "./recorder.js";

type Json = unknown;

export interface StateChange {
  entityId: string;
  from: string;
  to: string;
  attributes: Record<string, Json>;
  /** Index of the message that caused it in the fed sequence. */
  index: number;
}

/** A device in Home Assistant's device registry. */
export interface HaDevice {
  id: string;
  /** The parent device, when the link was made (undefined when it was dropped or none). */
  via: string | undefined;
}

/** An entity registry entry: what survives unloading, and what a user customised. */
interface RegistryEntry {
  entityId: string;
  /** A name the user gave the entity in Home Assistant's UI. */
  customName?: string;
}

/** MQTT topic filter matching (`+` one level, `#` the rest). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

const isMigration = (payload: Record<string, unknown>) =>
  payload.migrate_discovery === true || payload.migr_discvry === true;

/**
 * Follows an MQTT recording as Home Assistant would: entities keyed by unique id and owned by the
 * discovery topic that set them up (a second topic announcing the same unique id is a conflict
 * and is ignored; an empty payload on a topic that owns nothing is ignored); a newly set-up
 * entity reads the retained state of its topic.
 */
export class HaView {
  readonly #prefix: string;
  readonly #entities = new Map<string, HaEntity>();
  /** Entity registry by unique id: kept while an entity is unloaded for a migration. */
  readonly #registry = new Map<string, RegistryEntry>();
  readonly #devices = new Map<string, HaDevice>();
  readonly #states = new Map<string, { state: string; attributes: Record<string, Json> }>();
  readonly #lastPayload = new Map<string, string>();
  readonly changes: StateChange[] = [];
  /** Every problem Home Assistant would log (bad discovery, conflicts, unrenderable states). */
  readonly problems: string[] = [];
  #index = 0;
  #eventClock = Date.parse("2030-01-01T00:00:00Z");

  constructor(prefix = "homeassistant") {
    this.#prefix = prefix;
  }

  static from(messages: readonly Recorded[], prefix = "homeassistant"): HaView {
    const view = new HaView(prefix);
    for (const m of messages) view.feed(m.topic, m.payload);
    return view;
  }

  /** Entities by entity id (default_entity_id). */
  get entities(): ReadonlyMap<string, HaEntity> {
    const out = new Map<string, HaEntity>();
    for (const e of this.#entities.values()) out.set(this.#entityIdOf(e), e);
    return out;
  }

  entity(entityId: string): HaEntity | undefined {
    return this.entities.get(entityId);
  }

  state(entityId: string): string {
    const e = this.entity(entityId);
    if (!e) return "absent";
    return this.#states.get(String(e.config.unique_id))?.state ?? "unknown";
  }

  attributes(entityId: string): Record<string, Json> {
    const e = this.entity(entityId);
    return (e && this.#states.get(String(e.config.unique_id))?.attributes) ?? {};
  }

  changesOf(entityId: string): StateChange[] {
    return this.changes.filter((c) => c.entityId === entityId);
  }

  /**
   * The message Home Assistant publishes when a user presses a button or flips a switch
   * (mqtt/button.py async_press, mqtt/switch.py async_turn_on/off: command_topic, the payload,
   * the entity's qos, never retained unless `retain` is set).
   */
  command(entityId: string, press: "press" | "on" | "off"): { topic: string; payload: string } {
    const e = this.entity(entityId);
    if (!e) throw new Error(`no entity ${entityId}`);
    const topic = e.config.command_topic;
    if (typeof topic !== "string") throw new Error(`${entityId} has no command_topic`);
    if (e.platform === "button" && press === "press")
      return { topic, payload: String(e.config.payload_press ?? "PRESS") };
    if (e.platform === "switch" && press !== "press") {
      const payload = press === "on" ? e.config.payload_on : e.config.payload_off;
      return { topic, payload: String(payload ?? (press === "on" ? "ON" : "OFF")) };
    }
    throw new Error(`${entityId} (${e.platform}) cannot be "${press}"`);
  }

  /** A device of the registry (it stays while it has entities). */
  device(id: string): HaDevice | undefined {
    return this.#devices.get(id);
  }

  /** What a user does in the UI: renames an entity. Kept as long as its registry entry lives. */
  customise(entityId: string, name: string): void {
    const e = this.entity(entityId);
    if (!e) throw new Error(`no entity ${entityId} to customise`);
    const entry = this.#registry.get(String(e.config.unique_id));
    if (entry) entry.customName = name;
  }

  /** The name a user gave the entity, if its registry entry (and so the customisation) lives. */
  customName(entityId: string): string | undefined {
    for (const entry of this.#registry.values())
      if (entry.entityId === entityId) return entry.customName;
    return undefined;
  }

  feed(topic: string, payload: string): void {
    const index = this.#index++;
    if (topic.startsWith(`${this.#prefix}/`) && topic.endsWith("/config")) {
      this.#discovery(topic, payload, index);
      return;
    }
    this.#lastPayload.set(topic, payload);
    for (const e of this.#entities.values()) {
      if (e.config.state_topic === topic) this.#update(e, payload, index);
    }
  }

  #entityIdOf(e: HaEntity): string {
    return this.#registry.get(String(e.config.unique_id))?.entityId ?? "";
  }

  #discovery(topic: string, text: string, index: number): void {
    const owned = [...this.#entities.values()].filter((e) => e.topic === topic);
    if (text === "") {
      for (const e of owned) this.#remove(e, true);
      return;
    }
    const payload = JSON.parse(text) as Record<string, unknown>;
    if (isMigration(payload)) {
      // mqtt/discovery.py: the items of this topic are unloaded, their registry entries kept,
      // waiting for the same discovery ids on the other schema's topic.
      for (const e of owned) this.#remove(e, false);
      return;
    }
    this.problems.push(...discoveryProblems(this.#prefix, topic, text));
    const parsed = parseDiscovery(this.#prefix, topic, payload);
    for (const r of parsed.removed) {
      for (const e of owned) if (e.key === r.key) this.#remove(e, true);
    }
    for (const e of parsed.entities) {
      const id = String(e.config.unique_id);
      const before = this.#entities.get(id);
      if (before && before.topic !== topic) {
        this.problems.push(
          `${topic}: conflicting discovery, unique_id ${id} already belongs to ${before.topic}`,
        );
        continue;
      }
      // mqtt/entity.py: an unchanged config of a set-up entity is ignored.
      if (before && JSON.stringify(before) === JSON.stringify(e)) continue;
      this.#entities.set(id, e);
      if (!this.#registry.has(id))
        this.#registry.set(id, { entityId: String(e.config.default_entity_id) });
      this.#register(topic, e.device);
      const retained = this.#lastPayload.get(String(e.config.state_topic));
      // Only state topics are retained; an event entity never sees a past event.
      if (!before && retained && e.platform !== "event") this.#update(e, retained, index);
    }
  }

  /** helpers/device_registry.py async_get_or_create: a via_device must already exist. */
  #register(topic: string, device: Record<string, unknown>): void {
    const ids = device.identifiers;
    const id = String(Array.isArray(ids) ? ids[0] : ids);
    const via = typeof device.via_device === "string" ? device.via_device : undefined;
    const known = via !== undefined && this.#liveDevices().has(via);
    if (via !== undefined && !known) {
      this.problems.push(`${topic}: device ${id} names a non existing via_device ${via}`);
    }
    const existing = this.#devices.get(id);
    // Each component registers the device again; a link once made is not undone by another.
    if (existing && existing.via !== undefined && !known) return;
    this.#devices.set(id, { id, via: known ? via : undefined });
  }

  #liveDevices(): Set<string> {
    const out = new Set<string>();
    for (const e of this.#entities.values()) {
      const ids = e.device.identifiers;
      for (const i of Array.isArray(ids) ? ids : [ids]) out.add(String(i));
    }
    return out;
  }

  #remove(e: HaEntity, forGood: boolean): void {
    const id = String(e.config.unique_id);
    this.#entities.delete(id);
    this.#states.delete(id);
    if (forGood) this.#registry.delete(id);
    const live = this.#liveDevices();
    for (const d of [...this.#devices.keys()]) if (!live.has(d)) this.#devices.delete(d);
  }

  #update(e: HaEntity, payload: string, index: number): void {
    const id = String(e.config.unique_id);
    const entityId = this.#entityIdOf(e);
    if (e.platform === "event") this.#eventClock += 1000;
    const when = e.platform === "event" ? new Date(this.#eventClock).toISOString() : "";
    let next: { state: string; attributes: Record<string, Json> };
    try {
      next = renderState(e, payload, when);
    } catch (err: unknown) {
      this.problems.push(
        `${entityId} on ${String(e.config.state_topic)}: ${(err as Error).message}`,
      );
      return;
    }
    const from = this.#states.get(id)?.state ?? "unknown";
    this.#states.set(id, next);
    if (from !== next.state)
      this.changes.push({ entityId, from, to: next.state, attributes: next.attributes, index });
  }
}
