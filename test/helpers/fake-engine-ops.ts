// Fake Docker Engine 20.10, behaviour: a model of containers whose operations mutate it and emit
// the same events, in the same order and with the same attributes, as the real engine did in
// test/fixtures/docker-engine-20.10/events-*.raw.jsonl. No I/O here: events go to publish().
import { buildEvent, type EngineEvent, EventClock, type EventInput } from "./fake-engine-events.js";
import { type EngineFixtures, fixtureContainers } from "./fake-engine-fixtures.js";
import {
  type ContainerSeed,
  type ContainerSpec,
  type ContainerState,
  type FakeContainer,
  goTime,
  type HealthStatus,
  networkId,
  networkType,
  newContainer,
  randomId,
} from "./fake-engine-model.js";

export interface CreateOptions extends ContainerSpec {
  /** State of the model after the `create` event (no further events); default "created". */
  state?: ContainerState;
}

export interface RunOptions extends ContainerSpec {
  /** Foreground `docker run` (no -d): adds the `attach` event after `create`. */
  attach?: boolean;
}

const SIGNALS: Record<string, number> = {
  HUP: 1,
  INT: 2,
  QUIT: 3,
  KILL: 9,
  USR1: 10,
  USR2: 12,
  TERM: 15,
};

function signalNumber(signal: number | string): number {
  if (typeof signal === "number") return signal;
  const name = signal.toUpperCase().replace(/^SIG/, "");
  const n = SIGNALS[name] ?? Number(name);
  if (!Number.isInteger(n)) throw new Error(`fake engine: unknown signal ${signal}`);
  return n;
}

/** The exec command text of a healthcheck probe: CMD-SHELL x -> "/bin/sh -c x". */
function probeCommand(test: string[]): string {
  const [kind, ...rest] = test;
  return kind === "CMD-SHELL" ? `/bin/sh -c ${rest.join(" ")}` : rest.join(" ");
}

export abstract class FakeEngineModel {
  protected readonly clock = new EventClock();
  /** By id, in creation order. */
  protected readonly containers = new Map<string, FakeContainer>();

  constructor(protected readonly fixtures: EngineFixtures) {}

  /** Hands one new event to the ring buffer and the open /events streams. */
  protected abstract publish(ev: EngineEvent): void;

  /** Replaces the model with these containers (oldest first); emits no events. */
  seed(containers: ContainerSeed[]): void {
    this.containers.clear();
    const now = this.clock.now();
    for (const seed of containers) this.#add(newContainer(seed, now));
  }

  /** Replaces the model with the four captured containers; emits no events. */
  loadFixtureSnapshot(options: { rebase?: boolean } = {}): void {
    this.containers.clear();
    const now = this.clock.now();
    for (const c of fixtureContainers(this.fixtures, now, options.rebase ?? true)) this.#add(c);
  }

