// The dead band, the heartbeat and expire_after: what keeps an idle host nearly silent without
// Home Assistant ever expiring a figure between two heartbeats.
import { describe, expect, it } from "vitest";
import {
  DEAD_BAND,
  expireAfterSeconds,
  heartbeatSeconds,
  movedBeyond,
  shouldPublish,
} from "../../src/stats/deadband.js";
import type { StatsValues } from "../../src/stats/formulas.js";

const MIB = 1024 * 1024;
const base: StatsValues = {
  cpu_percent: 2,
  memory_bytes: 100 * MIB,
  memory_limit_bytes: 1000 * MIB,
  memory_percent: 10,
  network_rx_bytes: null,
  network_tx_bytes: null,
  block_read_bytes: 0,
  block_write_bytes: 0,
  pids: 4,
};
const f = (v: StatsValues) => v as unknown as Record<string, number | null>;

describe("dead band", () => {
  it("ignores moves within it", () => {
    const now = { ...base, cpu_percent: 2.49, memory_bytes: 100 * MIB + MIB - 1 };
    expect(movedBeyond(f(base), f(now), DEAD_BAND)).toBe(false);
  });

  it.each([
    ["CPU by half a point", { cpu_percent: 2.5 }],
    ["memory by 1 MiB", { memory_bytes: 101 * MIB }],
    ["memory down by 1 MiB", { memory_bytes: 99 * MIB }],
    ["the limit at all", { memory_limit_bytes: 1000 * MIB + 1 }],
    ["processes at all", { pids: 5 }],
    ["block writes by 1 MiB", { block_write_bytes: MIB }],
    ["network appearing", { network_rx_bytes: 0 }],
  ])("speaks when %s moves", (_what, change) => {
    expect(movedBeyond(f(base), f({ ...base, ...change }), DEAD_BAND)).toBe(true);
  });
});

describe("heartbeat", () => {
  it("publishes the first sample, then nothing unmoved until the heartbeat is due", () => {
    expect(shouldPublish(undefined, f(base), 0, 10)).toBe(true);
    const last = { figures: f(base), atMs: 0 };
    expect(shouldPublish(last, f(base), 299_999, 10)).toBe(false);
    expect(shouldPublish(last, f(base), 300_000, 10)).toBe(true);
  });

  it("is 5 minutes, or 3 intervals when they are longer", () => {
    expect(heartbeatSeconds(1)).toBe(300);
    expect(heartbeatSeconds(10)).toBe(300);
    expect(heartbeatSeconds(600)).toBe(1800);
  });
});

describe("expire_after", () => {
  it.each([1, 10, 60, 100, 600, 3600])(
    "at %i s exceeds the longest silence: the heartbeat plus the interval its sample waits for",
    (interval) => {
      // The heartbeat is checked when a sample arrives, so the gap can reach heartbeat + interval
      // (plus the engine's answer time, up to a second per request in flight).
      expect(expireAfterSeconds(interval)).toBeGreaterThan(
        heartbeatSeconds(interval) + interval + 10,
      );
    },
  );

  it("is 350 s at the default 10 s interval", () => {
    expect(expireAfterSeconds(10)).toBe(350);
  });
});
