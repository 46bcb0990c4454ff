// Scenario 4: a Compose-style recreate (same name and labels, within the removal grace) keeps the
// Home Assistant device and entities: no removal is ever published, and Compose v2's temporary
// `<id12>_<name>` never shows up as a device.

import { afterAll, beforeAll, expect, it } from "vitest";
import { haPayload } from "../helpers/ha-expand.js";
import {
  type BridgeUnderTest,
  containerTopicsOf,
  deviceTopic,
  isOurs,
  ourRetained,
  parse,
  startBridge,
  uniqueHostId,
  waitForCleared,
} from "./bridge-kit.js";
import {
  type DockerApi,
  describeE2E,
  dockerApi,
  type E2EServices,
  e2eServices,
} from "./services.js";

const compose = (service: string) => ({
  "com.docker.compose.project": "rc",
  "com.docker.compose.service": service,
  "com.docker.compose.container-number": "1",
});

describeE2E("bridge keeps entities across a Compose recreate", () => {
  let ctx: E2EServices;
  let docker: DockerApi;
  let bridge: BridgeUnderTest;

  beforeAll(async () => {
    ctx = e2eServices();
    docker = dockerApi(ctx);
    await docker.removeAll();
    bridge = await startBridge(ctx, uniqueHostId("recreate"), {
      env: { REMOVAL_GRACE_SECONDS: "1.5" },
    });
  });

  afterAll(async () => {
    await bridge?.stop();
    if (ctx && (await docker.ping())) await docker.removeAll();
  });

  const uniqueIds = (payload: string | undefined) =>
    Object.values(haPayload(payload).components as Record<string, { unique_id: string }>).map(
      (c) => c.unique_id,
    );

  /**
   * Removes a bystander container right after the recreate and waits for its removal: its grace
   * timer started last, so by then every earlier grace timer has fired too.
   */
  async function waitPastGrace(bystander: string, from: number): Promise<void> {
    const { recorder: rec, topics } = bridge;
    await docker.rm(bystander);
    await waitForCleared(rec, deviceTopic(topics, bystander), from);
    await waitForCleared(rec, topics.containerState(bystander), from);
  }

  /** Since `from`, no empty payload on any topic of ours (container, stack, host) but the bystander's. */
  function expectNoRemoval(bystander: string, from: number): void {
    const { recorder: rec, topics } = bridge;
    const cleared = rec.messages
      .slice(from)
      .filter((m) => m.payload === "" && isOurs(topics, m.topic))
      .map((m) => m.topic);
    expect(cleared.sort()).toEqual(containerTopicsOf(topics, [bystander]));
  }

  it("keeps the device when a container is removed and created again under its name", async () => {
    const { recorder: rec, topics } = bridge;
    const name = "rc-web-1";
    const bystander = "rc-bystander-1";
    const oldId = await docker.run({ name, cmd: ["sleep", "600"], labels: compose("web") });
    await docker.run({ name: bystander, cmd: ["sleep", "600"] });
    await rec.waitForState(topics.containerState(name), { id: oldId, running: true });
    await rec.waitForState(topics.containerState(bystander), { running: true });
    const before = rec.last(deviceTopic(topics, name));
    const from = rec.messages.length;

    await docker.rm(name);
    const newId = await docker.run({ name, cmd: ["sleep", "600"], labels: compose("web") });
    await waitPastGrace(bystander, from);

    expect(rec.lastJson(topics.containerState(name))).toMatchObject({
      id: newId,
      running: true,
      compose_project: "rc",
      compose_service: "web",
    });
    expectNoRemoval(bystander, from);
    expect(uniqueIds(rec.last(deviceTopic(topics, name)))).toEqual(uniqueIds(before));
    const retained = await ourRetained(ctx.mosquittoUrl, topics);
    expect(parse(retained.get(topics.containerState(name)))).toMatchObject({ id: newId });
    expect(retained.get(deviceTopic(topics, name))).toBe(before);
  });

  it("ignores Compose v2's rename to <id12>_<name> and keeps the device", async () => {
    const { recorder: rec, topics } = bridge;
    const name = "rc-api-1";
    const bystander = "rc-bystander-2";
    const oldId = await docker.run({ name, cmd: ["sleep", "600"], labels: compose("api") });
    await docker.run({ name: bystander, cmd: ["sleep", "600"] });
    await rec.waitForState(topics.containerState(name), { id: oldId, running: true });
    await rec.waitForState(topics.containerState(bystander), { running: true });
    const before = rec.last(deviceTopic(topics, name));
    const temp = `${oldId.slice(0, 12)}_${name}`;
    const from = rec.messages.length;

    // What `docker compose up` does to a service whose configuration changed.
    await docker.stop(name, 0);
    await docker.rename(name, temp);
    const newId = await docker.create({ name, cmd: ["sleep", "600"], labels: compose("api") });
    await docker.start(newId);
    await docker.rm(temp);
    await rec.waitForState(topics.containerState(name), { id: newId, running: true });
    await waitPastGrace(bystander, from);

    const tempTopics = [deviceTopic(topics, temp), topics.containerState(temp)];
    expect(rec.messages.filter((m) => tempTopics.includes(m.topic))).toEqual([]);
    expectNoRemoval(bystander, from);
    expect(uniqueIds(rec.last(deviceTopic(topics, name)))).toEqual(uniqueIds(before));
    const retained = await ourRetained(ctx.mosquittoUrl, topics);
    expect(parse(retained.get(topics.containerState(name)))).toMatchObject({
      id: newId,
      running: true,
    });
    expect(retained.get(deviceTopic(topics, name))).toBe(before);
  });
});
