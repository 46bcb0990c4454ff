// Resource statistics as a subscriber and Home Assistant see them, over a fake engine serving the
// stats payloads captured from the real one (test/helpers/fake-engine-stats.ts) and an aedes
// broker: figures per running container and per host, the dead band, the lifecycle (a stopped
// container's entities unavailable at once, its topic cleared, no more requests), the selection
// (stats.containers, the opt-out label, HA_ENTITIES), bounded requests, and nothing when off.
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { HaView } from "../helpers/ha-view.js";
import { type Harness, startHarness } from "../helpers/harness.js";
import { Recorder } from "../helpers/recorder.js";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const MIB = 1024 * 1024;
const ON = { STATS_ENABLED: "true", STATS_INTERVAL_SECONDS: "1" };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function statsOf(h: Harness, name: string): Record<string, unknown> | undefined {
  return h.recorder.lastJson(h.topics.containerStats(name));
}

function entityId(h: Harness, name: string, key: string): string {
  return h.topics.containerEntityId("sensor", name, key);
}

async function start(env: Record<string, string>, seed: Parameters<Harness["engine"]["seed"]>[0]) {
  h = await startHarness({ env, before: (engine) => engine.seed(seed) });
  return h;
}

describe("statistics on", () => {
  it("publishes a running container's figures and Home Assistant shows CPU and Memory", async () => {
    const h = await start(ON, [{ name: "web" }, { name: "db" }]);
    h.engine.stats.setLoad("web", { cpuPercent: 75, memoryBytes: 64 * MIB, pids: 3 });
    h.engine.stats.setLoad("db", { cpuPercent: 20, memoryBytes: 100 * MIB });
    await h.recorder.waitFor("web's CPU", () => typeof statsOf(h, "web")?.cpu_percent === "number");
    const web = statsOf(h, "web") ?? {};
    expect(web.cpu_percent).toBeCloseTo(75, 0);
    expect(web).toMatchObject({
      memory_bytes: 64 * MIB,
      memory_limit_bytes: 25276514304,
      network_rx_bytes: null,
      network_tx_bytes: null,
      block_read_bytes: 0,
      block_write_bytes: 0,
      pids: 3,
    });
    expect(typeof web.time).toBe("string");
    // Retained: a subscriber arriving later (Home Assistant restarting) gets the figures at once.
    const late = await Recorder.connect(h.broker.url, [h.topics.containerStats("web")]);
    await late.waitFor("the retained figures", () => late.messages.some((m) => m.retain));
    await late.close();

    await h.recorder.waitFor("the host's sums", () => {
      const host = h.recorder.lastJson(h.topics.hostStats());
      return host?.containers === 2 && Math.abs(Number(host.cpu_percent) - 95) < 2;
    });
    expect(h.recorder.lastJson(h.topics.hostStats())).toMatchObject({
      memory_bytes: 164 * MIB,
      cpus: 2,
      memory_total_bytes: 25276063744,
    });

    const ha = HaView.from(h.recorder.messages);
    expect(ha.problems).toEqual([]);
    expect(Number(ha.state(entityId(h, "web", "stats_cpu")))).toBeCloseTo(75, 0);
    expect(ha.state(entityId(h, "web", "stats_memory"))).toBe("64.0");
    expect(ha.available(entityId(h, "web", "stats_cpu"))).toBe(true);
    const cfg = (key: string) => ha.entity(entityId(h, "web", key))?.config ?? {};
    expect(cfg("stats_cpu").enabled_by_default).toBeUndefined();
    expect(cfg("stats_memory")).toMatchObject({
      device_class: "data_size",
      unit_of_measurement: "MiB",
    });
    for (const key of [
      "stats_memory_percent",
      "stats_network_rx",
      "stats_network_tx",
      "stats_block_read",
      "stats_block_write",
      "stats_pids",
    ]) {
      expect(cfg(key).enabled_by_default, key).toBe(false);
    }
    expect(cfg("stats_network_rx").state_class).toBe("total_increasing");
    expect(cfg("stats_cpu").expire_after).toBeGreaterThan(300);
    const hostCpu = h.topics.uniqueId(h.topics.hostDeviceId(), "stats_cpu");
    const host = [...ha.entities].find(([, e]) => e.config.unique_id === hostCpu)?.[0] ?? "";
    expect(Number(ha.state(host))).toBeGreaterThan(90);
  });

  it("stays silent while figures stay within the dead band, speaks when one moves beyond", async () => {
    const h = await start(ON, [{ name: "web" }]);
    h.engine.stats.setLoad("web", { cpuPercent: 10, memoryBytes: 50 * MIB });
    const topic = h.topics.containerStats("web");
    await h.recorder.waitFor("a first sample", () => h?.recorder.on(topic).length === 1);
    const requests = h.engine.stats.requests;
    h.engine.stats.setLoad("web", { memoryBytes: 50 * MIB + 512 * 1024 });
    await sleep(3500);
    expect(h.engine.stats.requests - requests).toBeGreaterThanOrEqual(2);
    expect(h.recorder.on(topic)).toHaveLength(1);
    h.engine.stats.setLoad("web", { memoryBytes: 52 * MIB });
    await h.recorder.waitFor(
      "memory moved 2 MiB",
      () => statsOf(h as Harness, "web")?.memory_bytes === 52 * MIB,
    );
    expect(h.recorder.on(topic)).toHaveLength(2);
  });

  it("a stopped container's stats entities are unavailable with its state message; sampling stops", async () => {
    const h = await start(ON, [{ name: "web" }]);
    h.engine.stats.setLoad("web", { cpuPercent: 30, memoryBytes: 20 * MIB });
    const topic = h.topics.containerStats("web");
    await h.recorder.waitFor("a sample", () => statsOf(h, "web") !== undefined);
    h.engine.stop("web");
    await h.recorder.waitFor(
      "web stopped",
      () => h?.recorder.lastJson(h.topics.containerState("web"))?.running === false,
    );
    const ha = HaView.from(h.recorder.messages);
    expect(ha.available(entityId(h, "web", "stats_cpu"))).toBe(false);
    expect(ha.available(entityId(h, "web", "stats_memory"))).toBe(false);
    await h.recorder.waitFor("its stats cleared", () => h?.recorder.last(topic) === "");
    const requests = h.engine.stats.requests;
    await sleep(2500);
    expect(h.engine.stats.requests).toBe(requests);
    expect(h.recorder.last(topic)).toBe("");

    h.engine.start("web");
    await h.recorder.waitFor(
      "figures again after a start",
      () => typeof statsOf(h as Harness, "web")?.cpu_percent === "number",
    );
    expect(HaView.from(h.recorder.messages).available(entityId(h, "web", "stats_cpu"))).toBe(true);
  });

  it("a container removed while its request waits is no error: the others go on", async () => {
    const h = await start(ON, [{ name: "web" }, { name: "db" }]);
    h.engine.stats.setLoad("db", { memoryBytes: 10 * MIB });
    await h.recorder.waitFor("db's figures", () => statsOf(h, "db") !== undefined);
    h.engine.stats.delayMs = 600;
    await sleep(200);
    h.engine.remove("web");
    h.engine.stats.delayMs = 0;
    h.engine.stats.setLoad("db", { memoryBytes: 30 * MIB });
    await h.recorder.waitFor(
      "db still sampled",
      () => statsOf(h as Harness, "db")?.memory_bytes === 30 * MIB,
    );
    await h.recorder.waitFor(
      "web's topic cleared",
      () => h?.recorder.last(h.topics.containerStats("web")) === "",
    );
  });

  it("never has more than 6 requests in flight", async () => {
    const seed = Array.from({ length: 20 }, (_, i) => ({ name: `c${i}` }));
    h = await startHarness({
      env: ON,
      before: (engine) => {
        engine.seed(seed);
        engine.stats.delayMs = 300;
      },
    });
    await h.recorder.waitFor(
      "every container's figures",
      () => seed.every((c) => statsOf(h as Harness, c.name) !== undefined),
      15_000,
    );
    expect(h.engine.stats.maxInFlight).toBe(6);
  });

  it("stop() cancels the timers and requests: nothing is asked afterwards", async () => {
    const h = await start(ON, [{ name: "web" }]);
    await h.recorder.waitFor("a sample", () => statsOf(h, "web") !== undefined);
    h.engine.stats.delayMs = 2000;
    await sleep(1100);
    await h.stopBridge();
    const requests = h.engine.stats.requests;
    await sleep(2500);
    expect(h.engine.stats.requests).toBe(requests);
  });
});

