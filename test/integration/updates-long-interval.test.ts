// Review finding: UPDATES_INTERVAL_HOURS above ~596 (the schema allows 720) overflows setTimeout's
// 32-bit delay; Node then fires after 1 ms, so the "every 720 hours" check runs back to back.
import pino from "pino";
import { afterEach, expect, it } from "vitest";
import { loadConfig } from "../../src/config/loader.js";
import { Topics } from "../../src/homeassistant/topics.js";
import type { MirrorView } from "../../src/publish/features.js";
import { UpdatesFeature } from "../../src/updates/feature.js";

let feature: UpdatesFeature | undefined;
afterEach(() => feature?.stop());

it("checks once, not in a loop, with updates.interval_hours = 720 (the schema's maximum)", async () => {
  const { config } = loadConfig({
    argv: [],
    env: { UPDATES_ENABLED: "true", UPDATES_INTERVAL_HOURS: "720" },
  });
  let checks = 0;
  const view: MirrorView = {
    announced: () => {
      checks++; // checkNow() lists the mirrored containers once per check
      return [];
    },
    get: () => undefined,
    engine: () => undefined,
  };
  const sink = {
    setRetained() {},
    clearRetained() {},
    publishEvent() {},
    subscribe() {},
    unsubscribe() {},
  };
  feature = new UpdatesFeature({
    settings: config.updates,
    docker: {
      call: async () => {
        throw new Error("no engine here");
      },
    },
    topics: new Topics({ baseTopic: "docker", hostId: "h", discoveryPrefix: "homeassistant" }),
    publisher: sink,
    log: pino({ level: "silent" }),
    mayAct: () => false,
    isSelf: () => false,
    random: () => -1 / 9, // first check at once: (0.1 + 0.9 * random) * window = 0
  });
  feature.start(view);
  await new Promise((r) => setTimeout(r, 500));
  expect(checks).toBe(1);
});
