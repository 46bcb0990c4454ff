// Fake Docker Engine 20.10, lifecycle: operations that mutate the container model and emit the
// same events, in the same order and with the same attributes, as the real engine did in
// test/fixtures/docker-engine-20.10/events-*.raw.jsonl. Restart policies follow moby v20.10.27
// daemon/monitor.go handleContainerExit, daemon/kill.go killWithSignal, daemon/stop.go
// containerStop, daemon/restart.go and daemon/start.go (rules in fake-engine-restart.ts).
import { FakeEngineCore } from "./fake-engine-core.js";
import { initMonitor, stopMonitor } from "./fake-engine-health.js";
import {
  type ContainerSpec,
  type ContainerState,
  type FakeContainer,
  newContainer,
  randomId,
} from "./fake-engine-model.js";
import { newRestartManager, shouldRestart } from "./fake-engine-restart.js";

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

export abstract class FakeEngineModel extends FakeEngineCore {
  /** `docker create`: one `create` event. */
  createContainer(spec: CreateOptions): string {
    const name = spec.name.replace(/^\//, "");
    // By name alone, as the engine checks it: a short name may also be a prefix of another's id.
    if ([...this.containers.values()].some((c) => c.name === name)) {
      throw new Error(`fake engine: name "${name}" is already in use`);
    }
    const c = newContainer({ ...spec, state: spec.state ?? "created" }, this.clock.now());
    this.addContainer(c);
    this.emitFor(c, "create");
    return c.id;
  }

  /** `docker run [-d]`: create, [attach], network connect, [volume mount], start. */
  run(spec: RunOptions): string {
    const { attach, ...rest } = spec;
    const id = this.createContainer({ ...rest, state: "created" });
    const c = this.findContainer(id);
    if (attach) this.emitFor(c, "attach");
    this.#start(c);
    return id;
  }

  /**
   * `docker start`: network connect, [volume mount], start; RestartCount back to 0 and a fresh
   * restart manager (ResetRestartManager(true)). No-op if running or restarting (HTTP 304).
   */
  start(name: string): void {
    const c = this.findContainer(name);
    if (c.running) return;
    this.#resetRestarts(c);
    this.#start(c);
  }

  /**
   * `docker stop`: kill(15); then, if the process ignores SIGTERM (no exitCode given, like
   * `sleep` as PID 1 in the capture), kill(9) and die(137); else die(exitCode). Then network
   * disconnect, [volume unmount], stop. The restart policy is cancelled first, so the container
   * ends `exited`. A container in a restart back-off has no process: only `stop` is emitted.
   * No-op if not running (HTTP 304).
   */
  stop(name: string, options: { exitCode?: number } = {}): void {
    const c = this.findContainer(name);
    if (!c.running) return;
    this.#cancelRestarts(c);
    if (c.restarting) {
      this.#endBackoff(c);
      this.emitFor(c, "stop");
      return;
    }
    this.#stopSequence(c, options.exitCode);
  }

  /**
   * `docker kill`: kill(signal), then (unless `survive`) die(exitCode ?? 128 + signal). As in
   * 20.10 (no StopSignal configured) any signal cancels the restart policy. Killing a container
   * in a restart back-off emits nothing and leaves it `exited`.
   */
  kill(
    name: string,
    signal: number | string = 9,
    options: { exitCode?: number; survive?: boolean } = {},
  ): void {
    const c = this.findContainer(name);
    if (!c.running) throw new Error(`fake engine: container ${c.name} is not running`);
    const n = signalNumber(signal);
    this.#cancelRestarts(c);
    if (c.restarting) {
      this.#endBackoff(c);
      return;
    }
    this.emitFor(c, "kill", { signal: String(n) });
    if (!options.survive) this.#exit(c, options.exitCode ?? 128 + n, false);
  }

  /**
   * The main process exits on its own: die(exitCode), network disconnect, [volume unmount].
   * With a restart policy that restarts it (moby's ShouldRestart), RestartCount + 1 and the
   * container is `restarting` (Running and Restarting true, Pid 0, health "unhealthy") until
   * completeRestart(); else it is `exited`. `autoRestart` completes the restart at once, or,
   * when the policy does not restart it (or there is none), forces one: connect, start,
   * RestartCount + 1.
   */
  die(name: string, exitCode: number, options: { autoRestart?: boolean } = {}): void {
    const c = this.runningContainer(name);
    this.#exit(c, exitCode, false);
    if (!options.autoRestart) return;
    if (!c.restarting) c.restartCount += 1;
    this.#start(c);
  }

  /**
   * The restart policy's back-off is over: network connect, [volume mount], start (20.10 emits
   * no `restart` event for it); health "starting" again. RestartCount was counted at die.
   */
  completeRestart(name: string): void {
    const c = this.findContainer(name);
    if (!c.restarting) throw new Error(`fake engine: container ${c.name} is not restarting`);
    this.#start(c);
  }

  /** The back-off (ms) moby waits before completeRestart(): 100, 200, 400... up to 60000. */
  restartBackoff(name: string): number | undefined {
    const c = this.findContainer(name);
    return c.restarting ? c.restartManager?.timeoutMs : undefined;
  }

  /**
   * `docker restart`: the stop sequence if running (only `stop` if in a restart back-off),
   * then the start sequence with RestartCount 0, then restart.
   */
  restart(name: string): void {
    const c = this.findContainer(name);
    if (c.running) this.stop(name);
    this.#resetRestarts(c);
    this.#start(c);
    this.emitFor(c, "restart");
  }

  /** `docker pause`: pause. Health silently becomes "unhealthy" (the monitor stops). */
  pause(name: string): void {
    const c = this.runningContainer(name);
    if (c.paused) throw new Error(`fake engine: container ${c.name} is already paused`);
    c.paused = true;
    stopMonitor(c);
    this.emitFor(c, "pause");
  }

  /** `docker unpause`: unpause. Health stays "unhealthy" until a probe changes it. */
  unpause(name: string): void {
    const c = this.findContainer(name);
    if (!c.paused) throw new Error(`fake engine: container ${c.name} is not paused`);
    c.paused = false;
    this.emitFor(c, "unpause");
  }

  /** `docker rename`: rename with the new name and `oldName` = "/old". */
  /** `silent`: no event (a test emitting Podman's own rename, which has no oldName, with emitRaw). */
  rename(name: string, newName: string, options: { silent?: boolean } = {}): void {
    const c = this.findContainer(name);
    const next = newName.replace(/^\//, "");
    if ([...this.containers.values()].some((o) => o.name === next)) {
      throw new Error(`fake engine: name "${next}" is already in use`);
    }
    const oldName = `/${c.name}`;
    c.name = next;
    if (!options.silent) this.emitFor(c, "rename", { oldName });
  }

  /**
   * `docker rm -f`: if running kill(9), die(137), disconnect, [unmount]; then destroy. In a
   * restart back-off there is no process to kill: only destroy.
   */
  remove(name: string): void {
    const c = this.findContainer(name);
    if (c.running) {
      this.#cancelRestarts(c);
      if (c.restarting) this.#endBackoff(c);
      else {
        this.emitFor(c, "kill", { signal: "9" });
        this.#exit(c, 137, false);
      }
    }
    this.emitFor(c, "destroy");
    this.containers.delete(c.id);
  }

  /** Out of memory: oom, die(137), disconnect, [unmount]; State.OOMKilled = true. */
  oom(name: string): void {
    const c = this.runningContainer(name);
    this.emitFor(c, "oom");
    this.#exit(c, 137, true);
  }

  /** ExitOnNext + HasBeenManuallyStopped, as killWithSignal does before signalling. */
  #cancelRestarts(c: FakeContainer): void {
    c.restartManager ??= newRestartManager(c.restartCount);
    c.restartManager.canceled = true;
    c.manuallyStopped = true;
  }

  /** A manual start: ResetRestartManager(true), HasBeenManuallyStopped = false. */
  #resetRestarts(c: FakeContainer): void {
    c.restartManager = null;
    c.restartCount = 0;
    c.manuallyStopped = false;
  }

