// Commands from MQTT to the engine: reads a command topic, decides whether to act (never on a
// retained message, only on allowed and mirrored containers, never to stop the bridge's own
// container, one command per container at a time, within the rate limits), acts through the
// Engine API, and says what happened on `<command topic>/result` and in an audit log line.
// The state shown never changes here: the engine's events do that.
import type { Logger } from "pino";
import type { DiscoveryExtension } from "../homeassistant/discovery.js";
import type { Topics } from "../homeassistant/topics.js";
import type { Publisher } from "../mqtt/publisher.js";
import type { ContainerFeature, MirrorView } from "../publish/features.js";
import type { ContainerRecord } from "../state/model.js";
import {
  CONTAINER_ACTIONS,
  type ContainerAction,
  HOST_ACTIONS,
  parseCommand,
  type Refusal,
  STACK_ACTIONS,
} from "./commands.js";
import type { ActionOutcome, EngineActions } from "./engine-actions.js";
import { controlDiscovery } from "./entities.js";
import { CommandGate } from "./gate.js";

export interface ControllerDeps {
  topics: Topics;
  publisher: Publisher;
  actions: EngineActions;
  log: Logger;
  /** Why commands may not act on a container (undefined: they may). */
  policy: (record: ContainerRecord) => Refusal;
  isSelf: (record: ContainerRecord) => boolean;
  prune: boolean;
  gate?: CommandGate;
}

/** What `<command topic>/result` carries, besides `duration_ms`. */
type Result = { action: string | null; ok: boolean; error: string | null } & Record<
  string,
  unknown
>;

const SELF_REFUSED: readonly string[] = ["stop", "pause", "restart"];
const SELF_REASON = "the bridge runs in this container: it does not stop, pause or restart itself";

export class Controller implements ContainerFeature {
  readonly discovery: DiscoveryExtension;
  readonly #d: ControllerDeps;
  readonly #gate: CommandGate;
  #view: MirrorView | undefined;
  #stopped = false;

  constructor(deps: ControllerDeps) {
    this.#d = deps;
    this.#gate = deps.gate ?? new CommandGate();
    this.discovery = controlDiscovery({
      topics: deps.topics,
      actsOn: (r) => deps.policy(r) === undefined && !deps.isSelf(r),
      isSelf: deps.isSelf,
      prune: deps.prune,
    });
  }

