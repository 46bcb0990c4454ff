// Resource statistics as a bridge feature: samples the running, selected containers (started and
// stopped by the model's lifecycle through announced/cleared), publishes each one's figures and
// the host's sums, retained, when they move beyond a dead band or a heartbeat is due, and adds
// the Home Assistant entities (./entities.ts).
import type { Logger } from "pino";
import { isPodman } from "../docker/engine-identity.js";
import type { EngineInfo } from "../docker/schemas.js";
import type { DiscoveryExtension } from "../homeassistant/discovery.js";
import type { Topics } from "../homeassistant/topics.js";
import { PRIORITY, type Publisher } from "../mqtt/publisher.js";
import type { ContainerFeature, MirrorView } from "../publish/features.js";
import type { ContainerRecord } from "../state/model.js";
import { DEAD_BAND, type Figures, type Published, shouldPublish } from "./deadband.js";
import type { EngineCaller } from "./engine-stats.js";
import { statsDiscovery } from "./entities.js";
import type { StatsValues } from "./formulas.js";
import { StatsSampler } from "./sampler.js";
import { statsSelection } from "./selection.js";

export interface StatsFeatureDeps {
  engine: EngineCaller;
  topics: Topics;
  publisher: Pick<Publisher, "setRetained" | "clearRetained" | "subscribe" | "unsubscribe">;
  log: Logger;
  intervalSeconds: number;
  /** `stats.containers`: names or patterns; empty: every mirrored container. */
  containers: readonly string[];
  /** The entity groups chosen in `homeassistant.entities`. */
  groups: ReadonlySet<string>;
  /** Requests in flight at most (default MAX_IN_FLIGHT). */
  maxInFlight?: number;
  now?: () => number;
}

/**
 * The engine answers a one-shot request at its stats collector's next tick (once a second), so
 * each request in flight is about one sample a second: 6 sample 50 containers in ~9 s. The
 * client's pool holds 8 connections and the event stream keeps one: this leaves one for the rest.
 */
export const MAX_IN_FLIGHT = 6;

const HOST_BANDS = { cpu_percent: 0.5, memory_bytes: 1024 * 1024, containers: 0 };
const round2 = (n: number) => Math.round(n * 100) / 100;

export class StatsFeature implements ContainerFeature {
  readonly discovery: DiscoveryExtension;
  readonly #d: StatsFeatureDeps;
  readonly #sampler: StatsSampler;
  readonly #selected: (record: ContainerRecord) => boolean;
  readonly #now: () => number;
  /** The latest figures of each sampled container, for the host's sums. */
  readonly #latest = new Map<string, StatsValues>();
  readonly #published = new Map<string, Published>();
  /** Names whose stats topic this process has cleared and not set since. */
  readonly #cleared = new Set<string>();
  #host: { cpus: number | null; memory: number | null } = { cpus: null, memory: null };
  #hostPublished: Published | undefined;
  #view: MirrorView | undefined;
  /** Retained stats topics an earlier run left, until the sweep; undefined once it has run. */
  #leftovers: Set<string> | undefined = new Set();
  /** Rounds completed since the engine last answered; the sweep waits for the snapshot. */
  #roundsConnected = -1;

