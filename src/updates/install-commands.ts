// Home Assistant's Install button: a message on `<...>/containers/<name>/update/install` starts an
// install of that container when it is allowed; retained messages (a stale press replayed by the
// broker) are never acted on. Each install answers once on `<...>/update/result`.
import type { Logger } from "pino";
import type { Topics } from "../homeassistant/topics.js";
import type { Publisher } from "../mqtt/publisher.js";
import type { ContainerRecord } from "../state/model.js";
import { INSTALL_PAYLOAD } from "./home-assistant.js";
import type { InstallOutcome } from "./installer.js";

export interface InstallCommandsDeps {
  topics: Topics;
  publisher: Pick<Publisher, "publishEvent" | "subscribe" | "unsubscribe">;
  log: Logger;
  /** The mirrored containers now. */
  containers: () => Iterable<ContainerRecord>;
  mayInstall: (record: ContainerRecord) => boolean;
  /**
   * The last check found a newer build for this very container: a press sent straight to MQTT
   * for an image that could not be checked (built here, say) must not pull whatever the name
   * means on a registry.
   */
  hasUpdate: (record: ContainerRecord) => boolean;
  /**
   * Keeps an install and any other action on the same container (control's commands) from running
   * at once: admit() refuses while one is under way. Default: installs exclude only each other.
   */
  exclusive?: (
    containerId: string,
  ) => { ok: true; release: () => void } | { ok: false; reason: string };
  /** Runs the install; progress is the caller's business. */
  install: (record: ContainerRecord, signal: AbortSignal) => Promise<InstallOutcome>;
}

export class InstallCommands {
  readonly #d: InstallCommandsDeps;
  readonly #busy = new Set<string>();
  readonly #abort = new AbortController();
  readonly #running = new Set<Promise<void>>();

  constructor(deps: InstallCommandsDeps) {
    this.#d = deps;
  }

  start(): void {
    this.#d.publisher.subscribe(
      this.#d.topics.allContainerUpdateInstalls(),
      (topic, payload, retained) => this.#onMessage(topic, payload.toString("utf8"), retained),
      // Like control's commands: a press must not be lost on its way in.
      { qos: 1 },
    );
  }

  /** Stops listening; installs under way are told to stop (a started recreate still rolls back). */
  stop(): void {
    this.#d.publisher.unsubscribe(this.#d.topics.allContainerUpdateInstalls());
    this.#abort.abort();
  }

  /** Resolves when every install under way has ended (tests). */
  async idle(): Promise<void> {
    await Promise.all([...this.#running]);
  }

  #onMessage(topic: string, payload: string, retained: boolean): void {
    const { topics, log } = this.#d;
    // An empty payload clears a retained press: nothing to do.
    if (payload === "") return;
    if (retained) {
      log.warn({ topic }, "ignoring a retained install command: only a fresh press installs");
      return;
    }
    const record = [...this.#d.containers()].find(
      (r) => topics.containerUpdateInstall(r.name) === topic,
    );
    if (!record) {
      log.warn({ topic }, "install command for a container this bridge does not mirror");
      return;
    }
    const answer = (result: Record<string, unknown>) =>
      this.#d.publisher.publishEvent(
        topics.containerUpdateResult(record.name),
        JSON.stringify({ container: record.name, action: "install", ...result }),
      );
    if (payload.trim() !== INSTALL_PAYLOAD) {
      answer({
        ok: false,
        error: `unknown command "${payload.slice(0, 40)}" (expected "${INSTALL_PAYLOAD}")`,
      });
      return;
    }
    if (!this.#d.mayInstall(record)) {
      log.warn({ container: record.name }, "install refused: not allowed for this container");
      answer({ ok: false, error: "install is not allowed for this container" });
      return;
    }
    if (!this.#d.hasUpdate(record)) {
      log.warn({ container: record.name }, "install refused: no update known for this container");
      answer({ ok: false, error: "no update known for this container: nothing to install" });
      return;
    }
    if (this.#busy.has(record.name)) {
      answer({ ok: false, error: "an install of this container is already under way" });
      return;
    }
    const admission = this.#d.exclusive?.(record.id) ?? { ok: true as const, release: () => {} };
    if (!admission.ok) {
      answer({
        ok: false,
        error: `${admission.reason}: another action on this container is under way`,
      });
      return;
    }
    this.#busy.add(record.name);
    const run = this.#d
      .install(record, this.#abort.signal)
      .then((outcome) => {
        if (outcome.ok) log.info({ container: record.name, ...outcome }, "image update installed");
        else log.error({ container: record.name, ...outcome }, "image update install failed");
        answer(outcomePayload(outcome));
      })
      .catch((err: unknown) => {
        log.error({ container: record.name, err: String(err) }, "image update install failed");
        answer({ ok: false, error: String(err) });
      })
      .finally(() => {
        admission.release();
        this.#busy.delete(record.name);
        this.#running.delete(run);
      });
    this.#running.add(run);
  }
}

/** The result topic's payload (snake_case, as every payload of the bridge). */
export function outcomePayload(outcome: InstallOutcome): Record<string, unknown> {
  if (outcome.ok) {
    const { id, image, from, to, changed } = outcome;
    return { ok: true, id, image, from, to, changed };
  }
  const { step, error, rolledBack, rollbackError } = outcome;
  return {
    ok: false,
    step,
    error,
    rolled_back: rolledBack,
    ...(rollbackError ? { rollback_error: rollbackError } : {}),
  };
}
