// Fake Docker Engine 20.10, `GET /containers/{id}/stats`: the payloads captured from the real
// engine here (test/fixtures/stats/, cgroup v1), with the CPU counters, memory and processes of
// each running container driven by the load a test sets. A stopped container answers the captured
// zero-time 200, an unknown one 404, like moby. `delayMs` holds every answer back and computes it
// afterwards, so a container removed meanwhile gets its 404 (what a real engine does when the
// container goes away while the request waits for its next sample).
import { readFileSync } from "node:fs";
import type { FakeContainer } from "./fake-engine-model.js";
import type { Answer } from "./fake-engine-timing.js";

type Json = Record<string, unknown>;

function capture(name: string): Json {
  const url = new URL(`../fixtures/stats/${name}`, import.meta.url);
  return (JSON.parse(readFileSync(url, "utf8")) as { body: Json }).body;
}

export interface StatsLoad {
  /** CPU % of one core the container shows from now on. */
  cpuPercent?: number;
  memoryBytes?: number;
  memoryLimit?: number;
  pids?: number;
  /** Per interface rx/tx totals; absent: no `networks` (as --network none). */
  networks?: Record<string, { rx_bytes: number; tx_bytes: number }>;
}

interface Counters {
  load: StatsLoad;
  total: number;
  system: number;
}

const CPUS = 2;

export class FakeStats {
  readonly #running = capture("cgroup1-idle-oneshot.json");
  readonly #stopped = capture("cgroup1-stopped-oneshot.json");
  readonly #counters = new Map<string, Counters>();
  /** Held before each answer is computed. */
  delayMs = 0;
  /** Stats requests received (the one-shot and streaming kinds alike). */
  requests = 0;
  /**
   * `system_cpu_usage` grows by wall-clock time alone, not times the CPUs: what Podman's (the host's
   * busy time, test/fixtures/stats/podman-4.3-*) does on a host with one busy CPU of two. Docker's
   * formula then shows a one-core loop as 200 %.
   */
  systemIsWallClock = false;
  /** Requests waiting for their answer now, and the most ever at once. */
  inFlight = 0;
  maxInFlight = 0;

  setLoad(name: string, load: StatsLoad): void {
    const c = this.#counters.get(name);
    if (c) c.load = { ...c.load, ...load };
    else {
      const system = Date.now() * 1e6 * (this.systemIsWallClock ? 1 : CPUS);
      this.#counters.set(name, { load, total: 1e9, system });
    }
  }

  /** Answers one request for the container the path named, as found when the answer is due. */
  async answer(find: () => FakeContainer | undefined, param: string): Promise<Answer> {
    this.requests++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    this.inFlight--;
    const c = find();
    if (!c) return { status: 404, body: { message: `No such container: ${param}` } };
    if (!c.running || c.paused) {
      return { status: 200, body: { ...this.#stopped, name: `/${c.name}`, id: c.id } };
    }
    return { status: 200, body: this.#sample(c) };
  }

  #sample(c: FakeContainer): Json {
    let counters = this.#counters.get(c.name);
    if (!counters) {
      this.setLoad(c.name, {});
      counters = this.#counters.get(c.name) as Counters;
    }
    const nowMs = Date.now();
    const system = nowMs * 1e6 * (this.systemIsWallClock ? 1 : CPUS);
    const { load } = counters;
    // The container's CPU time grows by the wall-clock time times its share of one core.
    const wallNs = (system - counters.system) / (this.systemIsWallClock ? 1 : CPUS);
    counters.total += (wallNs * (load.cpuPercent ?? 0)) / 100;
    counters.system = system;
    const base = this.#running as {
      cpu_stats: Json & { cpu_usage: Json };
      memory_stats: Json & { stats: Json };
    };
    const body: Json = {
      ...this.#running,
      read: new Date(nowMs).toISOString(),
      name: `/${c.name}`,
      id: c.id,
      pids_stats: { current: load.pids ?? 1 },
      cpu_stats: {
        ...base.cpu_stats,
        cpu_usage: { ...base.cpu_stats.cpu_usage, total_usage: Math.round(counters.total) },
        system_cpu_usage: system,
        online_cpus: CPUS,
      },
      memory_stats: {
        ...base.memory_stats,
        usage: load.memoryBytes ?? base.memory_stats.usage,
        limit: load.memoryLimit ?? base.memory_stats.limit,
      },
    };
    if (load.networks) body.networks = load.networks;
    return body;
  }
}