  /** Like the engine's lookup: full id, name (with or without "/"), then unique id prefix. */
  container(nameOrId: string): Readonly<FakeContainer> | undefined {
    const byId = this.containers.get(nameOrId);
    if (byId) return byId;
    const name = nameOrId.replace(/^\//, "");
    for (const c of this.containers.values()) if (c.name === name) return c;
    const matches = [...this.containers.values()].filter((c) => c.id.startsWith(nameOrId));
    return matches.length === 1 ? matches[0] : undefined;
  }

  /** Emits any event (image, network, volume...) as the engine would, with scope and times. */
  emitEvent(input: EventInput): EngineEvent {
    const ev = buildEvent(input, this.clock.next());
    this.publish(ev);
    return ev;
  }

  /** `docker create`: one `create` event. */
  createContainer(spec: CreateOptions): string {
    const name = spec.name.replace(/^\//, "");
    if (this.container(name)) throw new Error(`fake engine: name "${name}" is already in use`);
    const c = newContainer({ ...spec, state: spec.state ?? "created" }, this.clock.now());
    this.#add(c);
    this.#emit(c, "create");
    return c.id;
  }

  /** `docker run [-d]`: create, [attach], network connect, [volume mount], start. */
  run(spec: RunOptions): string {
    const { attach, ...rest } = spec;
    const id = this.createContainer({ ...rest, state: "created" });
    const c = this.#find(id);
    if (attach) this.#emit(c, "attach");
    this.#start(c);
    return id;
  }

  /** `docker start`: network connect, [volume mount], start. No-op if running (HTTP 304). */
  start(name: string): void {
    const c = this.#find(name);
    if (!c.running) this.#start(c);
  }

  /**
   * `docker stop`: kill(15); then, if the process ignores SIGTERM (no exitCode given, like
   * `sleep` as PID 1 in the capture), kill(9) and die(137); else die(exitCode). Then network
   * disconnect, [volume unmount], stop. No-op if not running (HTTP 304).
   */
  stop(name: string, options: { exitCode?: number } = {}): void {
    const c = this.#find(name);
    if (!c.running) return;
    this.#stopSequence(c, options.exitCode);
  }

  /** `docker kill`: kill(signal), then (unless `survive`) die(exitCode ?? 128 + signal). */
  kill(
    name: string,
    signal: number | string = 9,
    options: { exitCode?: number; survive?: boolean } = {},
  ): void {
    const c = this.#running(name);
    const n = signalNumber(signal);
    this.#emit(c, "kill", { signal: String(n) });
    if (!options.survive) this.#exit(c, options.exitCode ?? 128 + n, false);
  }

  /**
   * The main process exits on its own: die(exitCode), network disconnect, [volume unmount].
   * `autoRestart` then does what a restart policy does: connect, start, RestartCount + 1
   * (20.10 emits no `restart` event for that).
   */
  die(name: string, exitCode: number, options: { autoRestart?: boolean } = {}): void {
    const c = this.#running(name);
    this.#exit(c, exitCode, false);
    if (options.autoRestart) {
      c.restartCount += 1;
      this.#start(c);
    }
  }

  /** `docker restart`: the stop sequence if running, then the start sequence, then restart. */
  restart(name: string): void {
    const c = this.#find(name);
    if (c.running) this.#stopSequence(c, undefined);
    this.#start(c);
    this.#emit(c, "restart");
  }

  /** `docker pause`: pause. Health silently becomes "unhealthy" (the monitor stops). */
  pause(name: string): void {
    const c = this.#running(name);
    if (c.paused) throw new Error(`fake engine: container ${c.name} is already paused`);
    c.paused = true;
    if (c.health) c.health.status = "unhealthy";
    this.#emit(c, "pause");
  }

  /** `docker unpause`: unpause. Health stays "unhealthy" until the next setHealth(). */
  unpause(name: string): void {
    const c = this.#find(name);
    if (!c.paused) throw new Error(`fake engine: container ${c.name} is not paused`);
    c.paused = false;
    this.#emit(c, "unpause");
  }

  /** `docker rename`: rename with the new name and `oldName` = "/old". */
  rename(name: string, newName: string): void {
    const c = this.#find(name);
    const next = newName.replace(/^\//, "");
    if (this.container(next)) throw new Error(`fake engine: name "${next}" is already in use`);
    const oldName = `/${c.name}`;
    c.name = next;
    this.#emit(c, "rename", { oldName });
  }

  /** `docker rm -f`: if running kill(9), die(137), disconnect, [unmount]; then destroy. */
  remove(name: string): void {
    const c = this.#find(name);
    if (c.running) {
      this.#emit(c, "kill", { signal: "9" });
      this.#exit(c, 137, false);
    }
    this.#emit(c, "destroy");
    this.containers.delete(c.id);
  }

  /**
   * Sets the health status and emits `health_status: <status>` when it changes (or always with
   * `force`). `probe` first emits the exec_create/exec_start/exec_die triple, as the engine does
   * before each status change. Note: 20.10 itself never emits `health_status: starting`.
   */
  setHealth(
    name: string,
    status: HealthStatus,
    options: { probe?: boolean; force?: boolean } = {},
  ): void {
    const c = this.#find(name);
    if (!c.healthcheck) throw new Error(`fake engine: container ${c.name} has no healthcheck`);
    if (options.probe) this.healthProbe(name, { exitCode: status === "unhealthy" ? 1 : 0 });
    c.health ??= { status: "starting", failingStreak: 0, log: null };
    const previous = c.health.status;
    c.health.status = status;
    if (status === "healthy") c.health.failingStreak = 0;
    if (status === "unhealthy") {
      c.health.failingStreak = Math.max(c.health.failingStreak, c.healthcheck.Retries ?? 3);
    }
    if (previous !== status || options.force) this.#emit(c, `health_status: ${status}`);
  }

  /**
   * One healthcheck probe: exec_create/exec_start/exec_die with the probe's command text
   * (`/bin/sh -c true`). Appends to State.Health.Log; never changes the status.
   */
  healthProbe(name: string, options: { exitCode?: number } = {}): void {
    const c = this.#find(name);
    if (!c.healthcheck) throw new Error(`fake engine: container ${c.name} has no healthcheck`);
    c.health ??= { status: "starting", failingStreak: 0, log: null };
    const exitCode = options.exitCode ?? (c.health.status === "unhealthy" ? 1 : 0);
    const start = goTime(this.clock.now());
    this.exec(name, probeCommand(c.healthcheck.Test), { exitCode });
    const entry = { Start: start, End: goTime(this.clock.now()), ExitCode: exitCode, Output: "" };
    c.health.log = [...(c.health.log ?? []), entry].slice(-5);
    c.health.failingStreak = exitCode === 0 ? 0 : c.health.failingStreak + 1;
  }

  /** `docker exec`: exec_create: cmd, exec_start: cmd, exec_die (with execID, exitCode). */
  exec(name: string, command: string, options: { exitCode?: number } = {}): void {
    const c = this.#running(name);
    const execID = randomId();
    this.#emit(c, `exec_create: ${command}`, { execID });
    this.#emit(c, `exec_start: ${command}`, { execID });
    this.#emit(c, "exec_die", { execID, exitCode: String(options.exitCode ?? 0) });
  }

  /** Out of memory: oom, die(137), disconnect, [unmount]; State.OOMKilled = true. */
  oom(name: string): void {
    const c = this.#running(name);
    this.#emit(c, "oom");
    this.#exit(c, 137, true);
  }

  #add(c: FakeContainer): void {
    this.containers.set(c.id, c);
  }

  #find(name: string): FakeContainer {
    const c = this.container(name);
    if (!c) throw new Error(`fake engine: no such container: ${name}`);
    return c as FakeContainer;
  }

  #running(name: string): FakeContainer {
    const c = this.#find(name);
    if (!c.running) throw new Error(`fake engine: container ${c.name} is not running`);
    return c;
  }

