// Removal is silent in Home Assistant's eyes: an entity's discovery is cleared before the state
// topic it reads, so Home Assistant never renders the empty payload of a cleared state (it would
// log a template error or "Ignoring invalid option ... got ''"); and should a cleared state reach
// an entity anyway, every value template renders it as unknown.
import { afterEach, describe, expect, it } from "vitest";
import { HaView, parseDiscovery, renderState } from "../helpers/ha-rules.js";
import { type Harness, startHarness } from "../helpers/harness.js";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const shop = { "com.docker.compose.project": "shop", "com.docker.compose.service": "web" };

async function start(mode: "device" | "component"): Promise<Harness> {
  h = await startHarness({
    env: { HA_DISCOVERY_MODE: mode },
    before: (engine) =>
      engine.seed([
        { name: "web", labels: shop, healthcheck: true },
        { name: "keep", image: "nginx:1" },
      ]),
  });
  const { recorder: rec, topics } = h;
  await rec.waitForState(topics.containerState("web"), { health: "healthy" });
  await rec.waitFor("stack state", () => rec.last(topics.stackState("shop")) !== undefined);
  await h.engine.waitForEventStream({ count: 1 });
  return h;
}

/** Waits until web's state topic is cleared, then returns what Home Assistant logged. */
async function afterWebCleared(harness: Harness, stackGoes = true): Promise<HaView> {
  const { recorder: rec, topics } = harness;
  await rec.waitFor("web's state cleared", () => rec.last(topics.containerState("web")) === "");
  if (stackGoes)
    await rec.waitFor("shop's stack cleared", () => rec.last(topics.stackState("shop")) === "");
  expect(await harness.service.publisher.drain(2000)).toBe(true);
  return HaView.from(rec.messages);
}

for (const mode of ["device", "component"] as const) {
  describe(`${mode} discovery: no warning in Home Assistant's log when a container goes`, () => {
    it("after the removal grace", async () => {
      const harness = await start(mode);
      harness.engine.remove("web");
      const ha = await afterWebCleared(harness);
      expect(ha.problems).toEqual([]);
      expect(ha.state("sensor.web_status")).toBe("absent");
      expect(ha.state("sensor.keep_status")).toBe("running");
    });

    it("while the bridge was down (start-up cleanup)", async () => {
      const harness = await start(mode);
      await harness.stopBridge();
      harness.engine.remove("web");
      await harness.restartBridge();
      const ha = await afterWebCleared(harness);
      expect(ha.problems).toEqual([]);
      expect(ha.state("binary_sensor.web_running")).toBe("absent");
    });

    it("opted out with docker-mqtt-bridge.enable=false", async () => {
      const harness = await start(mode);
      harness.engine.remove("web");
      harness.engine.run({
        name: "web",
        labels: { ...shop, "docker-mqtt-bridge.enable": "false" },
      });
      const ha = await afterWebCleared(harness);
      expect(ha.problems).toEqual([]);
      expect(ha.state("sensor.web_status")).toBe("absent");
    });

    it("renamed", async () => {
      const harness = await start(mode);
      harness.engine.rename("web", "shopfront");
      // The stack stays: shopfront is in it.
      const ha = await afterWebCleared(harness, false);
      expect(ha.problems).toEqual([]);
      expect(ha.state("sensor.web_status")).toBe("absent");
      await harness.recorder.waitForState(harness.topics.containerState("shopfront"), {
        status: "running",
      });
    });
  });
}

describe("a cleared state that reaches a live entity anyway", () => {
  it("renders as unknown for every entity of the host, a stack and a container, with no error", async () => {
    const harness = await start("device");
    const { recorder: rec } = harness;
    const problems: string[] = [];
    for (const m of rec.messages) {
      if (!m.topic.endsWith("/config") || m.payload === "") continue;
      const parsed = parseDiscovery("homeassistant", m.topic, JSON.parse(m.payload));
      for (const e of parsed.entities) {
        if (e.platform === "event" || e.config.state_topic === harness.topics.availability())
          continue;
        try {
          expect(renderState(e, "").state).toBe("unknown");
        } catch (err: unknown) {
          problems.push(`${String(e.config.unique_id)}: ${(err as Error).message}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });
});
