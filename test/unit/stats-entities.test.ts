// The statistics' discovery: which entities, enabled or not, and their availability, which must
// reach Home Assistant as the component's own in both discovery modes (a component's own
// availability overrides the device's shared one in HA's _merge_common_device_options).
import { describe, expect, it } from "vitest";
import { hostDiscovery } from "../../src/homeassistant/aggregates.js";
import {
  containerDiscovery,
  type DiscoveryContext,
  type DiscoveryMode,
} from "../../src/homeassistant/discovery.js";
import { STATS_ENTITY_GROUPS } from "../../src/homeassistant/entities.js";
import { Topics } from "../../src/homeassistant/topics.js";
import type { ContainerRecord } from "../../src/state/model.js";
import { RUNNING_AVAILABILITY, statsDiscovery } from "../../src/stats/entities.js";
import { statsSelection } from "../../src/stats/selection.js";
import { haComponents } from "../helpers/ha-expand.js";
import { discoveryProblems, parseDiscovery } from "../helpers/ha-rules.js";
import { runningRecord } from "./fixtures.js";

const topics = new Topics({ baseTopic: "docker", hostId: "pi", discoveryPrefix: "homeassistant" });

function record(name: string, labels: Record<string, string> = {}): ContainerRecord {
  return runningRecord(name, { labels });
}

function ctx(mode: DiscoveryMode, groups: readonly string[] = STATS_ENTITY_GROUPS) {
  const ext = statsDiscovery({
    topics,
    intervalSeconds: 10,
    groups: new Set(groups),
    sampled: statsSelection([]),
  });
  return {
    topics,
    mode,
    version: "1",
    groups: new Set(["running"]),
    extensions: [ext],
  } as DiscoveryContext;
}

/** The entities Home Assistant sets up from the messages, shared options merged as it does. */
function entities(mode: DiscoveryMode, r: ContainerRecord, groups?: readonly string[]) {
  return containerDiscovery(ctx(mode, groups), r).flatMap((m) => {
    expect(discoveryProblems("homeassistant", m.topic, JSON.stringify(m.payload))).toEqual([]);
    return parseDiscovery("homeassistant", m.topic, m.payload).entities;
  });
}

describe.each(["device", "component"] as const)("%s discovery", (mode) => {
  it("CPU and Memory enabled, the rest disabled by default, each reading the stats topic", () => {
    const stats = entities(mode, record("web")).filter((e) => e.key.startsWith("stats_"));
    const enabled = stats.filter((e) => e.config.enabled_by_default !== false).map((e) => e.key);
    expect(enabled).toEqual(["stats_cpu", "stats_memory"]);
    expect(stats.map((e) => e.key)).toEqual([
      "stats_cpu",
      "stats_memory",
      "stats_memory_percent",
      "stats_network_rx",
      "stats_network_tx",
      "stats_block_read",
      "stats_block_write",
      "stats_pids",
    ]);
    for (const e of stats) {
      expect(e.config.state_topic).toBe("docker/pi/containers/web/stats");
      expect(e.config.expire_after).toBe(350);
    }
  });

  it("stats entities need the bridge AND the running container; the others only the bridge", () => {
    const all = entities(mode, record("web"));
    const cpu = all.find((e) => e.key === "stats_cpu");
    expect(cpu?.config.availability).toEqual([
      { topic: "docker/pi/availability" },
      { topic: "docker/pi/containers/web/state", value_template: RUNNING_AVAILABILITY },
    ]);
    expect(cpu?.config.availability_mode).toBe("all");
    const running = all.find((e) => e.key === "running");
    expect(running?.config.availability).toEqual([{ topic: "docker/pi/availability" }]);
    expect(running?.config.availability_mode).toBeUndefined();
  });
});

describe("selection", () => {
  it("only the chosen groups; an opted-out container gets none", () => {
    const keys = (r: ContainerRecord, g?: readonly string[]) =>
      entities("device", r, g).map((e) => e.key);
    expect(keys(record("web"), ["stats_cpu", "stats_network"])).toEqual([
      "running",
      "stats_cpu",
      "stats_network_rx",
      "stats_network_tx",
    ]);
    expect(keys(record("web", { "docker-mqtt-bridge.stats": "false" }))).toEqual(["running"]);
  });

  it("the host gets the sums of CPU and Memory", () => {
    const [message] = hostDiscovery(ctx("device"), {
      name: "pi",
      engineVersion: "29.0",
      apiVersion: "1.51",
    });
    const cmps = haComponents(message?.payload);
    expect(cmps.stats_cpu).toMatchObject({
      name: "Containers CPU",
      state_topic: "docker/pi/stats",
    });
    expect(cmps.stats_memory).toMatchObject({ unit_of_measurement: "MiB", expire_after: 350 });
  });
});
