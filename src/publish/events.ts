// Engine events to MQTT: every event on `<base>/<host>/events/<type>/<action>` (healthcheck exec
// noise and filtered events left out; secret-looking labels and exec command lines too, unless
// asked for), and lifecycle events on each container's event-entity topic.
import type { EngineEvent } from "../docker/events.js";
import { CONTAINER_EVENT_TYPES, type EntityGroup } from "../homeassistant/entities.js";
import type { Topics } from "../homeassistant/topics.js";
import type { Publisher } from "../mqtt/publisher.js";

const HEALTHCHECK_EXEC_MEMORY = 4096;
const EVENT_ENTITY_TYPES = new Set<string>(CONTAINER_EVENT_TYPES);

export interface EventPublisherDeps {
  topics: Topics;
  publisher: Publisher;
  publishHealthcheckExec: boolean;
  eventFilter?: ((type: string, action: string) => boolean) | undefined;
  /** Event entities are announced (Home Assistant on, `events` among the entity groups). */
  entityEvents: boolean;
  /** The healthcheck command of a container, as exec events show it. */
  healthcheckOf: (name: string) => string | null | undefined;
  /** Attribute keys (labels among them) left out of event payloads; default: none. */
  omitAttribute?: ((key: string) => boolean) | undefined;
  /** Publish the command line of exec events as their `detail` (default true). */
  execCommands?: boolean | undefined;
  /**
   * The command line of an exec as the engine reports it (`GET /exec/{id}/json`), undefined when
   * it cannot say: for an `exec_die` whose start came before the bridge was listening.
   */
  execCommand?: ((execId: string) => Promise<string | undefined>) | undefined;
}

type ExecKind = "health" | "other" | "ask";

export class EventPublisher {
  readonly #d: EventPublisherDeps;
  readonly #healthExecIds = new Set<string>();
  /** Execs seen starting that are not healthcheck probes: their exec_die needs no question. */
  readonly #otherExecIds = new Set<string>();
  /** Lifecycle events of containers not announced yet, fired once they are. */
  readonly #held = new Map<string, EngineEvent[]>();
  /**
   * Containers whose health_status said no status (Podman's): the entity fires once the engine's
   * inspect says which, with the health it gives (see healthSettled).
   */
  readonly #healthAsked = new Map<string, { event: EngineEvent; before: string | undefined }>();
  published = 0;

  constructor(deps: EventPublisherDeps) {
    this.#d = deps;
  }

  /** The raw event on the events topics. */
  publish(event: EngineEvent): void {
    if (!this.#d.publishHealthcheckExec) {
      const kind = this.#execKind(event);
      if (kind === "health") return;
      if (kind === "ask") {
        void this.#askThenPublish(event);
        return;
      }
    }
    this.#emit(event);
  }

  /** An exec_die of an exec that started before the bridge listened: the engine says what ran. */
  async #askThenPublish(event: EngineEvent): Promise<void> {
    const ask = this.#d.execCommand;
    const command = ask
      ? await ask(event.attributes.execID ?? "").catch(() => undefined)
      : undefined;
    // Not knowable (the exec is gone, a proxy refuses): with a healthcheck it is most likely a probe.
    if (command === undefined || command === this.#d.healthcheckOf(event.name)) return;
    this.#emit(event);
  }

