// Orchestration for one engine: feeds the engine's snapshot and events to the container model,
// walks each container name through its lifecycle (state/lifecycle.ts) and carries out what each
// step asks for: discovery, retained state, removal after a grace period, raw and entity events,
// availability, and a full republish on Home Assistant's birth.
import type { Logger } from "pino";
import type { EngineEvent } from "../docker/events.js";
import type { ContainerInspect, EngineInfo } from "../docker/schemas.js";
import type { WatcherSink } from "../docker/watcher.js";
import type { DiscoveryContext, DiscoveryMode } from "../homeassistant/discovery.js";
import type { EntityGroup } from "../homeassistant/entities.js";
import {
  COMPOSE_ONEOFF,
  enableLabel,
  type LabelProblem,
  LabelProblemReporter,
} from "../homeassistant/labels.js";
import type { Topics } from "../homeassistant/topics.js";
import { PRIORITY, type Publisher } from "../mqtt/publisher.js";
import { ContainerModel, type ModelChange } from "../state/container-model.js";
import {
  type Effect,
  isPublished,
  type LifecycleInput,
  type Phase,
  transition,
} from "../state/lifecycle.js";
import { type ContainerRecord, publicState } from "../state/model.js";
import { recordFromEvent } from "../state/records.js";
import { Aggregates } from "./aggregates.js";
import { Announcer } from "./announcer.js";
import { EventPublisher, entityEventsOn } from "./events.js";
import type { ContainerFeature, MirrorView } from "./features.js";
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
  /** Attribute keys (labels) left out of event payloads, and whether exec command lines go out. */
  eventPrivacy?: { omitAttribute: (key: string) => boolean; execCommands: boolean };
  /** Which events go to the events topics (default: all). */
  eventFilter?: (type: string, action: string) => boolean;
  /** Which containers are mirrored; default: all but opted-out and Compose one-off containers. */
  mirror?: (record: ContainerRecord) => boolean;
  /** A lost engine shows `offline` only if it stays lost this long (no flap on a quick reconnect). */
  offlineDelayMs?: number;
  /** How long to collect retained discovery at start-up before clearing stale entries. */
  cleanupSettleMs?: number;
  /** An exec's command line as the engine reports it (see EventPublisherDeps.execCommand). */
  execCommand?: (execId: string) => Promise<string | undefined>;
  /** What else follows the mirrored containers: control, statistics, updates. */
  features?: readonly ContainerFeature[];
}

export interface BridgeStats {
  eventsPublished: number;
  stateChanges: number;
  removals: number;
}

/** The default mirror rule: opted-out (`docker-mqtt-bridge.enable=false`) and one-off containers are not. */
export function defaultMirror(record: ContainerRecord): boolean {
  if (enableLabel(record.labels) === false) return false;
  return record.labels[COMPOSE_ONEOFF]?.toLowerCase() !== "true";
}

/** Warns once per container, label and value about a label left out of discovery. */
function labelProblemLogger(log: Logger): (problem: LabelProblem) => void {
  const reporter = new LabelProblemReporter(({ container, label, value, reason }) =>
    log.warn({ container, label, value, reason }, "container label ignored"),
  );
  return (problem) => reporter.report(problem);
}

export class Bridge implements WatcherSink {
  readonly #o: BridgeOptions;
  readonly #log: Logger;
  readonly #mirror: (record: ContainerRecord) => boolean;
  readonly #model: ContainerModel;
  /** Each container name's lifecycle phase; a name without one is gone. */
  readonly #phases = new Map<string, Phase>();
  /** Compose project of each name whose entities are published, for stacks within grace. */
  readonly #projects = new Map<string, string | null>();
  readonly #removalTimers = new Map<string, NodeJS.Timeout>();
  readonly #announcer: Announcer;
  readonly #events: EventPublisher;
  readonly #aggregates: Aggregates;
  readonly #cleanup: StaleCleanup;
  #engineId: string | undefined;
  #host: { info: EngineInfo; apiVersion: string } | undefined;
  #offlineTimer: NodeJS.Timeout | undefined;
  #birthTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  #stateChanges = 0;
  #removals = 0;

