// Orchestration for one engine: applies the engine's snapshot and events to the model and turns
// every change into MQTT messages: retained state, discovery, availability, raw events, removal
// after a grace period, a full republish on Home Assistant's birth, and start-up cleanup of stale
// retained discovery this bridge published before.
import type { Logger } from "pino";
import type { EngineEvent } from "./docker/events.js";
import type { ContainerInspect, EngineInfo } from "./docker/schemas.js";
import type { WatcherSink } from "./docker/watcher.js";
import { describeError } from "./errors.js";
import {
  componentKeys,
  containerDiscovery,
  type DiscoveryContext,
  type DiscoveryMode,
  hostDiscovery,
  isOwnDiscoveryPayload,
} from "./homeassistant/discovery.js";
import type { Topics } from "./homeassistant/topics.js";
import { PRIORITY, type Publisher } from "./mqtt/publisher.js";
import { type ContainerRecord, publicState } from "./state/model.js";
import {
  applyEvent,
  applyInspect,
  applySnapshot,
  type Change,
  commitChanges,
  type Reduction,
} from "./state/reducer.js";

export interface BridgeOptions {
  topics: Topics;
  publisher: Publisher;
  /** Inspects a container; null when it no longer exists. */
  inspect: (id: string) => Promise<ContainerInspect | null>;
  log: Logger;
  version: string;
  homeassistant: {
    enabled: boolean;
    mode: DiscoveryMode;
    statusTopic: string;
    /** Upper bound of the random wait after Home Assistant's birth message. */
    republishDelayMs: number;
  };
  removalGraceMs: number;
  publishHealthcheckExec: boolean;
  /** A lost engine shows `offline` only if it stays lost this long (no flap on a quick reconnect). */
  offlineDelayMs?: number;
  /** How long to collect retained discovery at start-up before clearing stale entries. */
  cleanupSettleMs?: number;
}

interface Announced {
  /** Discovery topics last published for the container. */
  topics: string[];
  /** Component keys published, and keys removed since (kept as removal stubs). */
  components: string[];
  removed: string[];
  /** What the discovery payload depends on; recomputed only when this changes. */
  key: string;
}

export interface BridgeStats {
  eventsPublished: number;
  stateChanges: number;
  removals: number;
}

const HEALTHCHECK_EXEC_MEMORY = 4096;

export class Bridge implements WatcherSink {
  readonly #o: BridgeOptions;
  readonly #log: Logger;
  readonly #ctx: DiscoveryContext;
  readonly #containers = new Map<string, ContainerRecord>();
  readonly #announced = new Map<string, Announced>();
  readonly #removalTimers = new Map<string, NodeJS.Timeout>();
  readonly #inspecting = new Set<string>();
  readonly #healthExecIds = new Set<string>();
  /** Containers whose device a user deleted in Home Assistant. */
  readonly #suppressed = new Set<string>();
  #engineId: string | undefined;
  #offlineTimer: NodeJS.Timeout | undefined;
  #birthTimer: NodeJS.Timeout | undefined;
  #cleanupTimer: NodeJS.Timeout | undefined;
  /** Retained topics of ours seen at start-up; undefined once cleanup has run. */
  #seenRetained: Set<string> | undefined = new Set();
  #snapshotDone = false;
  #subscribedAt: number | undefined;
  #stopped = false;
  readonly stats: BridgeStats = { eventsPublished: 0, stateChanges: 0, removals: 0 };

