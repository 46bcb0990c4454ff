// Scenario 3: a healthcheck going from healthy to unhealthy and back reaches Home Assistant, while
// the probes themselves (three exec events each) publish nothing at all.

import { afterAll, beforeAll, expect, it } from "vitest";
import { haPayload } from "../helpers/ha-expand.js";
import {
  type BridgeUnderTest,
  barrier,
  deviceTopic,
  type EngineEventLog,
  exec,
  followEngineEvents,
  parse,
  since,
  startBridge,
  uniqueHostId,
  waitForEvent,
} from "./bridge-kit.js";
import {
  type DockerApi,
  describeE2E,
  dockerApi,
  type E2EServices,
  e2eServices,
} from "./services.js";

const NAME = "health-doc";
const EXEC_ACTIONS = ["exec_create", "exec_start", "exec_die"];

describeE2E("bridge follows health", () => {
  let ctx: E2EServices;
  let docker: DockerApi;
  let bridge: BridgeUnderTest;
  let engineEvents: EngineEventLog;

  beforeAll(async () => {
    ctx = e2eServices();
    docker = dockerApi(ctx);
    await docker.removeAll();
    engineEvents = await followEngineEvents(ctx, { type: ["container"], container: [NAME] });
    bridge = await startBridge(ctx, uniqueHostId("health"));
  });

  afterAll(async () => {
    await bridge?.stop();
    engineEvents?.close();
    if (ctx && (await docker.ping())) await docker.removeAll();
  });

  /** Lets `probes` healthcheck probes run, then proves none of them published anything. */
  async function expectProbesSilent(probes: number): Promise<void> {
    const { recorder: rec, topics } = bridge;
    // First let everything the last change caused arrive (host counts follow a health change).
    await barrier(docker, rec, topics, NAME);
    const from = rec.messages.length;
    const engineFrom = engineEvents.events.length;
    const skippedFrom = bridge.service.watcher.stats.probeExecsSkipped;
    await engineEvents.waitForCount(
      `${probes} healthcheck probes`,
      (e) => e.Action === "exec_die",
      probes,
      engineFrom,
    );
    await barrier(docker, rec, topics, NAME);
    // Only the barrier's own kill event (raw, and for the container's event entity).
    const barrierTopics = [topics.event("container", "kill"), topics.containerEvents(NAME)];
    const published = rec.messages.slice(from).map((m) => m.topic);
    expect(published.filter((t) => !barrierTopics.includes(t))).toEqual([]);
    expect(published).toContain(topics.event("container", "kill"));
    // The real engine's probe lines were recognised raw and skipped unparsed (the first probe
    // after a change may have begun before the barrier: at least the rest).
    expect(bridge.service.watcher.stats.probeExecsSkipped - skippedFrom).toBeGreaterThanOrEqual(
      3 * (probes - 1),
    );
  }

  it("shows healthy, unhealthy and healthy again, and stays silent between changes", async () => {
    const { recorder: rec, topics } = bridge;
    const state = topics.containerState(NAME);
    await rec.waitFor("the bridge online", () => rec.last(topics.availability()) === "online");
    await docker.run({
      name: NAME,
      cmd: ["sh", "-c", "touch /tmp/ok; exec sleep 600"],
      healthCmd: "test -f /tmp/ok",
      healthIntervalMs: 500,
      healthRetries: 1,
    });
    await rec.waitForState(state, { running: true, health: "healthy" });
    const announced = rec.messages.length;
    const discovery = haPayload(rec.last(deviceTopic(topics, NAME)));
    expect(Object.keys(discovery.components as object)).toEqual(
      expect.arrayContaining(["running", "health"]),
    );
    expect(await waitForEvent(rec, topics, "health_status", NAME)).toMatchObject({
      action: "health_status",
      detail: "healthy",
    });

    await expectProbesSilent(4);

    let from = rec.messages.length;
    expect(await exec(docker, NAME, ["rm", "-f", "/tmp/ok"])).toBe(0);
    await rec.waitForState(state, { running: true, health: "unhealthy" });
    expect(await waitForEvent(rec, topics, "health_status", NAME, from)).toMatchObject({
      detail: "unhealthy",
    });
    // A user's exec is not healthcheck noise: it is published.
    expect(await waitForEvent(rec, topics, "exec_create", NAME, from)).toMatchObject({
      detail: "rm -f /tmp/ok",
    });

    await expectProbesSilent(4);

    from = rec.messages.length;
    expect(await exec(docker, NAME, ["touch", "/tmp/ok"])).toBe(0);
    await rec.waitForState(state, { running: true, health: "healthy" });
    expect(await waitForEvent(rec, topics, "health_status", NAME, from)).toMatchObject({
      detail: "healthy",
    });

    // Pausing stops the probes; on unpause the engine resets health and probes again.
    await docker.pause(NAME);
    await rec.waitForState(state, { status: "paused", running: false });
    await docker.unpause(NAME);
    await rec.waitForState(state, { status: "running", running: true, health: "healthy" });

    // Over the whole test only user execs reached the exec topics: two of each.
    for (const action of EXEC_ACTIONS) {
      const seen = rec.messages.filter((m) => m.topic === topics.event("container", action));
      expect(
        seen.map((m) => parse(m.payload).detail),
        action,
      ).toHaveLength(2);
    }
    // Health changes are state, not discovery.
    expect(since(rec, announced, deviceTopic(topics, NAME))).toEqual([]);
  });

  it("announces a container created under a running bridge with its healthcheck from the first message", async () => {
    const { recorder: rec, topics } = bridge;
    const name = "health-new";
    const state = topics.containerState(name);
    await rec.waitFor("the bridge online", () => rec.last(topics.availability()) === "online");
    await docker.run({ name, cmd: ["sleep", "600"], healthCmd: "true", healthIntervalMs: 500 });
    await rec.waitForState(state, { running: true, health: "healthy" });

    // Home Assistant gets the device once, Health included; no state claims "no healthcheck".
    const configs = rec.messages.filter((m) => m.topic === deviceTopic(topics, name));
    expect(configs.map((m) => Object.keys(haPayload(m.payload).components as object))).toEqual([
      expect.arrayContaining(["running", "health"]),
    ]);
    const health = rec.messages
      .filter((m) => m.topic === state)
      .map((m) => parse(m.payload).health);
    expect(health).not.toContain("none");
  });
});
