// Scenario 10: the start-up scenario again, with the bridge and the subscriber speaking MQTT 5 to
// mosquitto (aedes has no MQTT 5, so only this test covers it).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Recorder } from "../helpers/recorder.js";
import {
  BASE_TOPIC,
  type BridgeUnderTest,
  DISCOVERY_PREFIX,
  type EngineEventLog,
  followEngineEvents,
  startBridge,
  uniqueHostId,
} from "./bridge-kit.js";
import { createStartupMix, verifyStartup } from "./bridge-startup-mix.js";
import {
  type DockerApi,
  describeE2E,
  dockerApi,
  type E2EServices,
  e2eServices,
} from "./services.js";

describeE2E("bridge start-up on a real engine (MQTT 5)", () => {
  let ctx: E2EServices;
  let docker: DockerApi;
  let engineEvents: EngineEventLog;
  let bridge: BridgeUnderTest | undefined;
  let v5: Recorder | undefined;

  beforeAll(async () => {
    ctx = e2eServices();
    docker = dockerApi(ctx);
    await docker.removeAll();
    engineEvents = await followEngineEvents(ctx, { type: ["container"] });
    await createStartupMix(docker);
  });

  afterAll(async () => {
    await v5?.close();
    await bridge?.stop();
    engineEvents?.close();
    if (ctx && (await docker.ping())) await docker.removeAll();
  });

  it("publishes the same discovery and state over MQTT 5", async () => {
    const hostId = uniqueHostId("mqtt5");
    const clientId = `dmb-e2e-${hostId}`;
    v5 = await Recorder.connect(
      ctx.mosquittoUrl,
      [`${BASE_TOPIC}/${hostId}/#`, `${DISCOVERY_PREFIX}/#`],
      5,
    );
    bridge = await startBridge(ctx, hostId, {
      env: { MQTT_PROTOCOL_VERSION: "5", MQTT_CLIENT_ID: clientId },
    });

    await verifyStartup(ctx, docker, v5, bridge.topics, engineEvents);
    // mosquitto logs each client's protocol: p2 is 3.1.1, p5 is 5.
    const log = readFileSync(join(ctx.dataDir, "mosquitto.log"), "utf8");
    expect(log).toMatch(new RegExp(`as ${clientId} \\(p5,`));
  });
});