  constructor(options: BridgeOptions) {
    this.#o = options;
    this.#log = options.log;
    this.#ctx = {
      topics: options.topics,
      mode: options.homeassistant.mode,
      version: options.version,
    };
  }

  /** Read-only view of the model, keyed by container name. */
  get containers(): ReadonlyMap<string, ContainerRecord> {
    return this.#containers;
  }

  start(): void {
    const { publisher } = this.#o;
    // `offline` only if the engine does not answer soon: no offline/online flap at every start.
    this.#scheduleOffline();
    if (this.#o.homeassistant.enabled) {
      publisher.subscribe(this.#o.homeassistant.statusTopic, (_topic, payload) => {
        if (payload.toString() === "online") this.#onHomeAssistantBirth();
      });
    }
    const filters = this.#cleanupFilters();
    for (const filter of filters) {
      publisher.subscribe(filter, (topic, payload, retained) =>
        this.#onRetainedSeen(topic, payload, retained),
      );
    }
    publisher.onConnect(() => {
      if (this.#seenRetained === undefined) return;
      this.#subscribedAt = Date.now();
      this.#scheduleCleanup();
    });
    if (publisher.connected) {
      this.#subscribedAt = Date.now();
      this.#scheduleCleanup();
    }
  }

  stop(): void {
    this.#stopped = true;
    for (const timer of this.#removalTimers.values()) clearTimeout(timer);
    this.#removalTimers.clear();
    clearTimeout(this.#offlineTimer);
    clearTimeout(this.#birthTimer);
    clearTimeout(this.#cleanupTimer);
  }

  // --- WatcherSink ---

  connected(info: EngineInfo): void {
    if (this.#engineId !== undefined && info.ID !== this.#engineId) {
      this.#log.warn(
        { before: this.#engineId, now: info.ID, engine: info.Name },
        "a different engine answered; reconciling everything from its snapshot",
      );
    }
    this.#engineId = info.ID;
    clearTimeout(this.#offlineTimer);
    this.#offlineTimer = undefined;
    if (this.#o.homeassistant.enabled) {
      for (const m of hostDiscovery(this.#ctx, {
        name: this.#o.topics.hostId,
        engineVersion: info.ServerVersion,
      })) {
        this.#o.publisher.setRetained(m.topic, JSON.stringify(m.payload), PRIORITY.discovery);
      }
    }
    this.#o.publisher.setRetained(this.#o.topics.availability(), "online", PRIORITY.availability);
  }

  snapshot(records: ContainerRecord[]): void {
    this.#apply(applySnapshot(this.#containers, records));
    this.#snapshotDone = true;
    this.#scheduleCleanup();
  }

  event(event: EngineEvent): void {
    if (this.#stopped) return;
    this.#publishEvent(event);
    this.#apply(applyEvent(this.#containers, event));
    // Only inspect knows the restart count; a start is when it may have changed.
    if (event.type === "container" && event.action === "start") this.#inspect(event.actorId);
  }

  disconnected(reason: string): void {
    this.#log.warn({ reason }, "engine connection lost");
    this.#scheduleOffline();
  }

  #scheduleOffline(): void {
    clearTimeout(this.#offlineTimer);
    this.#offlineTimer = setTimeout(() => {
      this.#o.publisher.setRetained(
        this.#o.topics.availability(),
        "offline",
        PRIORITY.availability,
      );
    }, this.#o.offlineDelayMs ?? 1500);
  }

  // --- model -> MQTT ---

  #apply(reduction: Reduction): void {
    commitChanges(this.#containers, reduction.changes);
    for (const change of reduction.changes) this.#publishChange(change);
    if (reduction.inspect) this.#inspect(reduction.inspect.id);
  }

  #publishChange(change: Change): void {
    if (change.kind === "upsert") {
      this.stats.stateChanges++;
      this.#publishContainer(change.record);
      return;
    }
    if (change.reason === "rename") {
      this.#removeNow(change.name);
      return;
    }
    // Destroyed, vanished or being replaced: wait, a container of that name may come back.
    this.#scheduleRemoval(change.name);
  }

  #publishContainer(record: ContainerRecord): void {
    const { publisher, topics } = this.#o;
    const timer = this.#removalTimers.get(record.name);
    if (timer) {
      clearTimeout(timer);
      this.#removalTimers.delete(record.name);
      this.#log.info(
        { container: record.name },
        "container came back within the removal grace; entities kept",
      );
    }
    if (this.#o.homeassistant.enabled) this.#announce(record);
    publisher.setRetained(
      topics.containerState(record.name),
      JSON.stringify(publicState(record)),
      PRIORITY.state,
    );
  }

  #announce(record: ContainerRecord): void {
    if (this.#suppressed.has(record.name)) return;
    const keys = componentKeys(record, this.#ctx);
    const key = `${record.image}\u0000${keys.join(",")}`;
    const prev = this.#announced.get(record.name);
    if (prev && prev.key === key) return;
    const removed = prev
      ? [...new Set([...prev.removed, ...prev.components.filter((k) => !keys.includes(k))])].filter(
          (k) => !keys.includes(k),
        )
      : [];
    const messages = containerDiscovery(this.#ctx, record, removed);
    const topics = messages.map((m) => m.topic);
    // Per-component discovery: a component that disappeared loses its own topic.
    for (const old of prev?.topics ?? []) {
      if (!topics.includes(old)) this.#o.publisher.clearRetained(old, PRIORITY.discovery);
    }
    for (const m of messages)
      this.#o.publisher.setRetained(m.topic, JSON.stringify(m.payload), PRIORITY.discovery);
    this.#announced.set(record.name, { topics, components: keys, removed, key });
  }

  #scheduleRemoval(name: string): void {
    if (this.#removalTimers.has(name)) return;
    const timer = setTimeout(() => {
      this.#removalTimers.delete(name);
      if (!this.#containers.has(name)) this.#removeNow(name);
    }, this.#o.removalGraceMs);
    this.#removalTimers.set(name, timer);
  }

  #removeNow(name: string): void {
    const { publisher, topics } = this.#o;
    const timer = this.#removalTimers.get(name);
    if (timer) clearTimeout(timer);
    this.#removalTimers.delete(name);
    this.stats.removals++;
    for (const topic of this.#announced.get(name)?.topics ?? [])
      publisher.clearRetained(topic, PRIORITY.discovery);
    this.#announced.delete(name);
    this.#suppressed.delete(name);
    publisher.clearRetained(topics.containerState(name), PRIORITY.state);
    this.#log.info({ container: name }, "container removed; entities cleared");
  }

  #publishEvent(event: EngineEvent): void {
    if (!this.#o.publishHealthcheckExec && this.#isHealthcheckExec(event)) return;
    const payload = {
      type: event.type,
      action: event.action,
      detail: event.detail,
      id: event.actorId,
      name: event.name,
      attributes: event.attributes,
      time: new Date(event.time * 1000).toISOString(),
      time_nano: event.timeNano,
    };
    this.stats.eventsPublished++;
    this.#o.publisher.publishEvent(
      this.#o.topics.event(event.type, event.action),
      JSON.stringify(payload),
    );
  }

  /** Healthcheck probes run as execs of the healthcheck command; their three events are noise. */
  #isHealthcheckExec(event: EngineEvent): boolean {
    if (event.type !== "container" || !event.action.startsWith("exec_")) return false;
    const execId = event.attributes.execID ?? "";
    if (event.action === "exec_create") {
      const command = this.#containers.get(event.name)?.healthcheck;
      if (command == null || event.detail !== command) return false;
      if (this.#healthExecIds.size >= HEALTHCHECK_EXEC_MEMORY) this.#healthExecIds.clear();
      this.#healthExecIds.add(execId);
      return true;
    }
    if (event.action === "exec_die") return this.#healthExecIds.delete(execId);
    return this.#healthExecIds.has(execId);
  }

  #inspect(id: string): void {
    if (this.#inspecting.has(id) || this.#stopped) return;
    this.#inspecting.add(id);
    this.#o
      .inspect(id)
      .then((inspect) => {
        if (inspect && !this.#stopped) this.#apply(applyInspect(this.#containers, inspect));
      })
      .catch((err: unknown) => {
        this.#log.warn({ container: id.slice(0, 12), err: describeError(err) }, "inspect failed");
      })
      .finally(() => this.#inspecting.delete(id));
  }

  #onHomeAssistantBirth(): void {
    clearTimeout(this.#birthTimer);
    const delay = Math.random() * this.#o.homeassistant.republishDelayMs;
    this.#log.info({ delayMs: Math.round(delay) }, "Home Assistant came online; republishing");
    this.#birthTimer = setTimeout(() => {
      this.#o.publisher.republish([PRIORITY.availability, PRIORITY.discovery, PRIORITY.state]);
    }, delay);
  }

  // --- start-up cleanup of stale retained messages ---

  #cleanupFilters(): string[] {
    const filters = [this.#o.topics.allContainerStates()];
    if (this.#o.homeassistant.enabled) filters.push(...this.#o.topics.discoveryWildcards());
    return filters;
  }

  #onRetainedSeen(topic: string, payload: Buffer, retained: boolean): void {
    if (payload.length === 0) {
      this.#onDiscoveryCleared(topic);
      return;
    }
    const seen = this.#seenRetained;
    if (!seen || !retained) return;
    const text = payload.toString();
    if (topic.endsWith("/state")) {
      seen.add(topic);
      return;
    }
    if (this.#o.topics.ownDeviceOf(topic) && isOwnDiscoveryPayload(this.#ctx, text))
      seen.add(topic);
  }

  #scheduleCleanup(): void {
    if (this.#seenRetained === undefined || !this.#snapshotDone || this.#subscribedAt === undefined)
      return;
    clearTimeout(this.#cleanupTimer);
    const wait = Math.max(0, this.#subscribedAt + (this.#o.cleanupSettleMs ?? 2000) - Date.now());
    this.#cleanupTimer = setTimeout(() => this.#cleanup(), wait);
  }

  #cleanup(): void {
    const seen = this.#seenRetained;
    if (!seen || this.#stopped) return;
    this.#seenRetained = undefined;
    // Discovery stays subscribed, to notice Home Assistant deleting a device; states do not echo.
    this.#o.publisher.unsubscribe(this.#o.topics.allContainerStates());
    let cleared = 0;
    for (const topic of seen) {
      if (this.#isWanted(topic)) continue;
      this.#o.publisher.clearRetained(
        topic,
        topic.endsWith("/state") ? PRIORITY.state : PRIORITY.discovery,
      );
      cleared++;
    }
    if (cleared > 0)
      this.#log.info({ cleared }, "cleared stale retained messages from an earlier run");
  }

  /**
   * An empty config on a discovery topic we hold was not sent by us (our own clears are no longer
   * held when they echo): Home Assistant deleted the device. Respect that: stop announcing it until
   * the container is gone for good or the bridge restarts.
   */
  #onDiscoveryCleared(topic: string): void {
    if (!this.#o.topics.ownDeviceOf(topic) || this.#o.publisher.retained(topic) === undefined)
      return;
    for (const [name, announced] of this.#announced) {
      if (!announced.topics.includes(topic)) continue;
      this.#suppressed.add(name);
      for (const t of announced.topics) this.#o.publisher.forget(t);
      this.#announced.delete(name);
      this.#log.info(
        { container: name },
        "Home Assistant deleted this container's device; not announcing it again until the container is removed or the bridge restarts",
      );
      return;
    }
  }

  /** Wanted: the bridge holds a retained payload for it (live, or within its removal grace). */
  #isWanted(topic: string): boolean {
    return this.#o.publisher.retained(topic) !== undefined;
  }
}
