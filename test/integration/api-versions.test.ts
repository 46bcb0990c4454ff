// The bridge over real sockets against engines of API 1.44 (Docker 25), 1.47 (Docker 27) and 1.52
// (Docker 29): the fake engine serves the shapes written from moby's source
// (test/fixtures/docker-engine-api-*/SOURCE.md; from 1.52 events without status/id/from, served as
// application/jsonl, and Health in the list), and Home Assistant must see what it sees with 20.10.
// Also version negotiation: the engine's version, up to the newest this bridge knows.
import { afterEach, describe, expect, it } from "vitest";
import { MAX_API_VERSION } from "../../src/docker/client.js";
import { API_PROFILES } from "../helpers/fake-engine-fixtures.js";
import { type Harness, startHarness } from "../helpers/harness.js";
import { Recorder } from "../helpers/recorder.js";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const device = (h: Harness, name: string) =>
  h.topics.deviceDiscovery(h.topics.containerDeviceId(name));

/** The API versions of the bridge's requests (versioned paths only). */
const versionsUsed = (h: Harness) =>
  new Set(h.engine.requests.map((r) => /^\/v([0-9.]+)\//.exec(r.path)?.[1]).filter(Boolean));

describe.each(API_PROFILES)("API %s", (api) => {
  it("start-up snapshot: every captured container with its state and health", async () => {
    h = await startHarness({ engine: { api, fixtureSnapshot: true } });
    const { recorder: rec, topics } = h;
    await rec.waitForState(topics.containerState("probe-healthy"), { health: "healthy" });
    const retained = await Recorder.retainedSnapshot(h.broker.url, "#");
    const state = (name: string) => JSON.parse(retained.get(topics.containerState(name)) ?? "null");
    expect(state("probe-sleeper")).toMatchObject({ status: "running", health: "none" });
    expect(state("probe-exit3")).toMatchObject({ status: "exited", exit_code: 3 });
    expect(state("probe-unhealthy")).toMatchObject({ status: "running", health: "unhealthy" });
    expect(JSON.parse(retained.get(topics.hostState()) ?? "{}")).toMatchObject({
      api_version: api,
    });
    expect(versionsUsed(h)).toEqual(new Set([api]));
  });

  it("follows stop, start, health, exit, rename and removal in this API's event shape", async () => {
    h = await startHarness({ engine: { api } });
    const { recorder: rec, topics, engine } = h;
    const stream = await engine.waitForEventStream();
    expect(stream.url).toContain(`/v${api}/events`);
    engine.run({ name: "api", healthcheck: true });
    await rec.waitForState(topics.containerState("api"), { status: "running", health: "starting" });
    engine.setHealth("api", "healthy");
    await rec.waitForState(topics.containerState("api"), { health: "healthy" });
    engine.stop("api");
    await rec.waitForState(topics.containerState("api"), { status: "exited", running: false });
    engine.start("api");
    await rec.waitForState(topics.containerState("api"), { status: "running" });
    engine.setHealth("api", "unhealthy");
    await rec.waitForState(topics.containerState("api"), { health: "unhealthy" });
    engine.die("api", 3);
    await rec.waitForState(topics.containerState("api"), { status: "exited", exit_code: 3 });
    engine.rename("api", "api2");
    await rec.waitForState(topics.containerState("api2"), { name: "api2", exit_code: 3 });
    await rec.waitFor(
      "api's discovery cleared",
      () => rec.last(device(h as Harness, "api")) === "",
    );
    engine.remove("api2");
    await rec.waitFor(
      "api2's discovery cleared",
      () => rec.last(device(h as Harness, "api2")) === "",
    );
    // What went over the wire was this API's shape.
    const died = engine.history.find((e) => e.Action === "die");
    if (api === "1.52") expect(died && "status" in died).toBe(false);
    else expect(died?.status).toBe("die");
  });
});

describe("version negotiation", () => {
  it.each([
    ["1.41", "1.41"],
    ["1.47", "1.47"],
    ["1.55", MAX_API_VERSION],
  ])("an engine serving up to %s is spoken to in %s", async (served, used) => {
    h = await startHarness({
      engine: { api: "1.52", apiVersion: served, minApiVersion: "1.24" },
      before: (engine) => engine.seed([{ name: "web" }]),
    });
    await h.recorder.waitForState(h.topics.containerState("web"), { running: true });
    expect(versionsUsed(h)).toEqual(new Set([used]));
  });

  it("the newest version the bridge knows is 1.52 (the newest API it has fixtures of)", () => {
    expect(MAX_API_VERSION).toBe("1.52");
    expect(API_PROFILES.at(-1)).toBe(MAX_API_VERSION);
  });
});
