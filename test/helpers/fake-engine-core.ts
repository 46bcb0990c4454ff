// Fake Docker Engine 20.10, the container table and what happens inside a running container:
// lookups like the engine's, events with the attributes moby gives them, `docker exec` and the
// healthcheck probes (rules in fake-engine-health.ts). The lifecycle operations (run, stop, die,
// restart policies...) build on this in fake-engine-ops.ts. No I/O here: events go to publish().
import { buildEvent, type EngineEvent, EventClock, type EventInput } from "./fake-engine-events.js";
import { atLeast152, type EngineFixtures, fixtureContainers } from "./fake-engine-fixtures.js";
import { applyProbeResult, monitorRunning } from "./fake-engine-health.js";
import {
  type ContainerSeed,
  type FakeContainer,
  goTime,
  type HealthStatus,
  networkId,
  networkType,
  newContainer,
  randomId,
} from "./fake-engine-model.js";

/** The exec command text of a healthcheck probe: CMD-SHELL x -> "/bin/sh -c x". */
function probeCommand(test: string[]): string {
  const [kind, ...rest] = test;
  return kind === "CMD-SHELL" ? `/bin/sh -c ${rest.join(" ")}` : rest.join(" ");
}

export abstract class FakeEngineCore {
  protected readonly clock = new EventClock();
  /** By id, in creation order. */
  protected readonly containers = new Map<string, FakeContainer>();
  /** Execs by id, for `GET /exec/{id}/json`. */
  protected readonly execs = new Map<
    string,
    { containerId: string; entrypoint: string; args: string[]; exitCode: number | null }
  >();

  constructor(protected readonly fixtures: EngineFixtures) {}

  /** Hands one new event to the ring buffer and the open /events streams. */
  protected abstract publish(ev: EngineEvent): void;

  /** Replaces the model with these containers (oldest first); emits no events. */
  seed(containers: ContainerSeed[]): void {
    this.containers.clear();
    const now = this.clock.now();
    for (const seed of containers) this.addContainer(newContainer(seed, now));
  }

  /** Replaces the model with the four captured containers; emits no events. */
  loadFixtureSnapshot(options: { rebase?: boolean } = {}): void {
    this.containers.clear();
    const now = this.clock.now();
    for (const c of fixtureContainers(this.fixtures, now, options.rebase ?? true)) {
      this.addContainer(c);
    }
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
    const ev = buildEvent(input, this.clock.next(), !atLeast152(this.fixtures.api));
    this.publish(ev);
    return ev;
  }

  /**
   * Sets the health status and emits `health_status: <status>` when it changes (or always with
   * `force`). `probe` first emits the exec_create/exec_start/exec_die triple, as the engine does
   * before each status change. Note: 20.10 itself never emits `health_status: starting`.
   * To let moby's rules decide the status, use runHealthcheck() instead. `silent`: no event at
   * all (for a test that emits another engine's event itself, e.g. Podman's with emitRaw()).
   */
  setHealth(
    name: string,
    status: HealthStatus,
    options: { probe?: boolean; force?: boolean; silent?: boolean } = {},
  ): void {
    const c = this.findContainer(name);
    if (!c.healthcheck) throw new Error(`fake engine: container ${c.name} has no healthcheck`);
    if (options.probe) this.healthProbe(name, { exitCode: status === "unhealthy" ? 1 : 0 });
    c.health ??= { status: "starting", failingStreak: 0, log: null };
    const previous = c.health.status;
    c.health.status = status;
    if (status === "healthy") c.health.failingStreak = 0;
    if (status === "unhealthy") {
      c.health.failingStreak = Math.max(c.health.failingStreak, c.healthcheck.Retries ?? 3);
    }
    if (options.silent) return;
    if (previous !== status || options.force) this.emitFor(c, `health_status: ${status}`);
  }

  /**
   * One healthcheck probe: exec_create/exec_start/exec_die with the probe's command text
   * (`/bin/sh -c true`). Appends to State.Health.Log; never changes the status.
   */
  healthProbe(name: string, options: { exitCode?: number } = {}): void {
    const c = this.findContainer(name);
    if (!c.healthcheck) throw new Error(`fake engine: container ${c.name} has no healthcheck`);
    c.health ??= { status: "starting", failingStreak: 0, log: null };
    const exitCode = options.exitCode ?? (c.health.status === "unhealthy" ? 1 : 0);
    const start = goTime(this.clock.now());
    this.exec(name, probeCommand(c.healthcheck.Test), { exitCode });
    const entry = { Start: start, End: goTime(this.clock.now()), ExitCode: exitCode, Output: "" };
    c.health.log = [...(c.health.log ?? []), entry].slice(-5);
    c.health.failingStreak = exitCode === 0 ? 0 : c.health.failingStreak + 1;
  }