  /** Attributes as moby builds them: extras, then labels over them, then image and name. */
  #emit(c: FakeContainer, action: string, extra: Record<string, string> = {}): void {
    const attributes = { ...extra, ...c.labels, image: c.image, name: c.name };
    this.emitEvent({
      Type: "container",
      Action: action,
      Actor: { ID: c.id, Attributes: attributes },
    });
  }

  #network(c: FakeContainer, action: "connect" | "disconnect"): void {
    const attributes = { container: c.id, name: c.network, type: networkType(c.network) };
    this.emitEvent({
      Type: "network",
      Action: action,
      Actor: { ID: networkId(c.network), Attributes: attributes },
    });
  }

  #volumes(c: FakeContainer, action: "mount" | "unmount"): void {
    for (const v of c.volumes) {
      const attributes: Record<string, string> =
        action === "mount"
          ? {
              container: c.id,
              destination: v.destination,
              driver: "local",
              propagation: "",
              "read/write": "true",
            }
          : { container: c.id, driver: "local" };
      this.emitEvent({
        Type: "volume",
        Action: action,
        Actor: { ID: v.name, Attributes: attributes },
      });
    }
  }

  #start(c: FakeContainer): void {
    this.#network(c, "connect");
    this.#volumes(c, "mount");
    Object.assign(c, { running: true, paused: false, restarting: false, dead: false });
    Object.assign(c, { exitCode: 0, startedAt: this.clock.now(), endpointId: randomId() });
    c.pid = 1000 + Math.floor(Math.random() * 30000);
    if (c.healthcheck) {
      c.health = { status: "starting", failingStreak: 0, log: c.health?.log ?? null };
    }
    this.#emit(c, "start");
  }

  #stopSequence(c: FakeContainer, exitCode: number | undefined): void {
    this.#emit(c, "kill", { signal: "15" });
    if (exitCode === undefined) this.#emit(c, "kill", { signal: "9" });
    this.#exit(c, exitCode ?? 137, false);
    this.#emit(c, "stop");
  }

  /** die, network disconnect, volume unmounts; health silently "unhealthy" (monitor stopped). */
  #exit(c: FakeContainer, exitCode: number, oomKilled: boolean): void {
    Object.assign(c, { running: false, paused: false, restarting: false, pid: 0, exitCode });
    Object.assign(c, { oomKilled, finishedAt: this.clock.now() });
    if (c.health) c.health.status = "unhealthy";
    this.#emit(c, "die", { exitCode: String(exitCode) });
    this.#network(c, "disconnect");
    this.#volumes(c, "unmount");
  }
}