  #emit(event: EngineEvent): void {
    if (this.#d.eventFilter && !this.#d.eventFilter(event.type, event.action)) return;
    const payload = {
      type: event.type,
      action: event.action,
      detail: this.#detail(event),
      id: event.actorId,
      name: event.name,
      attributes: this.#attributes(event.attributes),
      time: new Date(event.time * 1000).toISOString(),
      time_nano: event.timeNano,
    };
    this.published++;
    this.#d.publisher.publishEvent(
      this.#d.topics.event(event.type, event.action),
      JSON.stringify(payload),
    );
  }

  /**
   * Fires the container's event entity. `announced`: its device is out; `pending`: it will be
   * once its inspect answers, so the event waits (its entity then sees its create and start too).
   */
  fireEntity(
    event: EngineEvent,
    state: "announced" | "pending" | "hidden",
    healthBefore?: string,
  ): void {
    // A container gone before its health settled: nothing more to wait for.
    if (event.action === "destroy" || event.action === "remove")
      this.#healthAsked.delete(event.name);
    if (!this.#d.entityEvents || state === "hidden") return;
    if (event.action === "health_status" && event.detail.trim() === "") {
      // Keep the first health seen while asking: several probes may pass before the answer.
      const asked = this.#healthAsked.get(event.name);
      this.#healthAsked.set(event.name, { event, before: asked ? asked.before : healthBefore });
      return;
    }
    // Podman's `remove` is the entity's `destroy`.
    const type =
      event.action === "health_status"
        ? event.detail
        : event.action === "remove"
          ? "destroy"
          : event.action;
    if (!EVENT_ENTITY_TYPES.has(type)) return;
    if (state === "pending") {
      const held = this.#held.get(event.name) ?? [];
      held.push(event);
      this.#held.set(event.name, held);
      return;
    }
    const payload: Record<string, unknown> = { event_type: type };
    if (event.attributes.exitCode !== undefined)
      payload.exit_code = Number(event.attributes.exitCode);
    if (event.attributes.signal !== undefined) payload.signal = event.attributes.signal;
    if (event.action === "health_status") payload.health = event.detail;
    this.#d.publisher.publishEvent(
      this.#d.topics.containerEvents(event.name),
      JSON.stringify(payload),
    );
  }

  /**
   * The model's record after a change: after a health_status without a status (Podman's), the
   * entity fires healthy or unhealthy once the engine's inspect shows the health changed, as
   * Docker's health_status does (it is sent only on a change).
   */
  healthSettled(name: string, health: string, announced: boolean): void {
    const asked = this.#healthAsked.get(name);
    if (!asked || health === asked.before) return;
    if (health !== "healthy" && health !== "unhealthy") return;
    this.#healthAsked.delete(name);
    if (announced) this.fireEntity({ ...asked.event, detail: health }, "announced");
  }

  /** A held-back container is settled: fire its waiting events (or drop them if it is hidden). */
  release(name: string, announced: boolean): void {
    const events = this.#held.get(name) ?? [];
    this.#held.delete(name);
    if (announced) for (const event of events) this.fireEntity(event, "announced");
  }

  /** An exec's detail is its command line, which can hold a password: out unless asked for. */
  #detail(event: EngineEvent): string {
    const isExec = event.type === "container" && event.action.startsWith("exec_");
    return isExec && this.#d.execCommands === false ? "" : event.detail;
  }

  #attributes(attributes: Record<string, string>): Record<string, string> {
    const omit = this.#d.omitAttribute;
    if (!omit) return attributes;
    return Object.fromEntries(Object.entries(attributes).filter(([key]) => !omit(key)));
  }

  /**
   * Healthcheck probes run as execs of the healthcheck command; their three events are noise.
   * An exec is known by its command from its exec_create or exec_start; an exec_die of one that
   * started before the bridge listened, in a container with a healthcheck, needs the engine.
   */
  #execKind(event: EngineEvent): ExecKind {
    if (event.type !== "container" || !event.action.startsWith("exec_")) return "other";
    const execId = event.attributes.execID ?? "";
    if (event.action === "exec_die") {
      if (this.#healthExecIds.delete(execId)) return "health";
      if (this.#otherExecIds.delete(execId)) return "other";
      return this.#d.healthcheckOf(event.name) == null ? "other" : "ask";
    }
    if (this.#healthExecIds.has(execId)) return "health";
    if (this.#otherExecIds.has(execId)) return "other";
    if (event.action !== "exec_create" && event.action !== "exec_start") return "other";
    const command = this.#d.healthcheckOf(event.name);
    const ids =
      command != null && event.detail === command ? this.#healthExecIds : this.#otherExecIds;
    if (ids.size >= HEALTHCHECK_EXEC_MEMORY) ids.clear();
    ids.add(execId);
    return ids === this.#healthExecIds ? "health" : "other";
  }
}

/** Whether the event entity is among the announced groups. */
export function entityEventsOn(
  enabled: boolean,
  groups: readonly EntityGroup[] | undefined,
): boolean {
  return enabled && (groups === undefined || groups.includes("events"));
}
