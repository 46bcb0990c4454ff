// Scenarios 5 and 6: a removed container's entities go after the grace period (empty retained
// payloads), and a renamed one's old entities go at once while the new name appears. Also a
// container removed while the bridge was down: its retained entities are cleared at start-up.

import { afterAll, beforeAll, expect, it } from "vitest";
import { haPayload } from "../helpers/ha-expand.js";
import {
  type BridgeUnderTest,
  containerTopicsIn,
  containerTopicsOf,
  deviceTopic,
  hostDeviceTopic,
  ourRetained,
  parse,
  since,
  startBridge,
  uniqueHostId,
  waitForCleared,
  waitForEvent,
} from "./bridge-kit.js";
import {
  type DockerApi,
  describeE2E,
  dockerApi,
  type E2EServices,
  e2eServices,
} from "./services.js";

const GRACE_MS = 1000;

describeE2E("bridge removes entities", () => {
  let ctx: E2EServices;
  let docker: DockerApi;
  let bridge: BridgeUnderTest;

  beforeAll(async () => {
    ctx = e2eServices();
    docker = dockerApi(ctx);
    await docker.removeAll();
    bridge = await startBridge(ctx, uniqueHostId("removal"), {
      env: { REMOVAL_GRACE_SECONDS: String(GRACE_MS / 1000) },
    });
  });

  afterAll(async () => {
    await bridge?.stop();
    if (ctx && (await docker.ping())) await docker.removeAll();
  });

  it("clears discovery and state of a force-removed container after the grace period", async () => {
    const { recorder: rec, topics } = bridge;
    const name = "gone-1";
    const keep = "kept-1";
    // The only container of its Compose project: the stack's device goes with it.
    const stack = topics.deviceDiscovery(topics.stackDeviceId("gone"));
    await docker.run({
      name,
      cmd: ["sleep", "600"],
      healthCmd: "true",
      healthIntervalMs: 500,
      labels: { "com.docker.compose.project": "gone", "com.docker.compose.service": "app" },
    });
    await docker.run({ name: keep, cmd: ["sleep", "600"] });
    await rec.waitForState(topics.containerState(name), { running: true, health: "healthy" });
    await rec.waitForState(topics.containerState(keep), { running: true });
    const from = rec.messages.length;

    await docker.rm(name);
    await waitForEvent(rec, topics, "destroy", name, from);
    await waitForCleared(rec, deviceTopic(topics, name), from);
    await waitForCleared(rec, topics.containerState(name), from);
    await waitForCleared(rec, stack, from);
    await waitForCleared(rec, topics.stackState("gone"), from);

    const [destroyed] = since(rec, from, topics.event("container", "destroy"));
    const [cleared] = since(rec, from, deviceTopic(topics, name));
    // Small tolerance: the event and the clear are timed by this recorder, not by the bridge.
    expect((cleared?.at ?? 0) - (destroyed?.at ?? 0)).toBeGreaterThanOrEqual(GRACE_MS - 100);
    const retained = await ourRetained(ctx.mosquittoUrl, topics);
    expect(retained.has(deviceTopic(topics, name))).toBe(false);
    expect(retained.has(topics.containerState(name))).toBe(false);
    expect(retained.has(stack)).toBe(false);
    expect(retained.has(topics.stackState("gone"))).toBe(false);
    expect(containerTopicsIn(topics, retained.keys())).toEqual(containerTopicsOf(topics, [keep]));
    expect(retained.has(hostDeviceTopic(topics))).toBe(true);
  });

  it("clears the old name's entities on a rename and announces the new name", async () => {
    const { recorder: rec, topics } = bridge;
    const oldName = "svc.old";
    const newName = "svc.new";
    const id = await docker.run({ name: oldName, cmd: ["sleep", "600"] });
    await rec.waitForState(topics.containerState(oldName), { id, running: true });
    const from = rec.messages.length;

    await docker.rename(oldName, newName);

    expect(await waitForEvent(rec, topics, "rename", newName, from)).toMatchObject({
      id,
      attributes: { oldName: expect.stringMatching(/^\/?svc\.old$/) },
    });
    await waitForCleared(rec, deviceTopic(topics, oldName), from);
    await waitForCleared(rec, topics.containerState(oldName), from);
    await rec.waitForState(topics.containerState(newName), { id, name: newName, running: true });
    const discovery = haPayload(rec.last(deviceTopic(topics, newName)));
    const deviceId = topics.containerDeviceId(newName);
    expect(discovery).toMatchObject({
      device: { identifiers: [deviceId], name: newName },
      components: { running: { unique_id: topics.uniqueId(deviceId, "running") } },
    });

    const retained = await ourRetained(ctx.mosquittoUrl, topics);
    expect(retained.has(deviceTopic(topics, oldName))).toBe(false);
    expect(retained.has(topics.containerState(oldName))).toBe(false);
    expect(retained.get(deviceTopic(topics, newName))).toBe(rec.last(deviceTopic(topics, newName)));
    expect(parse(retained.get(topics.containerState(newName)))).toMatchObject({
      id,
      name: newName,
    });
  });

  it("clears at start-up the entities of a container removed while the bridge was down", async () => {
    await docker.removeAll();
    const hostId = uniqueHostId("stale");
    const first = await startBridge(ctx, hostId);
    const { topics } = first;
    await docker.run({ name: "stale-1", cmd: ["sleep", "600"] });
    await docker.run({ name: "live-1", cmd: ["sleep", "600"] });
    await first.recorder.waitForState(topics.containerState("stale-1"), { running: true });
    await first.recorder.waitForState(topics.containerState("live-1"), { running: true });
    await first.stop();
    await docker.rm("stale-1");

    const second = await startBridge(ctx, hostId);
    try {
      await waitForCleared(second.recorder, deviceTopic(topics, "stale-1"), 0);
      await waitForCleared(second.recorder, topics.containerState("stale-1"), 0);
      await second.recorder.waitFor(
        "availability online",
        () => second.recorder.last(topics.availability()) === "online",
      );
      const retained = await ourRetained(ctx.mosquittoUrl, topics);
      expect(containerTopicsIn(topics, retained.keys())).toEqual(
        containerTopicsOf(topics, ["live-1"]),
      );
      expect(retained.get(topics.availability())).toBe("online");
    } finally {
      await second.stop();
    }
  });
});