  /** The cancelled back-off's SetStopped: exited, same ExitCode and FinishedAt, no event. */
  #endBackoff(c: FakeContainer): void {
    Object.assign(c, { running: false, restarting: false, paused: false, pid: 0 });
  }

  #start(c: FakeContainer): void {
    this.emitNetwork(c, "connect");
    this.emitVolumes(c, "mount");
    Object.assign(c, { running: true, paused: false, restarting: false, dead: false });
    Object.assign(c, { exitCode: 0, startedAt: this.clock.now(), endpointId: randomId() });
    c.pid = 1000 + Math.floor(Math.random() * 30000);
    initMonitor(c);
    this.emitFor(c, "start");
  }

  #stopSequence(c: FakeContainer, exitCode: number | undefined): void {
    this.emitFor(c, "kill", { signal: "15" });
    // A paused container is resumed to take the signal: kill, unpause, die, stop (engine 20.10,
    // seen in test/e2e/bridge-control.test.ts).
    if (c.paused) {
      c.paused = false;
      this.emitFor(c, "unpause");
    }
    if (exitCode === undefined) this.emitFor(c, "kill", { signal: "9" });
    this.#exit(c, exitCode ?? 137, false);
    this.emitFor(c, "stop");
  }

  /**
   * handleContainerExit: ShouldRestart decides `restarting` (SetRestarting, RestartCount + 1)
   * or `exited` (SetStopped); the health monitor stops (health silently "unhealthy"); then
   * die, network disconnect, volume unmounts.
   */
  #exit(c: FakeContainer, exitCode: number, oomKilled: boolean): void {
    c.restartManager ??= newRestartManager(c.restartCount);
    const now = this.clock.now();
    const backoff = shouldRestart(c.restartPolicy, c.restartManager, {
      exitCode,
      manuallyStopped: c.manuallyStopped,
      ranNs: now - c.startedAt,
    });
    const restarting = backoff !== null;
    if (restarting) c.restartCount += 1;
    Object.assign(c, { running: restarting, restarting, paused: false, pid: 0, exitCode });
    Object.assign(c, { oomKilled, finishedAt: now });
    stopMonitor(c);
    this.emitFor(c, "die", { exitCode: String(exitCode) });
    this.emitNetwork(c, "disconnect");
    this.emitVolumes(c, "unmount");
  }
}
