// Switching homeassistant.discovery_mode across a restart of the bridge (the README's upgrade
// path, and back): Home Assistant keeps every entity, its entity id and what the user customised,
// because the bridge hands the entities over with Home Assistant's migrate_discovery procedure
// instead of announcing colliding unique ids and then deleting the old ones.
import { afterEach, expect, it } from "vitest";
import { loadConfig } from "../../src/config/loader.js";
import { createLogger } from "../../src/runtime/log.js";
import { type Service, startService } from "../../src/runtime/service.js";
import { HaView } from "../helpers/ha-rules.js";
import { type Harness, startHarness } from "../helpers/harness.js";
import { Recorder } from "../helpers/recorder.js";

let h: Harness | undefined;
let next: Service | undefined;
afterEach(async () => {
  await next?.stop();
  next = undefined;
  await h?.close();
  h = undefined;
});

const shop = { "com.docker.compose.project": "shop", "com.docker.compose.service": "web" };

async function startInMode(harness: Harness, mode: string): Promise<Service> {
  const { config } = loadConfig({
    argv: [],
    env: {
      DOCKER_HOST: harness.engine.dockerHost,
      MQTT_URL: harness.broker.url,
      DOCKER_HOST_ID: "test",
      HA_DISCOVERY_MODE: mode,
      LOG_LEVEL: "silent",
    },
  });
  return startService(config, createLogger(config.log.level), {
    cleanupSettleMs: 300,
    offlineDelayMs: 100,
    reconnectBaseMs: 50,
  });
}

for (const [from, to, slowEngine] of [
  ["component", "device", false],
  ["device", "component", false],
  ["component", "device", true],
] as const) {
  const title = `switching from ${from} to ${to} discovery keeps every entity and its customisation${slowEngine ? ", without a single warning when the engine answers after the broker" : ""}`;
  it(title, async () => {
    h = await startHarness({
      env: { HA_DISCOVERY_MODE: from },
      before: (engine) =>
        engine.seed([{ name: "web", labels: shop, healthcheck: true }, { name: "solo" }]),
    });
    const { recorder: rec, topics, broker } = h;
    await rec.waitForState(topics.containerState("web"), { health: "healthy" });
    await rec.waitFor("stack state", () => rec.last(topics.stackState("shop")) !== undefined);
    expect(await h.service.publisher.drain(2000)).toBe(true);
    // Home Assistant as it runs along, and a user renaming an entity in its UI.
    const ha = new HaView();
    let fed = 0;
    const catchUp = () => {
      for (; fed < rec.messages.length; fed++) {
        const m = rec.messages[fed];
        if (m) ha.feed(m.topic, m.payload);
      }
    };
    catchUp();
    const before = [...ha.entities.keys()].sort();
    expect(before).toContain("sensor.web_status");
    ha.customise("sensor.web_status", "Shop front status");

    await h.stopBridge();
    const engine = h.engine;
    engine.pingStall = slowEngine;
    const starting = startInMode(h, to);
    if (slowEngine) await new Promise((r) => setTimeout(r, 300));
    engine.pingStall = false;
    next = await starting;
    const oldTopic =
      from === "component"
        ? `homeassistant/sensor/${topics.containerDeviceId("web")}/status/config`
        : topics.deviceDiscovery(topics.containerDeviceId("web"));
    await rec.waitFor("the old topic cleared", () => rec.last(oldTopic) === "", 5000);
    expect(await next.publisher.drain(2000)).toBe(true);
    catchUp();

    expect([...ha.entities.keys()].sort()).toEqual(before);
    expect(ha.customName("sensor.web_status")).toBe("Shop front status");
    expect(ha.state("sensor.web_status")).toBe("running");
    expect(ha.state("binary_sensor.web_health")).toBe("off");
    // Home Assistant's only complaint: new configs that reached it before the hand-over (the
    // engine's snapshot beat the broker's retained messages), taken over right after.
    expect(ha.problems.filter((p) => slowEngine || !p.includes("conflicting discovery"))).toEqual(
      [],
    );
    // What a Home Assistant starting later is given: the new mode's topics only.
    const retained = await Recorder.retainedSnapshot(broker.url, "homeassistant/#");
    const stale = [...retained.keys()].filter((t) =>
      to === "device"
        ? !t.startsWith("homeassistant/device/")
        : t.startsWith("homeassistant/device/"),
    );
    expect(stale).toEqual([]);
    expect(
      HaView.from(
        [...retained].map(([topic, payload]) => ({ topic, payload, retain: true, qos: 1, at: 0 })),
      ).entities.size,
    ).toBe(before.length);
  });
}
