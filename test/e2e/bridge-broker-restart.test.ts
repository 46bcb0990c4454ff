// Scenario 8: mosquitto restarts without persistence, losing every retained message. The bridge
// reconnects and publishes availability, discovery and states again, so that Home Assistant
// (or anything subscribing afterwards) sees the same as before.
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  type BridgeUnderTest,
  containerTopicsIn,
  containerTopicsOf,
  hostDeviceTopic,
  ourRetained,
  startBridge,
  uniqueHostId,
} from "./bridge-kit.js";
import {
  type DockerApi,
  describeE2E,
  dockerApi,
  type E2EServices,
  e2eServices,
  restartMosquitto,
  waitFor,
} from "./services.js";

describeE2E("bridge across a broker restart", () => {
  let ctx: E2EServices;
  let docker: DockerApi;
  let bridge: BridgeUnderTest;

  beforeAll(async () => {
    ctx = e2eServices();
    docker = dockerApi(ctx);
    await docker.removeAll();
  });

  afterAll(async () => {
    await bridge?.stop();
    if (ctx && (await docker.ping())) await docker.removeAll();
  });

  it("republishes availability, discovery and states to a broker that lost them", async () => {
    const names = ["br-web", "br-db", "br-job"];
    await docker.run({ name: "br-web", cmd: ["sleep", "600"] });
    await docker.run({
      name: "br-db",
      cmd: ["sleep", "600"],
      healthCmd: "true",
      healthIntervalMs: 500,
    });
    await docker.run({ name: "br-job", cmd: ["sh", "-c", "exit 1"] });
    await docker.waitForExit("br-job");
    bridge = await startBridge(ctx, uniqueHostId("broker"));
    const { recorder: rec, topics } = bridge;
    await rec.waitForState(topics.containerState("br-db"), { health: "healthy" });
    await rec.waitForState(topics.containerState("br-job"), { exit_code: 1 });
    await rec.waitForState(topics.containerState("br-web"), { running: true });
    await rec.waitFor("availability online", () => rec.last(topics.availability()) === "online");
    const before = await ourRetained(ctx.mosquittoUrl, topics);
    expect(containerTopicsIn(topics, before.keys())).toEqual(containerTopicsOf(topics, names));
    expect(before.get(topics.availability())).toBe("online");
    expect(before.has(hostDeviceTopic(topics))).toBe(true);

    await restartMosquitto(ctx);
    expect(await ourRetained(ctx.mosquittoUrl, topics)).not.toEqual(before);

    const after = await waitFor(
      async () => {
        const now = await ourRetained(ctx.mosquittoUrl, topics).catch(() => undefined);
        return now && now.size === before.size ? now : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 200, what: "the bridge's retained messages again" },
    );
    expect(after).toEqual(before);
  });
});