describe("on Podman", () => {
  it("CPU % is measured against the wall clock: its system_cpu_usage follows the host's load", async () => {
    h = await startHarness({
      engine: { info: { BuildahVersion: "1.28.2", ServerVersion: "4.3.1" } },
      env: ON,
      before: (engine) => {
        engine.seed([{ name: "spin" }]);
        engine.stats.systemIsWallClock = true;
        engine.stats.setLoad("spin", { cpuPercent: 100 });
      },
    });
    const harness = h;
    await harness.recorder.waitFor(
      "spin's CPU",
      () => typeof statsOf(harness, "spin")?.cpu_percent === "number",
    );
    expect(Number(statsOf(harness, "spin")?.cpu_percent)).toBeGreaterThan(90);
    expect(Number(statsOf(harness, "spin")?.cpu_percent)).toBeLessThan(110);
  });
});

describe("after a restart", () => {
  it("clears the figures an earlier run left for containers that are gone, keeps the others", async () => {
    const earlier = JSON.stringify({ cpu_percent: 1, memory_bytes: 1 });
    h = await startHarness({
      env: ON,
      before: async (engine, broker) => {
        engine.seed([{ name: "web" }]);
        const old = await Recorder.connect(broker.url, ["unused/#"]);
        await old.publish("docker/test/containers/ghost/stats", earlier, true);
        await old.publish("docker/test/containers/web/stats", earlier, true);
        await old.close();
      },
    });
    const harness = h;
    const ghost = harness.topics.containerStats("ghost");
    expect(ghost).toBe("docker/test/containers/ghost/stats");
    await harness.recorder.waitFor(
      "ghost's figures cleared",
      () => harness.recorder.last(ghost) === "",
    );
    expect(statsOf(harness, "web")?.cpu_percent).not.toBe(1);
    expect(harness.recorder.last(harness.topics.containerStats("web"))).not.toBe("");
  });
});

