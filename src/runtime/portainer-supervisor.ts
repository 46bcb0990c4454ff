// Follows Portainer's Docker environments as they come and go: lists them now and every
// refresh, starts an engine runtime for each selected one, and retires those that disappear:
// their entities are cleared once the broker can take the clears (it may be down just then).
import type { Logger } from "pino";
import type { PortainerClient, PortainerEnvironment } from "../docker/portainer.js";
import { describeError } from "../errors.js";
import { sanitiseId } from "../homeassistant/ids.js";
import type { EngineRuntime, EngineSpec } from "./engine-runtime.js";

export interface SupervisorDeps {
  client: PortainerClient;
  /** `portainer.environments`: ids or names, each optionally `=host-id`; empty: all. */
  selection: readonly string[];
  refreshMs: number;
  log: Logger;
  /** Host ids already in use (other engines); environments never take one of these. */
  reservedIds: ReadonlySet<string>;
  startEngine(spec: EngineSpec): EngineRuntime;
  retireEngine(runtime: EngineRuntime): Promise<void>;
  stopEngine(runtime: EngineRuntime): Promise<void>;
}

interface Selector {
  match: string;
  hostId: string | undefined;
}

function parseSelection(selection: readonly string[]): Selector[] {
  return selection.map((entry) => {
    const at = entry.indexOf("=");
    return at === -1
      ? { match: entry, hostId: undefined }
      : { match: entry.slice(0, at), hostId: sanitiseId(entry.slice(at + 1)) };
  });
}

export class PortainerSupervisor {
  readonly #d: SupervisorDeps;
  readonly #selectors: Selector[];
  /** Portainer environment id -> its runtime. */
  readonly #running = new Map<number, EngineRuntime>();
  /** Runtimes of environments gone, until their clears reached the broker. */
  readonly #retiring = new Map<EngineRuntime, Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #lastError: string | undefined;
  #failures = 0;

  constructor(deps: SupervisorDeps) {
    this.#d = deps;
    this.#selectors = parseSelection(deps.selection);
  }

  get runtimes(): EngineRuntime[] {
    return [...this.#running.values()];
  }

  /** Lists once now (so start-up follows every environment at once), then on the interval. */
  async start(): Promise<void> {
    await this.#refresh();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await Promise.all([
      ...[...this.#running.values()].map((r) => this.#d.stopEngine(r)),
      ...this.#retiring.values(),
    ]);
    this.#running.clear();
  }

  /**
   * Stops following a gone environment at once, and clears its entities once its MQTT
   * connection is up: retiring while the broker is down would drop the clears, leaving the
   * environment's devices in Home Assistant for good. Stopped instead if the bridge stops first.
   */
  #retire(runtime: EngineRuntime): void {
    const done = (async () => {
      await runtime.watcher.close();
      while (!this.#stopped && !runtime.publisher.connected) {
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      if (this.#stopped) await this.#d.stopEngine(runtime);
      else await this.#d.retireEngine(runtime);
    })()
      .catch((err: unknown) => {
        this.#d.log.warn({ host: runtime.hostId, err: describeError(err) }, "retiring failed");
      })
      .finally(() => this.#retiring.delete(runtime));
    this.#retiring.set(runtime, done);
  }

  async #refresh(): Promise<void> {
    if (this.#stopped) return;
    let delay = this.#d.refreshMs;
    try {
      const environments = await this.#d.client.listEnvironments();
      await this.#sync(environments);
      if (this.#lastError !== undefined) this.#d.log.info("Portainer answers again");
      this.#lastError = undefined;
      this.#failures = 0;
    } catch (err: unknown) {
      const message = describeError(err);
      // One clear line per distinct problem, not one per retry.
      if (message !== this.#lastError) {
        this.#d.log.error(
          { portainer: this.#d.client.describe(), err: message },
          "cannot list Portainer environments",
        );
      }
      this.#lastError = message;
      this.#failures++;
      delay = Math.min(this.#d.refreshMs, 1000 * 2 ** Math.min(this.#failures, 6));
    }
    if (!this.#stopped) this.#timer = setTimeout(() => void this.#refresh(), delay);
  }

  #selected(env: PortainerEnvironment): Selector | undefined {
    if (this.#selectors.length === 0) return { match: "", hostId: undefined };
    return this.#selectors.find((s) => s.match === String(env.Id) || s.match === env.Name);
  }

  async #sync(environments: PortainerEnvironment[]): Promise<void> {
    const wanted = new Map<number, { env: PortainerEnvironment; selector: Selector }>();
    for (const env of environments) {
      const selector = this.#selected(env);
      if (selector) wanted.set(env.Id, { env, selector });
    }
    for (const [id, runtime] of [...this.#running]) {
      if (wanted.has(id)) continue;
      this.#running.delete(id);
      this.#d.log.info(
        { environment: id, host: runtime.hostId },
        "Portainer environment gone; clearing its entities",
      );
      this.#retire(runtime);
    }
    const retiring = new Set([...this.#retiring.keys()].map((r) => r.hostId));
    const taken = new Set([
      ...this.#d.reservedIds,
      ...[...this.#running.values()].map((r) => r.hostId),
    ]);
    for (const [id, { env, selector }] of wanted) {
      if (this.#running.has(id) || this.#stopped) continue;
      let hostId = selector.hostId ?? sanitiseId(env.Name);
      // Its clears must not land after a new runtime's announcements: wait for the next refresh.
      if (retiring.has(hostId)) continue;
      if (taken.has(hostId)) hostId = sanitiseId(`${hostId}-${id}`);
      taken.add(hostId);
      this.#d.log.info(
        { environment: id, name: env.Name, host: hostId },
        "following Portainer environment",
      );
      this.#running.set(
        id,
        this.#d.startEngine({ hostId, endpoint: this.#d.client.endpointFor(id) }),
      );
    }
  }
}
