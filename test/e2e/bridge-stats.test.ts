// Resource statistics on the real engine: a shell loop shows more than half a core, memory a
// container allocates shows within one interval, a stopped container's stats entities go
// unavailable with its state message, and a bridge with statistics off publishes none. The test
// containers run with --network none (the throwaway dockerd has no bridge): no network figures.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HaView } from "../helpers/ha-view.js";
import { type BridgeUnderTest, exec, startBridge, uniqueHostId } from "./bridge-kit.js";
import {
  type DockerApi,
  describeE2E,
  dockerApi,
  type E2EServices,
  e2eServices,
} from "./services.js";

const INTERVAL_S = 2;
const MIB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeE2E("statistics", () => {
  let ctx: E2EServices;
  let docker: DockerApi;
  let bridge: BridgeUnderTest;

  beforeAll(async () => {
    ctx = e2eServices();
    docker = dockerApi(ctx);
    await docker.removeAll();
    bridge = await startBridge(ctx, uniqueHostId("stats"), {
      env: { STATS_ENABLED: "true", STATS_INTERVAL_SECONDS: String(INTERVAL_S) },
    });
  });

  afterAll(async () => {
    await bridge?.stop();
    if (ctx && (await docker.ping())) await docker.removeAll();
  });

  const stats = (name: string) => bridge.recorder.lastJson(bridge.topics.containerStats(name));

  describe("on", () => {
    it("a shell loop shows more than 50 % CPU, and no network figures under --network none", async () => {
      const { recorder: rec } = bridge;
      await docker.run({ name: "spin", cmd: ["sh", "-c", "while :; do :; done"] });
      await rec.waitFor(
        "spin above 50 % CPU",
        () => Number(stats("spin")?.cpu_percent ?? 0) > 50,
        5 * INTERVAL_S * 1000,
      );
      expect(stats("spin")).toMatchObject({ network_rx_bytes: null, network_tx_bytes: null });
      const ha = HaView.from(rec.messages);
      expect(ha.problems).toEqual([]);
      const cpu = bridge.topics.containerEntityId("sensor", "spin", "stats_cpu");
      expect(Number(ha.state(cpu))).toBeGreaterThan(50);
      expect(ha.available(cpu)).toBe(true);
    });

    it("memory a container allocates shows within one interval", async () => {
      const { recorder: rec } = bridge;
      await docker.run({ name: "hog", cmd: ["sleep", "600"] });
      await rec.waitFor("hog's first figures", () => stats("hog") !== undefined, 10_000);
      const before = Number(stats("hog")?.memory_bytes);
      const code = await exec(docker, "hog", [
        "dd",
        "if=/dev/zero",
        "of=/dev/shm/fill",
        "bs=1M",
        "count=48",
      ]);
      expect(code).toBe(0);
      const allocated = Date.now();
      await rec.waitFor(
        "hog's 48 MiB",
        // 48 MiB written; the sleep's own few hundred KiB may have shrunk since the first sample.
        () => Number(stats("hog")?.memory_bytes) >= before + 46 * MIB,
        5 * INTERVAL_S * 1000,
      );
      // One interval, plus the engine's answer at its next one-second collection.
      expect(Date.now() - allocated).toBeLessThan(INTERVAL_S * 1000 + 1500);
      const memory = bridge.topics.containerEntityId("sensor", "hog", "stats_memory");
      expect(Number(HaView.from(rec.messages).state(memory))).toBeGreaterThanOrEqual(46);
    });

    it("a stopped container's stats entities are unavailable with its state message", async () => {
      const { recorder: rec, topics } = bridge;
      await docker.stop("spin", 0);
      await rec.waitFor(
        "spin stopped",
        () => rec.lastJson(topics.containerState("spin"))?.running === false,
      );
      const ha = HaView.from(rec.messages);
      for (const key of ["stats_cpu", "stats_memory"]) {
        expect(ha.available(topics.containerEntityId("sensor", "spin", key)), key).toBe(false);
      }
      await rec.waitFor(
        "spin's stats cleared",
        () => rec.last(topics.containerStats("spin")) === "",
      );
      const after = rec.on(topics.containerStats("spin")).length;
      await sleep(2 * INTERVAL_S * 1000);
      expect(rec.on(topics.containerStats("spin"))).toHaveLength(after);
      // The running container is still sampled: its entities stay available.
      const hog = topics.containerEntityId("sensor", "hog", "stats_memory");
      expect(HaView.from(rec.messages).available(hog)).toBe(true);
    });
  });

  describe("off", () => {
    it("publishes no figures and no stats entities", async () => {
      const off = await startBridge(ctx, uniqueHostId("plain"));
      try {
        const { recorder: rec, topics } = off;
        await rec.waitFor(
          "hog's state",
          () => rec.last(topics.containerState("hog")) !== undefined,
        );
        await sleep(2 * INTERVAL_S * 1000);
        const mine = rec.messages.filter((m) => m.topic.includes(topics.hostId));
        expect(mine.filter((m) => m.topic.endsWith("/stats"))).toEqual([]);
        expect(mine.filter((m) => /"stats_\w+":/.test(m.payload))).toEqual([]);
      } finally {
        await off.stop();
      }
    });
  });
});