describe("a host with nothing running", () => {
  it("still publishes its sums, as zero, within an interval", async () => {
    const h = await start(ON, [{ name: "web", state: "exited" }]);
    await h.recorder.waitFor(
      "the host's sums",
      () => h?.recorder.lastJson(h.topics.hostStats()) !== undefined,
    );
    expect(h.recorder.lastJson(h.topics.hostStats())).toMatchObject({
      cpu_percent: 0,
      memory_bytes: 0,
      containers: 0,
      cpus: 2,
    });
    expect(h.engine.stats.requests).toBe(0);
  });
});

describe("which containers", () => {
  it("stats.containers and the opt-out label choose; the others get no entities and no topic", async () => {
    const h = await start({ ...ON, STATS_CONTAINERS: "web*,db" }, [
      { name: "web1" },
      { name: "db", labels: { "docker-mqtt-bridge.stats": "false" } },
      { name: "cache" },
    ]);
    await h.recorder.waitFor("web1's figures", () => statsOf(h, "web1") !== undefined);
    await sleep(1500);
    const ha = HaView.from(h.recorder.messages);
    expect(ha.entity(entityId(h, "web1", "stats_cpu"))).toBeDefined();
    for (const name of ["db", "cache"]) {
      expect(ha.entity(entityId(h, name, "stats_cpu")), name).toBeUndefined();
      expect(statsOf(h, name), name).toBeUndefined();
    }
    const asked = h.engine.requests.filter((r) => r.path.includes("/stats"));
    expect(asked.every((r) => r.path.includes(h.engine.container("web1")?.id ?? "?"))).toBe(true);
  });

  it("HA_ENTITIES selects the stats groups like the others", async () => {
    const h = await start({ ...ON, HA_ENTITIES: "running,stats_cpu" }, [{ name: "web" }]);
    await h.recorder.waitFor("web's figures", () => statsOf(h, "web") !== undefined);
    const ha = HaView.from(h.recorder.messages);
    const keys = [...ha.entities.values()]
      .filter((e) => e.device.name === "web")
      .map((e) => e.key)
      .sort();
    expect(keys).toEqual(["running", "stats_cpu"]);
  });
});

describe("statistics off (the default)", () => {
  it("asks the engine for nothing and publishes no figures or entities", async () => {
    const h = await start({}, [{ name: "web" }]);
    await h.recorder.waitFor(
      "web's state",
      () => h?.recorder.last(h.topics.containerState("web")) !== undefined,
    );
    await sleep(1500);
    expect(h.engine.stats.requests).toBe(0);
    expect(h.recorder.messages.filter((m) => m.topic.endsWith("/stats"))).toEqual([]);
    expect(h.recorder.messages.filter((m) => m.payload.includes("stats_"))).toEqual([]);
  });
});

describe("the README's statistics section", () => {
  it("lists exactly the entities the bridge announces, with their kind and default", async () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const from = readme.indexOf("## Resource statistics");
    const text = readme.slice(from, readme.indexOf("\n## ", from + 1));
    const h = await start(ON, [{ name: "jellyfin" }]);
    await h.recorder.waitFor(
      "the host's sums",
      () => h.recorder.lastJson(h.topics.hostStats()) !== undefined,
    );
    const ha = HaView.from(h.recorder.messages);
    const rows = [
      ...text.matchAll(/^\| ([^|]+) \| `(sensor\.<c>_stats_\w+)` \| ([^|]+) \| (\w+) \|$/gm),
    ];
    const announced = [...ha.entities.keys()].filter((id) =>
      id.startsWith("sensor.jellyfin_stats_"),
    );
    expect(rows.map((r) => r[2]?.replace("<c>", "jellyfin")).sort()).toEqual(announced.sort());
    for (const [, name, pattern, kind, enabled] of rows) {
      const config = ha.entity(pattern?.replace("<c>", "jellyfin") ?? "")?.config ?? {};
      expect(config.name, pattern).toBe(name?.trim());
      expect(config.device_class, pattern).toBe(/`(data_size)`/.exec(kind ?? "")?.[1]);
      expect(config.enabled_by_default ?? true, pattern).toBe(enabled === "enabled");
    }
    const host = (key: string) => h.topics.uniqueId(h.topics.hostDeviceId(), key);
    const hostIds = [...ha.entities].filter(([, e]) =>
      [host("stats_cpu"), host("stats_memory")].includes(String(e.config.unique_id)),
    );
    expect(hostIds.map(([, e]) => e.config.name)).toEqual(
      [...text.matchAll(/\*\*(Containers \w+)\*\*\s+\(`sensor\.<h>_stats_\w+`\)/g)].map(
        (m) => m[1],
      ),
    );
  });
});
