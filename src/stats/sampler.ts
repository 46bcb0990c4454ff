// Samples the tracked (running) containers once per interval with one-shot requests, never more
// than a few at a time, keeping each one's previous CPU counters for CPU %. A container's first
// sample has no CPU % yet: a second one follows after a second, so new containers show up at once.
// What to track is told from outside (the model's lifecycle); nothing here lists containers.
import type { Logger } from "pino";
import { describeError } from "../errors.js";
import { type EngineCaller, oneShotStats } from "./engine-stats.js";
import {
  type CpuClock,
  type CpuPoint,
  cpuPoint,
  type StatsValues,
  statsValues,
} from "./formulas.js";

export interface SamplerDeps {
  engine: EngineCaller;
  intervalMs: number;
  /** Requests in flight at most (the engine, or a Portainer proxy, answers each in milliseconds). */
  maxInFlight: number;
  /** Delay of the second sample after a container's first (CPU % needs two). */
  primeDelayMs?: number;
  log: Logger;
  /** A sample with every figure known. `time` is the engine's `read` timestamp. */
  onSample(name: string, values: StatsValues, time: string): void;
  /** Nothing queued or in flight: a round (or a primer) is complete. */
  onDrained(): void;
}

interface Target {
  id: string;
  prev?: CpuPoint | undefined;
  busy: boolean;
}

export class StatsSampler {
  readonly #d: SamplerDeps;
  readonly #targets = new Map<string, Target>();
  /** Names waiting for a request slot, each at most once. */
  readonly #queue = new Set<string>();
  readonly #primers = new Set<NodeJS.Timeout>();
  #abort = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #inFlight = 0;
  #failing = false;
  #requests = 0;
  /** What CPU % is measured against: set from the engine's identity (Podman: wall clock). */
  cpuClock: CpuClock = "system";

  constructor(deps: SamplerDeps) {
    this.#d = deps;
  }

  /** Requests sent so far (for the bench and tests). */
  get requests(): number {
    return this.#requests;
  }

  get tracked(): number {
    return this.#targets.size;
  }

  start(): void {
    if (this.#timer) return;
    this.#abort = new AbortController();
    this.#timer = setInterval(() => this.#round(), this.#d.intervalMs);
  }

  /** Samples this container from now on (at once); a new id (recreated) starts afresh. */
  track(name: string, id: string): void {
    const known = this.#targets.get(name);
    if (known?.id === id) return;
    this.#targets.set(name, { id, busy: false });
    this.#enqueue(name);
  }

  /** Stops sampling it; an answer still under way is dropped. */
  untrack(name: string): void {
    this.#targets.delete(name);
    this.#queue.delete(name);
  }

  /** Cancels the timer, the primers and every request in flight. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const t of this.#primers) clearTimeout(t);
    this.#primers.clear();
    this.#queue.clear();
    this.#targets.clear();
    this.#abort.abort();
  }

  #round(): void {
    // Nothing to sample is a complete round too: the host's sums (zero) still go out.
    if (this.#targets.size === 0 && this.#inFlight === 0) this.#drained();
    for (const name of this.#targets.keys()) this.#enqueue(name);
  }

  #enqueue(name: string): void {
    const target = this.#targets.get(name);
    // A container still waiting or answering from the last round is not asked twice.
    if (!target || target.busy || this.#queue.has(name)) return;
    this.#queue.add(name);
    this.#pump();
  }

  #pump(): void {
    while (this.#inFlight < this.#d.maxInFlight && this.#queue.size > 0) {
      const name = this.#queue.values().next().value as string;
      this.#queue.delete(name);
      const target = this.#targets.get(name);
      if (!target) continue;
      target.busy = true;
      this.#inFlight++;
      // Never rejects: #sample catches everything and #settle only touches this object.
      void this.#sample(name, target).then(() => this.#settle(target));
    }
  }

  #settle(target: Target): void {
    target.busy = false;
    this.#inFlight--;
    if (this.#timer === undefined) return;
    this.#pump();
    if (this.#inFlight > 0 || this.#queue.size > 0) return;
    this.#drained();
  }

  #drained(): void {
    try {
      this.#d.onDrained();
    } catch (err: unknown) {
      this.#d.log.error({ err: describeError(err) }, "publishing the host's statistics failed");
    }
  }

  async #sample(name: string, target: Target): Promise<void> {
    const signal = this.#abort.signal;
    this.#requests++;
    try {
      const payload = await oneShotStats(this.#d.engine, target.id, signal);
      if (this.#failing) {
        this.#failing = false;
        this.#d.log.info("statistics answered again");
      }
      // Stopped or removed meanwhile, or no longer tracked: the model says what happens next.
      if (!payload || this.#targets.get(name) !== target) return;
      const values = statsValues(payload, target.prev, this.cpuClock);
      target.prev = cpuPoint(payload);
      if (values.cpu_percent === null) {
        this.#prime(name);
        return;
      }
      this.#d.onSample(name, values, payload.read);
    } catch (err: unknown) {
      if (signal.aborted) return;
      // One line per outage, not one per container and round.
      if (!this.#failing) {
        this.#failing = true;
        this.#d.log.warn({ container: name, err: describeError(err) }, "statistics failed");
      }
    }
  }

  #prime(name: string): void {
    const timer = setTimeout(() => {
      this.#primers.delete(timer);
      this.#enqueue(name);
    }, this.#d.primeDelayMs ?? 1000);
    this.#primers.add(timer);
  }
}