  /**
   * One probe as moby's health monitor runs it (daemon/health.go monitor + handleProbeResult):
   * the exec triple, then Log, FailingStreak and Status follow the probe's exit code, and
   * `health_status: <status>` is emitted only if the status changed. Throws while the monitor
   * is stopped (paused, restarting, exited), when the engine runs no probes. Returns the status.
   */
  runHealthcheck(name: string, options: { exitCode?: number } = {}): HealthStatus {
    const c = this.findContainer(name);
    if (!c.healthcheck) throw new Error(`fake engine: container ${c.name} has no healthcheck`);
    if (!monitorRunning(c)) {
      throw new Error(`fake engine: no health monitor runs for ${c.name} (paused or not running)`);
    }
    const exitCode = options.exitCode ?? 0;
    const start = goTime(this.clock.now());
    this.exec(name, probeCommand(c.healthcheck.Test), { exitCode });
    const entry = { Start: start, End: goTime(this.clock.now()), ExitCode: exitCode, Output: "" };
    const changed = applyProbeResult(c, entry, this.clock.now());
    if (changed) this.emitFor(c, `health_status: ${changed}`);
    return c.health?.status ?? "unhealthy";
  }

  /** The first half of a healthcheck probe (its exec_create and exec_start); returns the exec id. */
  probeBegin(name: string): string {
    const c = this.runningContainer(name);
    if (!c.healthcheck) throw new Error(`fake engine: container ${c.name} has no healthcheck`);
    return this.execBegin(name, probeCommand(c.healthcheck.Test));
  }

  /** `docker exec`: exec_create: cmd, exec_start: cmd, exec_die (with execID, exitCode). */
  exec(name: string, command: string, options: { exitCode?: number } = {}): void {
    this.execEnd(this.execBegin(name, command), options.exitCode ?? 0);
  }

  /** The first half of an exec: exec_create and exec_start. Returns the exec's id. */
  execBegin(name: string, command: string): string {
    const c = this.runningContainer(name);
    const execID = randomId();
    // moby joins the entrypoint and its arguments with spaces in the event: split it back so.
    const at = command.indexOf(" ");
    const entrypoint = at === -1 ? command : command.slice(0, at);
    const args = at === -1 ? [] : [command.slice(at + 1)];
    this.execs.set(execID, { containerId: c.id, entrypoint, args, exitCode: null });
    this.emitFor(c, `exec_create: ${command}`, { execID });
    this.emitFor(c, `exec_start: ${command}`, { execID });
    return execID;
  }

  /** The exec's process exits: exec_die. */
  execEnd(execID: string, exitCode: number): void {
    const exec = this.execs.get(execID);
    const c = exec && this.containers.get(exec.containerId);
    if (!exec || !c) throw new Error(`fake engine: no exec ${execID}`);
    exec.exitCode = exitCode;
    this.emitFor(c, "exec_die", { execID, exitCode: String(exitCode) });
  }

  /** Drops a container from the model without any event (the test emits its own, raw). */
  forget(name: string): void {
    this.containers.delete(this.findContainer(name).id);
  }

  protected addContainer(c: FakeContainer): void {
    this.containers.set(c.id, c);
  }

  protected findContainer(name: string): FakeContainer {
    const c = this.container(name);
    if (!c) throw new Error(`fake engine: no such container: ${name}`);
    return c as FakeContainer;
  }

  /** A container whose process runs: not stopped, and not waiting out a restart back-off. */
  protected runningContainer(name: string): FakeContainer {
    const c = this.findContainer(name);
    if (!c.running) throw new Error(`fake engine: container ${c.name} is not running`);
    if (c.restarting) throw new Error(`fake engine: container ${c.name} is restarting`);
    return c;
  }

  /** Attributes as moby builds them: extras, then labels over them, then image and name. */
  protected emitFor(c: FakeContainer, action: string, extra: Record<string, string> = {}): void {
    const attributes = { ...extra, ...c.labels, image: c.image, name: c.name };
    this.emitEvent({
      Type: "container",
      Action: action,
      Actor: { ID: c.id, Attributes: attributes },
    });
  }

  protected emitNetwork(c: FakeContainer, action: "connect" | "disconnect"): void {
    const attributes = { container: c.id, name: c.network, type: networkType(c.network) };
    this.emitEvent({
      Type: "network",
      Action: action,
      Actor: { ID: networkId(c.network), Attributes: attributes },
    });
  }

  protected emitVolumes(c: FakeContainer, action: "mount" | "unmount"): void {
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
}