  constructor(deps: StatsFeatureDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
    this.#selected = statsSelection(deps.containers);
    this.discovery = statsDiscovery({
      topics: deps.topics,
      intervalSeconds: deps.intervalSeconds,
      groups: deps.groups,
      sampled: this.#selected,
    });
    this.#sampler = new StatsSampler({
      engine: deps.engine,
      intervalMs: deps.intervalSeconds * 1000,
      maxInFlight: deps.maxInFlight ?? MAX_IN_FLIGHT,
      log: deps.log,
      onSample: (name, values, time) => this.#onSample(name, values, time),
      onDrained: () => this.#roundDone(),
    });
  }

  /** Requests sent to the stats endpoint so far. */
  get requests(): number {
    return this.#sampler.requests;
  }

  start(view: MirrorView): void {
    this.#view = view;
    this.#d.publisher.subscribe(this.#d.topics.allContainerStats(), (topic, payload, retained) => {
      if (retained && payload.length > 0) this.#leftovers?.add(topic);
    });
    this.#sampler.start();
    for (const record of view.announced()) this.announced(record);
  }

  announced(record: ContainerRecord): void {
    if (record.running && this.#selected(record)) {
      this.#sampler.track(record.name, record.id);
      return;
    }
    this.#forget(record.name, false);
  }

  cleared(name: string): void {
    this.#forget(name, true);
  }

  engineConnected(info: EngineInfo): void {
    this.#host = { cpus: info.NCPU ?? null, memory: info.MemTotal ?? null };
    this.#sampler.cpuClock = isPodman(info) ? "wall-clock" : "system";
    this.#roundsConnected = 0;
  }

  stop(): void {
    this.#sampler.stop();
    this.#endSweep();
  }

  #roundDone(): void {
    this.#publishHost();
    if (this.#roundsConnected >= 0) this.#roundsConnected++;
    // Two rounds after the engine answered, its snapshot is in: what is not announced now is gone.
    if (this.#leftovers && this.#roundsConnected >= 2) this.#sweep();
  }

  /**
   * Clears the stats topics an earlier run left for containers that are gone or not announced
   * now (removed while the bridge was down, filtered out since); announced ones are this run's.
   */
  #sweep(): void {
    const current = new Set<string>();
    for (const record of this.#view?.announced() ?? []) {
      current.add(this.#d.topics.containerStats(record.name));
    }
    for (const topic of this.#leftovers ?? []) {
      if (!current.has(topic)) this.#d.publisher.clearRetained(topic, PRIORITY.state);
    }
    this.#endSweep();
  }

  #endSweep(): void {
    if (!this.#leftovers) return;
    this.#leftovers = undefined;
    this.#d.publisher.unsubscribe(this.#d.topics.allContainerStats());
  }

  /** Not sampled any more: its figures leave the sums and its retained topic is cleared once. */
  #forget(name: string, gone: boolean): void {
    this.#sampler.untrack(name);
    const hadFigures = this.#latest.delete(name);
    this.#published.delete(name);
    if (!this.#cleared.has(name)) {
      this.#d.publisher.clearRetained(this.#d.topics.containerStats(name), PRIORITY.state);
      this.#cleared.add(name);
    }
    if (gone) this.#cleared.delete(name);
    if (hadFigures) this.#publishHost();
  }

  #onSample(name: string, values: StatsValues, time: string): void {
    this.#latest.set(name, values);
    const now = this.#now();
    const figures = values as unknown as Figures;
    const last = this.#published.get(name);
    if (!shouldPublish(last, figures, now, this.#d.intervalSeconds, DEAD_BAND)) return;
    this.#published.set(name, { figures, atMs: now });
    this.#cleared.delete(name);
    this.#d.publisher.setRetained(
      this.#d.topics.containerStats(name),
      JSON.stringify({ ...values, time }),
      PRIORITY.state,
    );
  }

  /** The sums over the sampled containers, when they moved or the heartbeat is due. */
  #publishHost(): void {
    let cpu = 0;
    let memory = 0;
    for (const v of this.#latest.values()) {
      cpu += v.cpu_percent ?? 0;
      memory += v.memory_bytes;
    }
    const figures = {
      cpu_percent: round2(cpu),
      memory_bytes: memory,
      containers: this.#latest.size,
    };
    const now = this.#now();
    if (!shouldPublish(this.#hostPublished, figures, now, this.#d.intervalSeconds, HOST_BANDS)) {
      return;
    }
    this.#hostPublished = { figures, atMs: now };
    const { cpus, memory: total } = this.#host;
    this.#d.publisher.setRetained(
      this.#d.topics.hostStats(),
      JSON.stringify({
        ...figures,
        memory_percent: total ? round2((memory / total) * 100) : null,
        cpus,
        memory_total_bytes: total,
        time: new Date(now).toISOString(),
      }),
      PRIORITY.state,
    );
  }
}