  constructor(options: BridgeOptions) {
    this.#o = options;
    this.#log = options.log;
    this.#mirror = options.mirror ?? defaultMirror;
    this.#model = new ContainerModel({
      inspect: options.inspect,
      log: options.log,
      onChanges: (changes) => this.#onChanges(changes),
    });
    const ha = options.homeassistant;
    const ctx: DiscoveryContext = {
      topics: options.topics,
      mode: ha.mode,
      version: options.version,
      stacks: ha.stacks ?? true,
      ...(ha.entities ? { groups: new Set(ha.entities) } : {}),
      onLabelProblem: labelProblemLogger(options.log),
      extensions: (options.features ?? []).flatMap((f) => (f.discovery ? [f.discovery] : [])),
    };
    const deps = { ctx, publisher: options.publisher, log: options.log };
    this.#events = new EventPublisher({
      topics: options.topics,
      publisher: options.publisher,
      publishHealthcheckExec: options.publishHealthcheckExec,
      eventFilter: options.eventFilter,
      entityEvents: entityEventsOn(ha.enabled, ha.entities),
      healthcheckOf: (name) => this.#model.records.get(name)?.healthcheck,
      omitAttribute: options.eventPrivacy?.omitAttribute,
      execCommands: options.eventPrivacy?.execCommands,
      execCommand: options.execCommand,
    });
    this.#aggregates = new Aggregates({
      ...deps,
      discovery: ha.enabled,
      stacks: ha.stacks ?? true,
      records: () => this.#announced(),
      pendingProjects: () => this.#graceProjects(),
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

  /** How many containers are mirrored now (the host state's count; filtered-out ones are not). */
  get mirrored(): number {
    let n = 0;
    for (const _record of this.#announced()) n++;
    return n;
  }

  /** Read-only view of the model, keyed by container name. */
  get containers(): ReadonlyMap<string, ContainerRecord> {
    return this.#model.records;
  }

  /** A name's lifecycle phase ("gone" when it has none): for diagnostics and tests. */
  phaseOf(name: string): Phase | "gone" {
    return this.#phases.get(name) ?? "gone";
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
    const view: MirrorView = {
      announced: () => this.#announced(),
      get: (name) =>
        this.#phases.get(name) === "announced" ? this.#model.records.get(name) : undefined,
      engine: () => this.#host,
    };
    for (const feature of this.#features) feature.start?.(view);
  }

  get #features(): readonly ContainerFeature[] {
    return this.#o.features ?? [];
  }

  stop(): void {
    this.#stopped = true;
    this.#model.stop();
    for (const timer of this.#removalTimers.values()) clearTimeout(timer);
    this.#removalTimers.clear();
    clearTimeout(this.#offlineTimer);
    clearTimeout(this.#birthTimer);
    this.#cleanup.stop();
    this.#aggregates.stop();
    for (const feature of this.#features) feature.stop?.();
  }

  /** Resolves when every feature has finished what stop() interrupted (see ContainerFeature). */
  async settled(): Promise<void> {
    await Promise.all(this.#features.map((f) => f.settled?.()));
  }

  /** Clears everything published for this host: for an engine that is no longer followed. */
  retire(): void {
    for (const [name, phase] of [...this.#phases]) if (isPublished(phase)) this.#clear(name);
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
    this.#host = { info, apiVersion };
    clearTimeout(this.#offlineTimer);
    this.#offlineTimer = undefined;
    this.#o.publisher.setRetained(this.#o.topics.availability(), "online", PRIORITY.availability);
    for (const feature of this.#features) feature.engineConnected?.(info, apiVersion);
  }

  snapshot(records: ContainerRecord[]): void {
    // The host's counts wait for the snapshot: a first start shows no host with 0 containers.
    if (this.#host) this.#aggregates.setHost(this.#host.info, this.#host.apiVersion);
    this.#model.applySnapshot(records);
    this.#cleanup.snapshotApplied();
  }

  event(event: EngineEvent): void {
    if (this.#stopped) return;
    if (event.type !== "container") {
      this.#events.publish(event);
      return;
    }
    const hidden = this.#isHidden(event);
    if (!hidden) this.#events.publish(event);
    const healthBefore = this.#model.records.get(event.name)?.health;
    this.#model.applyEvent(event);
    const phase = this.#phases.get(event.name);
    this.#events.fireEntity(
      event,
      hidden || phase === undefined || phase === "hidden"
        ? "hidden"
        : phase === "pending" || phase === "replacing"
          ? "pending"
          : "announced",
      healthBefore,
    );
  }

  disconnected(reason: string): void {
    // The runtime's engine reporter tells a person (once, with the cause); this is the detail.
    this.#log.debug({ reason }, "engine connection lost");
    this.#scheduleOffline();
  }

  /** An event of a container that is not mirrored (filtered out or opted out) stays unpublished. */
  #isHidden(event: EngineEvent): boolean {
    // The container the model holds decides; one it does not hold (first heard of, or a new one
    // replacing a published container, which may itself be opted out) by the labels its event
    // carries.
    const known = this.#model.records.get(event.name);
    if (known && known.id === event.actorId) return !this.#mirror(known);
    return event.name !== "" && !this.#mirror(recordFromEvent(event));
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

  // --- model -> lifecycle -> MQTT ---

  #onChanges(changes: readonly ModelChange[]): void {
    if (this.#stopped) return;
    for (const change of changes) {
      if (change.kind === "upsert") {
        const { record, settled } = change;
        this.#step(record.name, { kind: "seen", settled, mirrored: this.#mirror(record) }, record);
        if (settled) {
          const announced = this.#phases.get(record.name) === "announced";
          this.#events.healthSettled(record.name, record.health, announced);
        }
      } else {
        this.#step(change.name, { kind: "removed", reason: change.reason });
      }
    }
    this.#aggregates.markDirty();
  }

  #step(name: string, input: LifecycleInput, record?: ContainerRecord): void {
    const { phase, effects } = transition(this.#phases.get(name) ?? "gone", input);
    if (phase === "gone") this.#phases.delete(name);
    else this.#phases.set(name, phase);
    for (const effect of effects) this.#carryOut(effect, name, record);
  }

  #carryOut(effect: Effect, name: string, record: ContainerRecord | undefined): void {
    switch (effect) {
      case "announce":
        if (record) this.#announce(record);
        return;
      case "clear":
        this.#clear(name);
        return;
      case "start-grace":
        this.#startGrace(name);
        return;
      case "cancel-grace":
        if (this.#removalTimers.has(name)) {
          clearTimeout(this.#removalTimers.get(name));
          this.#removalTimers.delete(name);
          this.#log.info({ container: name }, "container came back within the removal grace");
        }
        return;
      case "release-events":
        this.#events.release(name, true);
        return;
      case "drop-events":
        this.#events.release(name, false);
        return;
    }
  }

  #announce(record: ContainerRecord): void {
    this.#stateChanges++;
    this.#projects.set(record.name, record.compose_project);
    if (this.#o.homeassistant.enabled) this.#announcer.announce(record);
    this.#o.publisher.setRetained(
      this.#o.topics.containerState(record.name),
      JSON.stringify(publicState(record)),
      PRIORITY.state,
    );
    for (const feature of this.#features) feature.announced?.(record);
  }

  #startGrace(name: string): void {
    if (this.#removalTimers.has(name)) return;
    const timer = setTimeout(() => {
      this.#removalTimers.delete(name);
      // Any container of that name since would have moved the name out of `grace`.
      this.#step(name, { kind: "grace-expired" });
    }, this.#o.removalGraceMs);
    this.#removalTimers.set(name, timer);
  }

  #clear(name: string): void {
    const timer = this.#removalTimers.get(name);
    if (timer) clearTimeout(timer);
    this.#removalTimers.delete(name);
    this.#projects.delete(name);
    this.#removals++;
    this.#announcer.remove(name);
    this.#o.publisher.clearRetained(this.#o.topics.containerState(name), PRIORITY.state);
    this.#aggregates.markDirty();
    for (const feature of this.#features) feature.cleared?.(name);
    this.#log.info({ container: name }, "container removed; entities cleared");
  }

  /** The records whose entities are out, for the host and stack counts. */
  *#announced(): Iterable<ContainerRecord> {
    for (const [name, phase] of this.#phases) {
      if (phase !== "announced") continue;
      const record = this.#model.records.get(name);
      if (record) yield record;
    }
  }

  /** Compose projects of containers waiting out their removal grace (their stack stays). */
  *#graceProjects(): Iterable<string> {
    for (const [name, phase] of this.#phases) {
      const project = this.#projects.get(name);
      if ((phase === "grace" || phase === "replacing") && project) yield project;
    }
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
