// Orchestration for one engine: applies the engine's snapshot and events to the model and turns
// every change into MQTT messages: retained state, discovery, availability, raw events, removal
// after a grace period, and a full republish on Home Assistant's birth.
import type { Logger } from "pino";
import type { EngineEvent } from "../docker/events.js";
import type { ContainerInspect, EngineInfo } from "../docker/schemas.js";
import type { WatcherSink } from "../docker/watcher.js";
import { describeError } from "../errors.js";
import type { DiscoveryContext, DiscoveryMode } from "../homeassistant/discovery.js";
import type { EntityGroup } from "../homeassistant/entities.js";
import { COMPOSE_ONEOFF, LABELS } from "../homeassistant/labels.js";
import type { Topics } from "../homeassistant/topics.js";
import { PRIORITY, type Publisher } from "../mqtt/publisher.js";
import { type ContainerRecord, publicState } from "../state/model.js";
import {
  applyEvent,
  applyInspect,
  applySnapshot,
  type Change,
  commitChanges,
  type Reduction,
  recordFromEvent,
} from "../state/reducer.js";
import { Aggregates } from "./aggregates.js";
import { Announcer } from "./announcer.js";
import { EventPublisher, entityEventsOn } from "./events.js";
import { StaleCleanup } from "./stale-cleanup.js";

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
    /** Entity groups announced per container (default: all). */
    entities?: readonly EntityGroup[];
    /** A device per Compose project, parent of its containers (default true). */
    stacks?: boolean;
  };
  removalGraceMs: number;
  publishHealthcheckExec: boolean;
  /** Which events go to the events topics (default: all). */
  eventFilter?: (type: string, action: string) => boolean;
  /** Which containers are mirrored; default: all but opted-out and Compose one-off containers. */
  mirror?: (record: ContainerRecord) => boolean;
  /** A lost engine shows `offline` only if it stays lost this long (no flap on a quick reconnect). */
  offlineDelayMs?: number;
  /** How long to collect retained discovery at start-up before clearing stale entries. */
  cleanupSettleMs?: number;
}

export interface BridgeStats {
  eventsPublished: number;
  stateChanges: number;
  removals: number;
}

/** The default mirror rule: opted-out (`docker-mqtt-bridge.enable=false`) and one-off containers are not. */
export function defaultMirror(record: ContainerRecord): boolean {
  if (record.labels[LABELS.enable]?.toLowerCase() === "false") return false;
  return record.labels[COMPOSE_ONEOFF]?.toLowerCase() !== "true";
}

export class Bridge implements WatcherSink {
  readonly #o: BridgeOptions;
  readonly #log: Logger;
  readonly #ctx: DiscoveryContext;
  readonly #mirror: (record: ContainerRecord) => boolean;
  readonly #containers = new Map<string, ContainerRecord>();
  /** Names whose entities are published (mirrored records, and those within removal grace). */
  readonly #published = new Map<string, string | null>();
  readonly #removalTimers = new Map<string, NodeJS.Timeout>();
  /** Container ids being inspected, with the held-back name to release when the answer comes. */
  readonly #inspecting = new Map<string, string | undefined>();
  /** Names first seen in an event, held back until their inspect answers. */
  readonly #awaitingInspect = new Set<string>();
  readonly #announcer: Announcer;
  readonly #events: EventPublisher;
  readonly #aggregates: Aggregates;
  readonly #cleanup: StaleCleanup;
  #engineId: string | undefined;
  #offlineTimer: NodeJS.Timeout | undefined;
  #birthTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  #stateChanges = 0;
  #removals = 0;

