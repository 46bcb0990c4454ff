// The discovery payloads as they go on the wire: Home Assistant's abbreviated keys, the container
// state topic once at device level, and what that costs per container. Payloads of earlier
// versions (long keys) must still be recognised and completed with removal stubs.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { expand } from "../../src/homeassistant/abbreviations.js";
import {
  containerDiscovery,
  type DiscoveryContext,
  isOwnDiscoveryPayload,
  withRemovalStubs,
} from "../../src/homeassistant/discovery.js";
import { Topics } from "../../src/homeassistant/topics.js";
import { FormerHosts } from "../../src/publish/former-hosts.js";
import { publicState } from "../../src/state/model.js";
import { allKeys, discoveryProblems } from "../helpers/ha-rules.js";
import { runningRecord } from "./fixtures.js";

const topics = new Topics({ baseTopic: "docker", hostId: "nas", discoveryPrefix: "homeassistant" });
const ctx: DiscoveryContext = { topics, mode: "device", version: "1.2.3" };
const record = {
  ...runningRecord("bench-c1"),
  id: "a".repeat(64),
  image: "busybox:latest",
  health: "healthy" as const,
  healthcheck: "CMD true",
  started_at: "2026-11-30T19:00:00.123456789Z",
};

/** Long keys this bridge uses: none of them may reach the wire where a short one exists. */
const LONG = [
  "device",
  "origin",
  "components",
  "platform",
  "unique_id",
  "default_entity_id",
  "value_template",
  "state_topic",
  "availability",
  "device_class",
  "entity_category",
  "enabled_by_default",
  "identifiers",
  "manufacturer",
  "model",
  "sw_version",
  "event_types",
  "options",
  "json_attributes_topic",
  "json_attributes_template",
  "icon",
  "topic",
];

describe("discovery on the wire", () => {
  it("uses Home Assistant's abbreviations and one device-level state topic", () => {
    const [message] = containerDiscovery(ctx, record);
    if (!message) throw new Error("no message");
    const text = JSON.stringify(message.payload);
    for (const key of LONG) expect(allKeys(message.payload), key).not.toContain(key);
    expect(message.payload.stat_t).toBe("docker/nas/containers/bench-c1/state");
    const cmps = message.payload.cmps as Record<string, Record<string, unknown>>;
    // Only the Events entity names its own topic; only Running carries the attributes.
    expect(Object.keys(cmps).filter((k) => "stat_t" in (cmps[k] ?? {}))).toEqual(["events"]);
    expect(Object.keys(cmps).filter((k) => "json_attr_t" in (cmps[k] ?? {}))).toEqual(["running"]);
    expect(cmps.running?.p).toBe("binary_sensor");
    // Home Assistant accepts it as it reads it (its own abbreviation table, in ha-expand.ts).
    expect(discoveryProblems("homeassistant", message.topic, text)).toEqual([]);
  });

  it("costs at most 3.45 kB per container with the default entities, state message included", () => {
    const [message] = containerDiscovery(ctx, record);
    if (!message) throw new Error("no message");
    const discovery = message.topic.length + Buffer.byteLength(JSON.stringify(message.payload));
    const stateTopic = topics.containerState(record.name);
    const state = stateTopic.length + Buffer.byteLength(JSON.stringify(publicState(record)));
    // 5.5 kB before abbreviations, the shared state topic and attributes on one entity.
    expect(discovery + state).toBeLessThanOrEqual(3450);
  });

  it("expands back to the long form the README shows", () => {
    const [message] = containerDiscovery(ctx, record);
    const long = expand(message?.payload ?? {});
    expect(long.device).toMatchObject({ identifiers: ["dmb_nas__bench-c1"], name: "bench-c1" });
    expect(long.origin).toEqual({ name: "docker-mqtt-bridge", sw_version: "1.2.3" });
    expect(long.availability).toEqual([{ topic: "docker/nas/availability" }]);
    const running = (long.components as Record<string, Record<string, unknown>>).running;
    expect(running).toMatchObject({
      platform: "binary_sensor",
      unique_id: "dmb_nas__bench-c1_running",
      default_entity_id: "binary_sensor.bench_c1_running",
    });
  });
});

describe("retained payloads of earlier versions (long keys)", () => {
  const longKeyed = JSON.stringify({
    device: { identifiers: ["dmb_nas__bench-c1"], name: "bench-c1" },
    origin: { name: "docker-mqtt-bridge", sw_version: "0.0.9" },
    components: {
      running: { platform: "binary_sensor", unique_id: "dmb_nas__bench-c1_running" },
      power: { platform: "switch", unique_id: "dmb_nas__bench-c1_power" },
    },
  });

  it("are still recognised as this bridge's", () => {
    expect(isOwnDiscoveryPayload(ctx, longKeyed)).toBe(true);
  });

  it("get removal stubs for the components the abbreviated payload no longer has", () => {
    const [message] = containerDiscovery(ctx, record);
    const now = JSON.stringify(message?.payload);
    const merged = withRemovalStubs(longKeyed, now);
    if (merged === undefined) throw new Error("no stubs");
    const parsed = JSON.parse(merged) as { cmps: Record<string, Record<string, unknown>> };
    expect(parsed.cmps.power).toEqual({ p: "switch" });
    expect(parsed.cmps.running?.uniq_id).toBe("dmb_nas__bench-c1_running");
    expect(withRemovalStubs(now, now)).toBeUndefined();
  });
});

describe("an earlier host id's retained discovery", () => {
  it("is cleared in either form", () => {
    const old = topics.forHost("old");
    const former = new FormerHosts(topics);
    const long = {
      device: { identifiers: ["dmb_old__web"] },
      origin: { name: "docker-mqtt-bridge" },
    };
    const short = { dev: { ids: ["dmb_old__db"] }, o: { name: "docker-mqtt-bridge" } };
    const longTopic = old.deviceDiscovery("dmb_old__web");
    const shortTopic = old.deviceDiscovery("dmb_old__db");
    former.seen(longTopic, JSON.stringify(long));
    former.seen(shortTopic, JSON.stringify(short));
    former.seen(old.hostState(), JSON.stringify({ engine_id: "E1" }));
    expect(former.staleTopics("E1")).toEqual([longTopic, shortTopic, old.hostState()]);
  });
});

describe("the README's example", () => {
  it("is what the bridge sends for web on nas, expanded", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const section = readme.slice(readme.indexOf("### What Home Assistant is sent"));
    const block = /```json\n([\s\S]*?)\n```/.exec(section)?.[1];
    if (!block) throw new Error("no example in the README");
    const shown = JSON.parse(block) as Record<string, unknown>;
    const web = { ...runningRecord("web"), image: "nginx:1.27" };
    const [message] = containerDiscovery({ ...ctx, version: "0.1.0" }, web);
    const sent = expand(message?.payload ?? {});
    const { components: shownComponents, ...shownTop } = shown;
    const { components: sentComponents, ...sentTop } = sent;
    expect(sentTop).toEqual(shownTop);
    const sentByKey = sentComponents as Record<string, Record<string, unknown>>;
    for (const [key, c] of Object.entries(shownComponents as Record<string, object>)) {
      // The README shortens the list of event types.
      const { event_types: _types, ...rest } = c as Record<string, unknown>;
      expect(sentByKey[key], key).toEqual(
        key === "events" ? { ...rest, event_types: sentByKey[key]?.event_types } : rest,
      );
    }
  });
});
