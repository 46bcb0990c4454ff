// The `docker stats` formulas against payloads captured from the real engine here (cgroup v1) and
// one written from the Engine API documentation and moby's source (cgroup v2): see each
// fixture's `_source`.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  cpuPercent,
  cpuPercentByTime,
  cpuPoint,
  isLiveSample,
  memoryBytes,
  type StatsPayload,
  statsPayloadSchema,
  statsValues,
} from "../../src/stats/formulas.js";

function fixture(name: string): StatsPayload {
  const url = new URL(`../fixtures/stats/${name}`, import.meta.url);
  const doc = JSON.parse(readFileSync(url, "utf8")) as { body: unknown };
  return statsPayloadSchema.parse(doc.body);
}

/** The previous sample's counters as the engine itself reports them in precpu_stats. */
function precpu(name: string) {
  const url = new URL(`../fixtures/stats/${name}`, import.meta.url);
  const doc = JSON.parse(readFileSync(url, "utf8")) as { body: { precpu_stats: unknown } };
  const point = cpuPoint(statsPayloadSchema.parse({ cpu_stats: doc.body.precpu_stats }));
  if (!point) throw new Error("no precpu");
  return point;
}

describe("cgroup v1 (captured from Docker 20.10 here)", () => {
  it("a busy shell loop is one full core: CPU % as the engine's own precpu gives it", () => {
    const p = fixture("cgroup1-busy-twoshot.json");
    expect(cpuPercent(p, precpu("cgroup1-busy-twoshot.json"))).toBeCloseTo(99.24, 2);
  });

  it("between two one-shot samples (kept by the bridge), the same loop is still ~one core", () => {
    const first = fixture("cgroup1-busy-oneshot.json");
    const later = fixture("cgroup1-busy-twoshot.json");
    const prev = cpuPoint(first);
    expect(prev).toMatchObject({ total: 3282109031, system: 14707250000000 });
    expect(statsValues(later, prev).cpu_percent).toBe(97.99);
  });

  it("a one-shot sample alone has no CPU % yet, but every other figure", () => {
    expect(statsValues(fixture("cgroup1-busy-oneshot.json"), undefined)).toEqual({
      cpu_percent: null,
      memory_bytes: 417792,
      memory_limit_bytes: 25276514304,
      memory_percent: 0,
      network_rx_bytes: null,
      network_tx_bytes: null,
      block_read_bytes: 0,
      block_write_bytes: 0,
      pids: 1,
    });
  });

  it("48 MiB held in /dev/shm show as memory, against the container's 256 MiB limit", () => {
    const v = statsValues(fixture("cgroup1-memory-oneshot.json"), undefined);
    expect(v.memory_bytes).toBe(51163136);
    expect(v.memory_bytes / 2 ** 20).toBeGreaterThan(48);
    expect(v.memory_limit_bytes).toBe(268435456);
    expect(v.memory_percent).toBe(19.06);
  });

  it("memory subtracts total_inactive_file (not inactive_file) on v1", () => {
    const p = fixture("cgroup1-memory-oneshot.json");
    const stats = { ...p.memory_stats?.stats, total_inactive_file: 10_000_000, inactive_file: 1 };
    expect(memoryBytes({ ...p, memory_stats: { ...p.memory_stats, stats } })).toBe(
      51163136 - 10_000_000,
    );
  });

  it("a stopped container's 200 answer is not a sample", () => {
    expect(isLiveSample(fixture("cgroup1-stopped-oneshot.json"))).toBe(false);
    expect(isLiveSample(fixture("cgroup1-idle-oneshot.json"))).toBe(true);
  });
});

describe("cgroup v2 (written from the Engine API documentation and moby's source)", () => {
  it("gives every figure docker stats shows", () => {
    const p = fixture("cgroup2-from-docs.json");
    const prev = { total: 28500000000, system: 7996000000000 };
    expect(statsValues(p, prev)).toEqual({
      cpu_percent: 150,
      memory_bytes: 83886080,
      memory_limit_bytes: 536870912,
      memory_percent: 15.63,
      network_rx_bytes: 3000,
      network_tx_bytes: 700,
      block_read_bytes: 12288,
      block_write_bytes: 65536,
      pids: 7,
    });
  });

  it("without online_cpus, the per-CPU list's length counts the CPUs", () => {
    const p = fixture("cgroup2-from-docs.json");
    const usage = { total_usage: 30000000000, percpu_usage: [1, 2] };
    const noOnline = { ...p, cpu_stats: { cpu_usage: usage, system_cpu_usage: 8000000000000 } };
    expect(cpuPercent(noOnline, { total: 28500000000, system: 7996000000000 })).toBe(75);
  });

  it("inactive_file larger than usage is ignored (usage as it is)", () => {
    const p = fixture("cgroup2-from-docs.json");
    const memory_stats = { usage: 1000, limit: 2000, stats: { inactive_file: 5000 } };
    expect(memoryBytes({ ...p, memory_stats })).toBe(1000);
  });

  it("a counter that went backwards (a restarted container) reads 0 %, never negative", () => {
    const p = fixture("cgroup2-from-docs.json");
    expect(cpuPercent(p, { total: 40000000000, system: 7996000000000 })).toBe(0);
    expect(cpuPercent(p, { total: 28500000000, system: 8000000000000 })).toBe(0);
  });
});

describe("Podman 4.3 (captured from its Docker-compatible API here)", () => {
  it("a busy shell loop is one core measured against the wall clock between the samples", () => {
    const first = fixture("podman-4.3-busy-oneshot-1.json");
    const later = fixture("podman-4.3-busy-oneshot-2.json");
    const prev = cpuPoint(first);
    if (!prev) throw new Error("no cpu");
    expect(cpuPercentByTime(later, prev)).toBeCloseTo(98.68, 1);
    expect(statsValues(later, prev, "wall-clock").cpu_percent).toBe(98.68);
    // No memory_stats.stats at all: usage as it is. A network appears (all zero) even without one.
    expect(statsValues(later, prev, "wall-clock")).toMatchObject({
      memory_bytes: later.memory_stats?.usage,
      network_rx_bytes: 0,
      pids: 1,
    });
  });

  it("the wall-clock formula gives docker's figure on docker's own samples", () => {
    const first = fixture("cgroup1-busy-oneshot.json");
    const later = fixture("cgroup1-busy-twoshot.json");
    const prev = cpuPoint(first);
    if (!prev) throw new Error("no cpu");
    expect(cpuPercentByTime(later, prev)).toBeCloseTo(cpuPercent(later, prev), -1);
  });
});