  constructor(options: BridgeOptions) {
    this.#o = options;
    this.#log = options.log;
    this.#mirror = options.mirror ?? defaultMirror;
    const ha = options.homeassistant;
    this.#ctx = {
      topics: options.topics,
      mode: ha.mode,
      version: options.version,
      stacks: ha.stacks ?? true,
      ...(ha.entities ? { groups: new Set(ha.entities) } : {}),
    };
    const deps = { ctx: this.#ctx, publisher: options.publisher, log: options.log };
    this.#events = new EventPublisher({
      topics: options.topics,
      publisher: options.publisher,
      publishHealthcheckExec: options.publishHealthcheckExec,
      eventFilter: options.eventFilter,
      entityEvents: entityEventsOn(ha.enabled, ha.entities),
      healthcheckOf: (name) => this.#containers.get(name)?.healthcheck,
    });
    this.#aggregates = new Aggregates({
      ...deps,
      discovery: ha.enabled,
      stacks: ha.stacks ?? true,
      records: () => [...this.#containers.values()].filter((r) => this.#published.has(r.name)),
      pendingProjects: () => {
        const out: string[] = [];
        for (const name of this.#removalTimers.keys()) {
          const project = this.#published.get(name);
          if (project) out.push(project);
        }
        return out;
      },
    });
    // After the aggregates: a container's stack device is announced before the container's.
    this.#announcer = new Announcer({ ...deps, parents: this.#aggregates });
    this.#cleanup = new StaleCleanup({
      ...deps,
      settleMs: options.cleanupSettleMs ?? 2000,
      discovery: ha.enabled,
    });
  }

  get stats(): BridgeStats {
    return {
      eventsPublished: this.#events.published,
      stateChanges: this.#stateChanges,
      removals: this.#removals,
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
    for (const filter of [...this.#cleanup.stateFilters(), ...this.#cleanup.discoveryFilters()]) {
      publisher.subscribe(filter, (topic, payload, retained) => {
        if (payload.length === 0) {
          if (this.#o.topics.ownDeviceOf(topic)) this.#announcer.onConfigCleared(topic);
          return;
        }
        this.#cleanup.seen(topic, payload.toString(), retained);
      });
    }
    publisher.onConnect(() => this.#cleanup.connected());
    if (publisher.connected) this.#cleanup.connected();
  }

  stop(): void {
    this.#stopped = true;
    for (const timer of this.#removalTimers.values()) clearTimeout(timer);
    this.#removalTimers.clear();
    clearTimeout(this.#offlineTimer);
    clearTimeout(this.#birthTimer);
    this.#cleanup.stop();
    this.#aggregates.stop();
  }

  /** Clears everything published for this host: for an engine that is no longer followed. */
  retire(): void {
    for (const name of [...this.#published.keys()]) this.#removeNow(name);
    this.#aggregates.retire();
    this.#o.publisher.clearRetained(this.#o.topics.availability(), PRIORITY.availability);
  }

  // --- WatcherSink ---

  connected(info: EngineInfo, apiVersion: string): void {
    if (this.#engineId !== undefined && info.ID !== this.#engineId) {
      this.#log.warn(
        { before: this.#engineId, now: info.ID, engine: info.Name },
        "a different engine answered; reconciling everything from its snapshot",
      );
    }
    this.#engineId = info.ID;
    clearTimeout(this.#offlineTimer);
    this.#offlineTimer = undefined;
    this.#aggregates.setHost(info, apiVersion);
    this.#o.publisher.setRetained(this.#o.topics.availability(), "online", PRIORITY.availability);
  }

  snapshot(records: ContainerRecord[]): void {
    this.#apply(applySnapshot(this.#containers, records));
    this.#cleanup.snapshotApplied();
  }

  event(event: EngineEvent): void {
    if (this.#stopped) return;
    const hidden = event.type === "container" && this.#isHidden(event);
    if (!hidden) this.#events.publish(event);
    this.#apply(applyEvent(this.#containers, event));
    if (event.type === "container") {
      const state = hidden
        ? "hidden"
        : this.#awaitingInspect.has(event.name)
          ? "pending"
          : this.#published.has(event.name)
            ? "announced"
            : "hidden";
      this.#events.fireEntity(event, state);
    }
    // Only inspect knows the restart count; a start is when it may have changed.
    if (event.type === "container" && event.action === "start") this.#inspect(event.actorId);
  }

  /** An event of a container that is not mirrored (filtered out or opted out) stays unpublished. */
  #isHidden(event: EngineEvent): boolean {
    if (this.#published.has(event.name)) return false;
    const known = this.#containers.get(event.name);
    if (known && known.id === event.actorId) return !this.#mirror(known);
    // First heard of in this event: its attributes carry its labels, enough to decide.
    return event.name !== "" && !this.#mirror(recordFromEvent(event));
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
    const wanted = reduction.inspect;
    // A container first seen in an event is held back until its inspect answers: published
    // from the event alone it would lack its healthcheck (a Health entity appearing later, a
    // `health: none` that is not true).
    if (wanted && this.#containers.get(wanted.name)?.id === wanted.id)
      this.#awaitingInspect.add(wanted.name);
    for (const change of reduction.changes) this.#publishChange(change);
    if (reduction.changes.length > 0) this.#aggregates.markDirty();
    if (wanted) this.#inspect(wanted.id, wanted.name);
  }

  #publishChange(change: Change): void {
    if (change.kind === "upsert") {
      if (this.#awaitingInspect.has(change.record.name)) return;
      if (this.#mirror(change.record)) {
        this.#stateChanges++;
        this.#publishContainer(change.record);
      } else if (this.#published.has(change.record.name)) {
        // Opted out (or its labels changed so): its entities go at once.
        this.#removeNow(change.record.name);
      }
      return;
    }
    if (!this.#published.has(change.name)) return;
    if (change.reason === "rename") {
      this.#removeNow(change.name);
      return;
    }
    // Destroyed, vanished or being replaced: wait, a container of that name may come back.
    this.#scheduleRemoval(change.name);
  }

  #publishContainer(record: ContainerRecord): void {
    const timer = this.#removalTimers.get(record.name);
    if (timer) {
      clearTimeout(timer);
      this.#removalTimers.delete(record.name);
      this.#log.info(
        { container: record.name },
        "container came back within the removal grace; entities kept",
      );
    }
    this.#published.set(record.name, record.compose_project);
    if (this.#o.homeassistant.enabled) this.#announcer.announce(record);
    this.#o.publisher.setRetained(
      this.#o.topics.containerState(record.name),
      JSON.stringify(publicState(record)),
      PRIORITY.state,
    );
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
    const timer = this.#removalTimers.get(name);
    if (timer) clearTimeout(timer);
    this.#removalTimers.delete(name);
    this.#published.delete(name);
    this.#removals++;
    this.#announcer.remove(name);
    this.#o.publisher.clearRetained(this.#o.topics.containerState(name), PRIORITY.state);
    this.#aggregates.markDirty();
    this.#log.info({ container: name }, "container removed; entities cleared");
  }

  #inspect(id: string, name?: string): void {
    if (this.#stopped) return;
    if (this.#inspecting.has(id)) {
      // Already asked: release the held-back name when that answer comes.
      if (name !== undefined) this.#inspecting.set(id, name);
      return;
    }
    this.#inspecting.set(id, name);
    this.#o
      .inspect(id)
      .then((inspect) => {
        if (inspect && !this.#stopped) this.#apply(applyInspect(this.#containers, inspect));
      })
      .catch((err: unknown) => {
        this.#log.warn({ container: id.slice(0, 12), err: describeError(err) }, "inspect failed");
      })
      .finally(() => {
        const held = this.#inspecting.get(id);
        this.#inspecting.delete(id);
        if (held === undefined || !this.#awaitingInspect.delete(held) || this.#stopped) return;
        // Publish what the model now holds: the inspect's answer, or the event's view if it failed.
        const record = this.#containers.get(held);
        if (record) {
          this.#publishChange({ kind: "upsert", record });
          this.#aggregates.markDirty();
        }
        this.#events.release(held, this.#published.has(held));
      });
  }

  #onHomeAssistantBirth(): void {
    if (this.#stopped) return;
    clearTimeout(this.#birthTimer);
    const delay = Math.random() * this.#o.homeassistant.republishDelayMs;
    this.#log.info({ delayMs: Math.round(delay) }, "Home Assistant came online; republishing");
    this.#birthTimer = setTimeout(() => {
      this.#o.publisher.republish();
    }, delay);
  }
}