  start(view: MirrorView): void {
    this.#view = view;
    for (const filter of this.#d.topics.commandFilters()) {
      this.#d.publisher.subscribe(
        filter,
        (topic, payload, retained) => {
          this.#onCommand(topic, payload, retained);
        },
        { qos: 1 },
      );
    }
  }

  stop(): void {
    this.#stopped = true;
    for (const filter of this.#d.topics.commandFilters()) this.#d.publisher.unsubscribe(filter);
  }

  #onCommand(topic: string, payload: Buffer, retained: boolean): void {
    if (this.#stopped || !this.#view) return;
    const started = performance.now();
    const reply = (result: Result): void => {
      const full = { ...result, duration_ms: Math.round(performance.now() - started) };
      this.#d.publisher.publishEvent(this.#d.topics.commandResult(topic), JSON.stringify(full));
      const level = retained ? "warn" : "info";
      const { action, ok, error, duration_ms, ...what } = full as Result & { duration_ms: number };
      this.#d.log[level](
        { ...what, action, ok, ...(error ? { error } : {}), durationMs: duration_ms },
        retained ? "retained command ignored" : "control command",
      );
    };
    const run = (work: Promise<void>): void => {
      work.catch((err: unknown) => {
        this.#d.log.error({ topic, err }, "control command failed unexpectedly");
      });
    };
    if (topic === this.#d.topics.hostCommand()) {
      run(this.#hostCommand(payload, retained, reply));
    } else if (this.#d.topics.isStackCommand(topic)) {
      run(this.#stackCommand(topic, payload, retained, reply));
    } else {
      run(this.#containerCommand(topic, payload, retained, reply));
    }
  }

  async #containerCommand(
    topic: string,
    payload: Buffer,
    retained: boolean,
    reply: (r: Result) => void,
  ): Promise<void> {
    const view = this.#view as MirrorView;
    const record = find(view.announced(), (r) => this.#d.topics.containerCommand(r.name) === topic);
    const container = record?.name ?? segmentBefore(topic, "command");
    const parsed = parseCommand(payload, CONTAINER_ACTIONS);
    const action = "action" in parsed ? parsed.action : null;
    const refuse = (error: string) => reply({ action, ok: false, error, container });
    if (retained) return refuse(RETAINED_REASON);
    if ("error" in parsed) return refuse(parsed.error);
    if (!record) return refuse(`no mirrored container named ${container} on this host`);
    const refusal = this.#d.policy(record);
    if (refusal) return refuse(`not allowed: ${refusal}`);
    if (SELF_REFUSED.includes(parsed.action) && this.#d.isSelf(record)) return refuse(SELF_REASON);
    const admission = this.#gate.admit([record.id]);
    if (!admission.ok) return refuse(REASONS[admission.reason]);
    try {
      const done = await this.#act(record, parsed.action);
      reply({ ...done, container });
    } finally {
      admission.release();
    }
  }

  async #stackCommand(
    topic: string,
    payload: Buffer,
    retained: boolean,
    reply: (r: Result) => void,
  ): Promise<void> {
    const view = this.#view as MirrorView;
    const members = [...view.announced()]
      .filter((r) => r.compose_project && this.#d.topics.stackCommand(r.compose_project) === topic)
      .sort((a, b) => (a.name < b.name ? -1 : 1));
    const stack = members[0]?.compose_project ?? segmentBefore(topic, "command");
    const parsed = parseCommand(payload, STACK_ACTIONS);
    const action = "action" in parsed ? parsed.action : null;
    const refuse = (error: string) => reply({ action, ok: false, error, stack });
    if (retained) return refuse(RETAINED_REASON);
    if ("error" in parsed) return refuse(parsed.error);
    if (members.length === 0) return refuse(`no mirrored container in stack ${stack} on this host`);
    const skipped = members.filter(
      (m) => this.#d.isSelf(m) && SELF_REFUSED.includes(parsed.action),
    );
    const targets = members.filter((m) => !skipped.includes(m));
    const refused = targets.filter((m) => this.#d.policy(m) !== undefined).map((m) => m.name);
    if (refused.length > 0) return refuse(`not allowed: ${refused.sort().join(", ")}`);
    if (targets.length === 0) return refuse(SELF_REASON);
    const admission = this.#gate.admit(targets.map((m) => m.id));
    if (!admission.ok) return refuse(REASONS[admission.reason]);
    try {
      const results = await Promise.all(
        targets.map(async (m) => ({ container: m.name, ...(await this.#act(m, parsed.action)) })),
      );
      const failed = results.filter((r) => !r.ok);
      reply({
        action: parsed.action,
        ok: failed.length === 0,
        error:
          failed.length === 0 ? null : failed.map((r) => `${r.container}: ${r.error}`).join("; "),
        stack,
        containers: results.map(({ container, ok, error }) => ({ container, ok, error })),
        ...(skipped.length > 0
          ? { skipped: skipped.map((m) => ({ container: m.name, reason: SELF_REASON })) }
          : {}),
      });
    } finally {
      admission.release();
    }
  }

  async #hostCommand(
    payload: Buffer,
    retained: boolean,
    reply: (r: Result) => void,
  ): Promise<void> {
    const parsed = parseCommand(payload, HOST_ACTIONS);
    const action = "action" in parsed ? parsed.action : null;
    const refuse = (error: string) =>
      reply({ action, ok: false, error, host: this.#d.topics.hostId });
    if (retained) return refuse(RETAINED_REASON);
    if ("error" in parsed) return refuse(parsed.error);
    if (!this.#d.prune) return refuse("control.prune is off");
    const admission = this.#gate.admit(["host:prune_images"]);
    if (!admission.ok) return refuse(REASONS[admission.reason]);
    try {
      const outcome = await this.#d.actions.pruneImages();
      reply({
        action: parsed.action,
        ok: outcome.ok,
        error: outcome.error ?? null,
        host: this.#d.topics.hostId,
        ...(outcome.ok
          ? { images_deleted: outcome.imagesDeleted, space_reclaimed: outcome.spaceReclaimed }
          : {}),
      });
    } finally {
      admission.release();
    }
  }

  /** One container action; `start` of a paused container resumes it (the Power switch's "on"). */
  async #act(
    record: ContainerRecord,
    asked: ContainerAction,
  ): Promise<{ action: ContainerAction; ok: boolean; error: string | null; unchanged?: boolean }> {
    const action = asked === "start" && record.status === "paused" ? "unpause" : asked;
    const outcome: ActionOutcome = await this.#d.actions.container(record.id, action);
    if (outcome.ok) return { action, ok: true, error: null, unchanged: outcome.unchanged };
    return { action, ok: false, error: outcome.error };
  }
}

const RETAINED_REASON =
  "retained command ignored: a retained command would act again at every restart of the bridge; clear it with an empty retained message";

const REASONS = {
  busy: "busy: a command for this container is still running",
  rate_limited: "rate limited: too many commands; try again in a few seconds",
} as const;

function find<T>(items: Iterable<T>, test: (item: T) => boolean): T | undefined {
  for (const item of items) if (test(item)) return item;
  return undefined;
}

/** The topic level before `last` (the container or stack part of a command topic). */
function segmentBefore(topic: string, last: string): string {
  const parts = topic.split("/");
  const at = parts.lastIndexOf(last);
  return at > 0 ? (parts[at - 1] ?? "") : "";
}
