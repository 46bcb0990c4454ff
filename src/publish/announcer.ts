// Container discovery: announces a container's device when what it depends on changes, removes
// exactly what was announced, and stops announcing a device a user deleted in Home Assistant.
import type { Logger } from "pino";
import {
  type ComponentKey,
  containerComponents,
  containerDiscovery,
  type DiscoveryContext,
} from "../homeassistant/discovery.js";
import { LABELS } from "../homeassistant/labels.js";
import { PRIORITY, type Publisher } from "../mqtt/publisher.js";
import type { ContainerRecord } from "../state/model.js";

interface Announced {
  /** Discovery topics last published for the container. */
  topics: string[];
  /** Key and platform only: enough to remove a component (its config is not kept). */
  components: ComponentKey[];
  /** Components dropped since first announced, kept as removal stubs. */
  removed: ComponentKey[];
  /** What the discovery payload depends on; recomputed only when this changes. */
  key: string;
}

const keyOf = (c: ComponentKey): ComponentKey => ({ key: c.key, platform: c.platform });

/** Announces the devices a container's device hangs below, before the container's own. */
export interface ParentAnnouncer {
  announceParentOf(record: ContainerRecord): void;
}

export class Announcer {
  readonly #ctx: DiscoveryContext;
  readonly #publisher: Publisher;
  readonly #log: Logger;
  readonly #parents: ParentAnnouncer | undefined;
  readonly #announced = new Map<string, Announced>();
  /** Containers whose device a user deleted in Home Assistant. */
  readonly #suppressed = new Set<string>();

  constructor(deps: {
    ctx: DiscoveryContext;
    publisher: Publisher;
    log: Logger;
    parents?: ParentAnnouncer;
  }) {
    this.#parents = deps.parents;
    this.#ctx = deps.ctx;
    this.#publisher = deps.publisher;
    this.#log = deps.log;
  }

  has(name: string): boolean {
    return this.#announced.has(name);
  }

  announce(record: ContainerRecord): void {
    if (this.#suppressed.has(record.name)) return;
    // Everything the discovery payload depends on, cheap to compare on every state change.
    const hasHealth = record.healthcheck !== null || record.health !== "none";
    const labels = [LABELS.name, LABELS.area, LABELS.icon].map((l) => record.labels[l] ?? "");
    const features = (this.#ctx.extensions ?? []).map((e) => e.containerKey?.(record) ?? "");
    const key = [
      record.image,
      record.compose_project ?? "",
      hasHealth,
      ...labels,
      ...features,
    ].join("\u0000");
    const prev = this.#announced.get(record.name);
    if (prev && prev.key === key) return;
    const components = containerComponents(this.#ctx, record);
    const keys = components.map((c) => c.key);
    // Components of groups turned off in the configuration are sent as removal stubs too: an
    // earlier run may have announced them, and Home Assistant keeps what it is not told to drop.
    const { groups: _enabled, ...everyGroup } = this.#ctx;
    const turnedOff: ComponentKey[] = this.#ctx.groups
      ? containerComponents(everyGroup, record)
      : [];
    const removed = [...(prev?.removed ?? []), ...(prev?.components ?? []), ...turnedOff]
      .filter((c, i, all) => !keys.includes(c.key) && all.findIndex((o) => o.key === c.key) === i)
      .map(keyOf);
    const messages = containerDiscovery(this.#ctx, record, removed, components);
    const topics = messages.map((m) => m.topic);
    this.#parents?.announceParentOf(record);
    // Per-component discovery: a component that disappeared loses its own topic.
    for (const old of prev?.topics ?? []) {
      if (!topics.includes(old)) this.#publisher.clearRetained(old, PRIORITY.discovery);
    }
    for (const m of messages) {
      this.#publisher.setRetained(m.topic, JSON.stringify(m.payload), PRIORITY.discovery);
    }
    this.#announced.set(record.name, { topics, components: components.map(keyOf), removed, key });
  }

  /** Clears every discovery topic announced for the container. */
  remove(name: string): void {
    for (const topic of this.#announced.get(name)?.topics ?? []) {
      this.#publisher.clearRetained(topic, PRIORITY.discovery);
    }
    this.#announced.delete(name);
    this.#suppressed.delete(name);
  }

  /**
   * An empty config on a discovery topic we hold was not sent by us (our own clears are no longer
   * held when they echo): Home Assistant deleted the device. Respect that until the container is
   * removed for good or the bridge restarts.
   */
  onConfigCleared(topic: string): void {
    if (this.#publisher.retained(topic) === undefined) return;
    for (const [name, announced] of this.#announced) {
      if (!announced.topics.includes(topic)) continue;
      this.#suppressed.add(name);
      for (const t of announced.topics) this.#publisher.forget(t);
      this.#announced.delete(name);
      this.#log.info(
        { container: name },
        "Home Assistant deleted this container's device; not announcing it again until the container is removed or the bridge restarts",
      );
      return;
    }
  }
}
