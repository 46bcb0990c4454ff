// Scenario 1: the bridge starts on an engine that already runs a mix of containers; and Home
// Assistant's birth message makes it republish discovery, then states.
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  type BridgeUnderTest,
  deviceTopic,
  type EngineEventLog,
  followEngineEvents,
  hostDeviceTopic,
  startBridge,
  uniqueHostId,
} from "./bridge-kit.js";
import { createStartupMix, MIX_NAMES, verifyStartup } from "./bridge-startup-mix.js";
import {
  type DockerApi,
  describeE2E,
  dockerApi,
  type E2EServices,
  e2eServices,
} from "./services.js";

describeE2E("bridge start-up on a real engine (MQTT 3.1.1)", () => {
  let ctx: E2EServices;
  let docker: DockerApi;
  let engineEvents: EngineEventLog;
  let bridge: BridgeUnderTest | undefined;

  beforeAll(async () => {
    ctx = e2eServices();
    docker = dockerApi(ctx);
    await docker.removeAll();
    engineEvents = await followEngineEvents(ctx, { type: ["container"] });
    await createStartupMix(docker);
  });

  afterAll(async () => {
    await bridge?.stop();
    engineEvents?.close();
    if (ctx && (await docker.ping())) await docker.removeAll();
  });

  it("publishes discovery and state for running, exited, healthy, unhealthy and paused containers", async () => {
    bridge = await startBridge(ctx, uniqueHostId("startup"));
    await verifyStartup(ctx, docker, bridge.recorder, bridge.topics, engineEvents);
  });

  it("republishes availability, then discovery, then states on Home Assistant's birth", async () => {
    if (!bridge) throw new Error("needs the bridge of the previous test");
    const { recorder: rec, topics } = bridge;
    const from = rec.messages.length;
    const discovery = [hostDeviceTopic(topics), ...MIX_NAMES.map((n) => deviceTopic(topics, n))];
    const states = MIX_NAMES.map((n) => topics.containerState(n));
    const before = new Map([...discovery, ...states].map((t) => [t, rec.last(t)]));

    await rec.publish("homeassistant/status", "online");

    const after = () => rec.messages.slice(from);
    const all = [topics.availability(), ...discovery, ...states];
    await rec.waitFor("availability, every discovery and every state again", () =>
      all.every((t) => after().some((m) => m.topic === t)),
    );
    const order = after().map((m) => m.topic);
    const at = (list: string[]) => list.map((t) => order.indexOf(t));
    expect(order.indexOf(topics.availability())).toBeLessThan(Math.min(...at(discovery)));
    expect(Math.max(...at(discovery))).toBeLessThan(Math.min(...at(states)));
    // The same documents as before: a republish, not a change.
    for (const [topic, payload] of before) expect(rec.last(topic), topic).toBe(payload);
  });
});
