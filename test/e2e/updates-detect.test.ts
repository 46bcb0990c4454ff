// Image updates against a real registry (Debian's docker-registry on loopback) and the real
// engine: an image pushed and run is up to date; a different image pushed under the same tag shows
// as available within one check; an image built here (no RepoDigests) and one whose registry is
// gone are reported as not checkable, with the reason.

import { afterAll, beforeAll, expect, it } from "vitest";
import { haPayload } from "../helpers/ha-expand.js";
import {
  type BridgeUnderTest,
  deviceTopic,
  hostDeviceTopic,
  lastRetained,
  parse,
  startBridge,
  uniqueHostId,
} from "./bridge-kit.js";
import {
  commitImage,
  pushImage,
  registryAvailable,
  repoDigests,
  startRegistry,
  type TestRegistry,
  tagImage,
} from "./registry.js";
import {
  type DockerApi,
  describeE2E,
  dockerApi,
  type E2EServices,
  e2eServices,
} from "./services.js";

/** 3.6 s between checks, so "within one check" is quick to wait for. */
const INTERVAL_HOURS = 0.001;
const INTERVAL_MS = INTERVAL_HOURS * 3_600_000;

describeE2E("image updates: detection against a real registry", () => {
  let ctx: E2EServices;
  let docker: DockerApi;
  let bridge: BridgeUnderTest;
  let registry: TestRegistry;
  let gone: TestRegistry | undefined;
  let app: string;
  let pushedFirst: string;

  beforeAll(async () => {
    ctx = e2eServices();
    if (!(await registryAvailable())) {
      throw new Error("docker-registry is not installed: run scripts/install-test-deps.sh");
    }
    docker = dockerApi(ctx);
    await docker.removeAll();
    registry = await startRegistry();
    gone = await startRegistry();
    app = `${registry.host}/dmb/app`;
    await tagImage(ctx, ctx.image, app, "1");
    pushedFirst = await pushImage(ctx, app, "1");
    const lost = `${gone.host}/dmb/lost`;
    await tagImage(ctx, ctx.image, lost, "1");
    await pushImage(ctx, lost, "1");
    await gone.stop();
    gone = undefined;
    await docker.run({ name: "upd-app", image: `${app}:1`, cmd: ["sleep", "600"] });
    await docker.run({ name: "upd-lost", image: `${lost}:1`, cmd: ["sleep", "600"] });
    await commitImage(ctx, "upd-app", "dmb-test/local", "1", { built: "here" });
    await docker.run({ name: "upd-local", image: "dmb-test/local:1", cmd: ["sleep", "600"] });
    await docker.run({
      name: "upd-optout",
      image: `${app}:1`,
      cmd: ["sleep", "600"],
      labels: { "docker-mqtt-bridge.updates": "false" },
    });
    bridge = await startBridge(ctx, uniqueHostId("updates"), {
      env: { UPDATES_ENABLED: "true", UPDATES_INTERVAL_HOURS: String(INTERVAL_HOURS) },
    });
  });

  afterAll(async () => {
    await bridge?.stop();
    if (ctx && (await docker.ping())) await docker.removeAll();
    await gone?.stop();
    await registry?.stop();
  });

  const updateOf = (name: string) =>
    lastRetained(bridge.recorder, bridge.topics).get(bridge.topics.containerUpdate(name));

  async function waitForUpdate(
    name: string,
    accept: (u: Record<string, unknown>) => boolean,
    timeoutMs = 3 * INTERVAL_MS + 5_000,
  ): Promise<Record<string, unknown>> {
    await bridge.recorder.waitFor(
      `the update topic of ${name}`,
      () => {
        const payload = updateOf(name);
        return payload !== undefined && accept(parse(payload));
      },
      timeoutMs,
    );
    return parse(updateOf(name));
  }

  it("finds the pushed image up to date, by the digest it was pushed with", async () => {
    expect(pushedFirst).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await repoDigests(ctx, `${app}:1`)).toContain(`${app}@${pushedFirst}`);
    const update = await waitForUpdate("upd-app", () => true);
    expect(update).toMatchObject({
      image: `${app}:1`,
      installed: pushedFirst,
      latest: pushedFirst,
      available: false,
      reason: null,
    });
    expect(update.home_assistant).toMatchObject({
      installed_version: `1@${pushedFirst.slice(0, 19)}`,
      latest_version: `1@${pushedFirst.slice(0, 19)}`,
      in_progress: false,
    });
  });

  it("reports an image built here and one whose registry is gone as not checkable", async () => {
    const local = await waitForUpdate("upd-local", () => true);
    expect(local).toMatchObject({
      image: "dmb-test/local:1",
      available: null,
      latest: null,
      reason: "no_repo_digests",
    });
    const lost = await waitForUpdate("upd-lost", () => true);
    expect(lost).toMatchObject({ available: null, latest: null, reason: "registry_unreachable" });
    expect(lost.installed).toMatch(/^sha256:/);
  });

  it("announces an update entity on checked containers and the host's count", async () => {
    const retained = lastRetained(bridge.recorder, bridge.topics);
    const device = haPayload(retained.get(deviceTopic(bridge.topics, "upd-app")));
    const components = device.components as Record<string, Record<string, unknown>>;
    expect(components.update).toMatchObject({
      platform: "update",
      state_topic: bridge.topics.containerUpdate("upd-app"),
    });
    // Install stays off until the control feature allows it.
    expect(components.update?.command_topic).toBeUndefined();
    const optout = haPayload(retained.get(deviceTopic(bridge.topics, "upd-optout")));
    expect((optout.components as Record<string, unknown>).update).toBeUndefined();
    expect(updateOf("upd-optout")).toBeUndefined();
    const host = haPayload(retained.get(hostDeviceTopic(bridge.topics)));
    expect((host.components as Record<string, unknown>).updates_available).toBeDefined();
  });

  it("shows an update within one check after a different image is pushed under the tag", async () => {
    await commitImage(ctx, "upd-app", app, "1", { version: "2" });
    const pushedSecond = await pushImage(ctx, app, "1");
    expect(pushedSecond).not.toBe(pushedFirst);
    const pushedAt = Date.now();
    const update = await waitForUpdate("upd-app", (u) => u.available === true);
    // The next check is at most one interval away (plus the check itself).
    expect(Date.now() - pushedAt).toBeLessThan(INTERVAL_MS + 3_000);
    expect(update).toMatchObject({ installed: pushedFirst, latest: pushedSecond, available: true });
    await bridge.recorder.waitFor("the host's count of updates", () => {
      const count = lastRetained(bridge.recorder, bridge.topics).get(bridge.topics.hostUpdates());
      return count !== undefined && parse(count).available === 1;
    });
    const count = parse(
      lastRetained(bridge.recorder, bridge.topics).get(bridge.topics.hostUpdates()),
    );
    expect(count).toMatchObject({ available: 1, containers: ["upd-app"], not_checkable: 2 });
  });

  it("clears a container's update topic when it is removed", async () => {
    const from = bridge.recorder.messages.length;
    await docker.rm("upd-local");
    await bridge.recorder.waitFor(
      "the update topic of upd-local cleared",
      () =>
        bridge.recorder.messages
          .slice(from)
          .some((m) => m.topic === bridge.topics.containerUpdate("upd-local") && m.payload === ""),
      15_000,
    );
  });
});
