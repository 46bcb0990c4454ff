// The updates feature inside the running bridge (fake engine, in-process broker): the update
// entity and the host count are announced as Home Assistant accepts them, an opted-out container
// gets none, a container the engine cannot describe is reported as not checkable (and its entity
// unavailable), and its update topic is cleared when it goes.
import { afterEach, expect, it } from "vitest";
import { haComponents } from "../helpers/ha-expand.js";
import { discoveryProblems } from "../helpers/ha-rules.js";
import { type Harness, startHarness } from "../helpers/harness.js";

const PREFIX = "homeassistant";
let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

it("announces update entities Home Assistant accepts, and publishes and clears the verdicts", async () => {
  h = await startHarness({
    env: { DOCKER_HOST_ID: "nas", UPDATES_ENABLED: "true", UPDATES_INTERVAL_HOURS: "0.001" },
    before: (engine) => {
      engine.run({ name: "web", image: "nginx:1.27" });
      engine.run({
        name: "skip",
        image: "nginx:1.27",
        labels: { "docker-mqtt-bridge.updates": "false" },
      });
    },
  });
  const { recorder: rec, topics } = h;
  const web = topics.deviceDiscovery(topics.containerDeviceId("web"));
  const host = topics.deviceDiscovery(topics.hostDeviceId());
  await rec.waitFor("the update entity and the host count", () => {
    const c = haComponents(rec.last(web));
    const hc = haComponents(rec.last(host));
    return c?.update !== undefined && hc?.updates_available !== undefined;
  });
  for (const topic of [web, host, topics.deviceDiscovery(topics.containerDeviceId("skip"))]) {
    expect(discoveryProblems(PREFIX, topic, rec.last(topic) ?? ""), topic).toEqual([]);
  }
  const update = haComponents(rec.last(web)).update ?? {};
  expect(update).toMatchObject({
    platform: "update",
    state_topic: "docker/nas/containers/web/update",
    value_template: expect.stringContaining("value_json.home_assistant | to_json"),
    availability_mode: "all",
    default_entity_id: "update.web_update",
    unique_id: "dmb_nas__web_update",
  });
  // Install needs the control allowlist: not offered.
  expect(update.command_topic).toBeUndefined();
  expect(
    haComponents(rec.last(topics.deviceDiscovery(topics.containerDeviceId("skip")))).update,
  ).toBeUndefined();

  // The fake engine has no image to describe: not checkable, with the reason, never up to date.
  const verdict = await rec.waitForState(topics.containerUpdate("web"), { available: null });
  expect(verdict).toMatchObject({ image: "nginx:1.27", latest: null, reason: "image_missing" });
  expect(rec.last(topics.containerUpdate("skip"))).toBeUndefined();
  const count = await rec.waitForState(topics.hostUpdates(), { not_checkable: 1 });
  expect(count).toEqual({ available: 0, up_to_date: 0, not_checkable: 1, containers: [] });

  const from = rec.messages.length;
  h.engine.remove("web");
  await rec.waitFor("the update topic cleared", () =>
    rec.messages
      .slice(from)
      .some((m) => m.topic === topics.containerUpdate("web") && m.payload === ""),
  );
});
