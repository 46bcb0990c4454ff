// The bridge end to end over real sockets: fake engine (the 20.10 captures) -> bridge -> aedes,
// asserted as Home Assistant and an automation subscribed to the broker would see it.
import { afterEach, describe, expect, it } from "vitest";
import { haComponents, haPayload } from "../helpers/ha-expand.js";
import { type Harness, startHarness } from "../helpers/harness.js";
import { Recorder } from "../helpers/recorder.js";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const device = (h: Harness, name: string) =>
  h.topics.deviceDiscovery(h.topics.containerDeviceId(name));

describe("start-up", () => {
  it("publishes retained discovery and state for every captured container", async () => {
    h = await startHarness({ engine: { fixtureSnapshot: true } });
    const { recorder: rec, topics } = h;
    await rec.waitForState(topics.containerState("probe-healthy"), { health: "healthy" });
    await rec.waitFor("availability online", () => rec.last(topics.availability()) === "online");

    const retained = await Recorder.retainedSnapshot(h.broker.url, "#");
    const state = (name: string) => JSON.parse(retained.get(topics.containerState(name)) ?? "null");
    expect(state("probe-sleeper")).toMatchObject({
      name: "probe-sleeper",
      status: "running",
      running: true,
      health: "none",
    });
    expect(state("probe-exit3")).toMatchObject({ status: "exited", running: false, exit_code: 3 });
    expect(state("probe-healthy")).toMatchObject({ status: "running", health: "healthy" });
    expect(state("probe-unhealthy")).toMatchObject({ status: "running", health: "unhealthy" });

    const healthy = haPayload(retained.get(device(h, "probe-healthy")));
    expect(Object.keys(haComponents(healthy))).toEqual([
      "running",
      "health",
      "status",
      "started",
      "exit_code",
      "restart_count",
      "image",
      "oom_killed",
      "events",
    ]);
    expect(healthy.device).toEqual({
      identifiers: ["dmb_test__probe-healthy"],
      name: "probe-healthy",
      manufacturer: "Docker",
      model: "probe/busybox:1",
      via_device: "dmb_test",
    });
    const sleeper = haPayload(retained.get(device(h, "probe-sleeper")));
    expect(Object.keys(haComponents(sleeper))).not.toContain("health");
    expect(Object.keys(haComponents(sleeper))).toContain("running");
    expect(
      haComponents(retained.get(topics.deviceDiscovery(topics.hostDeviceId()))).engine,
    ).toMatchObject({ device_class: "connectivity" });
    expect(retained.get(topics.availability())).toBe("online");
  });

  it("sends at most two messages per container, and none while nothing happens", async () => {
    h = await startHarness({ engine: { fixtureSnapshot: true } });
    const { recorder: rec, topics, engine } = h;
    await rec.waitForState(topics.containerState("probe-unhealthy"), { health: "unhealthy" });
    // Healthcheck probes: three exec events each, and no MQTT traffic at all.
    for (let i = 0; i < 5; i++) engine.healthProbe("probe-healthy");
    engine.exec("probe-sleeper", "sh -c date");
    await rec.waitFor(
      "the user's exec event",
      () => rec.on(topics.event("container", "exec_die")).length === 1,
    );
    const perContainer = rec.messages.filter((m) => m.topic.includes("probe-healthy"));
    expect(perContainer.map((m) => m.topic)).toEqual([
      device(h, "probe-healthy"),
      topics.containerState("probe-healthy"),
    ]);
    expect(
      rec.on(topics.event("container", "exec_create")).map((m) => JSON.parse(m.payload).name),
    ).toEqual(["probe-sleeper"]);
  });

  it("an exec that began before the bridge listened: a probe's exec_die is not published, a user's is", async () => {
    const begun: Record<string, string> = {};
    h = await startHarness({
      before: (engine) => {
        engine.seed([{ name: "api", healthcheck: true }]);
        // Both began before the bridge subscribed: only their exec_die reaches it.
        begun.probe = engine.probeBegin("api");
        begun.user = engine.execBegin("api", "sh -c backup.sh");
      },
    });
    const { recorder: rec, topics, engine } = h;
    await rec.waitForState(topics.containerState("api"), { health: "healthy" });
    engine.execEnd(begun.probe ?? "", 0);
    engine.execEnd(begun.user ?? "", 0);
    engine.exec("api", "sh -c date"); // a marker after both
    await rec.waitFor(
      "the marker's exec_die",
      () =>
        rec.on(topics.event("container", "exec_die")).some((m) => m.payload.includes("exec_die")) &&
        rec.on(topics.event("container", "exec_create")).length === 1,
    );
    await new Promise((r) => setTimeout(r, 200));
    const dies = rec.on(topics.event("container", "exec_die")).map((m) => JSON.parse(m.payload));
    expect(dies.map((d) => d.attributes.execID)).toContain(begun.user);
    expect(dies.map((d) => d.attributes.execID)).not.toContain(begun.probe);
    expect(dies).toHaveLength(2);
    const asked = engine.requests.filter((r) => r.path.includes("/exec/"));
    expect(asked.map((r) => r.path.replace(/^\/v[0-9.]+/, ""))).toEqual([
      `/exec/${begun.probe}/json`,
      `/exec/${begun.user}/json`,
    ]);
  });
});

describe("changes", () => {
  it("follows health and exit codes within the stream", async () => {
    h = await startHarness();
    const { recorder: rec, topics, engine } = h;
    await engine.waitForEventStream();
    engine.run({ name: "api", healthcheck: true });
    await rec.waitForState(topics.containerState("api"), { status: "running", health: "starting" });
    engine.setHealth("api", "healthy");
    await rec.waitForState(topics.containerState("api"), { health: "healthy" });
    engine.setHealth("api", "unhealthy");
    await rec.waitForState(topics.containerState("api"), { health: "unhealthy" });
    engine.die("api", 3);
    const state = await rec.waitForState(topics.containerState("api"), {
      status: "exited",
      exit_code: 3,
    });
    expect(state.running).toBe(false);
    const die = rec.on(topics.event("container", "die")).map((m) => JSON.parse(m.payload));
    expect(die).toMatchObject([
      { type: "container", action: "die", name: "api", attributes: { exitCode: "3" } },
    ]);
    const health = rec
      .on(topics.event("container", "health_status"))
      .map((m) => JSON.parse(m.payload).detail);
    expect(health).toEqual(["healthy", "unhealthy"]);
  });

  it("removes a destroyed container's entities after the grace period", async () => {
    h = await startHarness();
    const { recorder: rec, topics, engine } = h;
    await engine.waitForEventStream();
    engine.run({ name: "gone" });
    await rec.waitForState(topics.containerState("gone"), { running: true });
    engine.stop("gone");
    engine.remove("gone");
    await rec.waitFor("discovery cleared", () => rec.last(device(h as Harness, "gone")) === "");
    await rec.waitFor("state cleared", () => rec.last(topics.containerState("gone")) === "");
    const retained = await Recorder.retainedSnapshot(h.broker.url, "#");
    expect([...retained.keys()].filter((t) => t.includes("gone"))).toEqual([]);
  });

  it("keeps the device when Compose recreates a container within the grace period", async () => {
    h = await startHarness({ env: { REMOVAL_GRACE_SECONDS: "30" } });
    const { recorder: rec, topics, engine } = h;
    await engine.waitForEventStream();
    const labels = { "com.docker.compose.project": "stack", "com.docker.compose.service": "web" };
    const oldId = engine.run({ name: "stack-web-1", labels });
    await rec.waitForState(topics.containerState("stack-web-1"), {
      id: oldId,
      compose_project: "stack",
    });
    const discoveryBefore = rec.last(device(h, "stack-web-1"));
    // Compose v2: stop, rename the old one out of the way, create the new one, remove the old.
    engine.stop("stack-web-1");
    engine.rename("stack-web-1", `${oldId.slice(0, 12)}_stack-web-1`);
    const newId = engine.run({ name: "stack-web-1", labels });
    engine.remove(`${oldId.slice(0, 12)}_stack-web-1`);
    await rec.waitForState(topics.containerState("stack-web-1"), { id: newId, running: true });
    expect(rec.messages.filter((m) => m.payload === "")).toEqual([]);
    expect(rec.messages.filter((m) => m.topic.includes(oldId.slice(0, 12)))).toEqual([]);
    expect(rec.last(device(h, "stack-web-1"))).toBe(discoveryBefore);
  });

  it("moves a renamed container's entities to the new name", async () => {
    h = await startHarness();
    const { recorder: rec, topics, engine } = h;
    await engine.waitForEventStream();
    engine.run({ name: "before" });
    await rec.waitForState(topics.containerState("before"), { running: true });
    engine.rename("before", "after");
    await rec.waitForState(topics.containerState("after"), { name: "after", running: true });
    await rec.waitFor(
      "old discovery cleared",
      () => rec.last(device(h as Harness, "before")) === "",
    );
    expect(rec.last(topics.containerState("before"))).toBe("");
  });
});

describe("Home Assistant and lifecycle", () => {
  it("republishes discovery, then states, when Home Assistant comes online", async () => {
    h = await startHarness({ engine: { fixtureSnapshot: true } });
    const { recorder: rec, topics } = h;
    await rec.waitForState(topics.containerState("probe-unhealthy"), { health: "unhealthy" });
    await h.service.publisher.drain(2000);
    rec.clear();
    await rec.publish("homeassistant/status", "online");
    await rec.waitFor(
      "all states again",
      () => rec.messages.filter((m) => m.topic.endsWith("/state")).length === 5,
    );
    const kinds = rec.messages
      .filter((m) => m.topic !== "homeassistant/status")
      .map((m) =>
        m.topic === topics.availability()
          ? "availability"
          : m.topic.startsWith("homeassistant/")
            ? "discovery"
            : "state",
      );
    // The host and four containers: availability, then every discovery config, then every state
    // (four containers and the host's counts).
    expect(kinds).toEqual([
      "availability",
      ...Array(5).fill("discovery"),
      ...Array(5).fill("state"),
    ]);
  });

  it("leaves availability offline when the bridge stops", async () => {
    h = await startHarness({ engine: { fixtureSnapshot: true } });
    const { recorder: rec, topics } = h;
    await rec.waitFor("online", () => rec.last(topics.availability()) === "online");
    await h.stopBridge();
    await rec.waitFor("offline", () => rec.last(topics.availability()) === "offline");
    const retained = await Recorder.retainedSnapshot(h.broker.url, topics.availability());
    expect(retained.get(topics.availability())).toBe("offline");
  });

  it("clears retained discovery it published earlier for containers that no longer exist", async () => {
    h = await startHarness({ engine: { fixtureSnapshot: true } });
    const { recorder: rec, topics, engine } = h;
    await rec.waitForState(topics.containerState("probe-exit3"), { exit_code: 3 });
    await h.stopBridge();
    // While the bridge is away, a container disappears without an event it could see.
    engine.seed([{ name: "probe-sleeper" }]);
    const foreign = "homeassistant/device/someone_else/config";
    await rec.publish(
      foreign,
      JSON.stringify({ device: { identifiers: ["x"] }, origin: { name: "other" } }),
      true,
    );
    rec.clear();
    await h.restartBridge();
    await rec.waitFor(
      "stale discovery cleared",
      () => rec.last(device(h as Harness, "probe-exit3")) === "",
    );
    await rec.waitFor(
      "stale state cleared",
      () => rec.last(topics.containerState("probe-exit3")) === "",
    );
    const retained = await Recorder.retainedSnapshot(h.broker.url, "#");
    expect(retained.has(device(h, "probe-sleeper"))).toBe(true);
    expect(retained.has(foreign)).toBe(true);
    expect([...retained.keys()].filter((t) => t.includes("probe-exit3"))).toEqual([]);
  });
});

describe("engine connection", () => {
  it("reconnects after a cut stream, resumes with since, and ends in the right state", async () => {
    h = await startHarness();
    const { recorder: rec, topics, engine } = h;
    await engine.waitForEventStream();
    engine.run({ name: "worker" });
    await rec.waitForState(topics.containerState("worker"), { running: true });
    await engine.cutStreams({ midLine: true });
    engine.die("worker", 7);
    const stream = await engine.waitForEventStream();
    expect(stream.since).toMatch(/^\d+\.\d{9}$/);
    await rec.waitForState(topics.containerState("worker"), { status: "exited", exit_code: 7 });
  });

  it("ends in the right state after a gap longer than the engine's 256-event replay buffer", async () => {
    h = await startHarness();
    const { recorder: rec, topics, engine } = h;
    await engine.waitForEventStream();
    engine.run({ name: "early" });
    engine.run({ name: "noisy" });
    await rec.waitForState(topics.containerState("noisy"), { running: true });
    engine.stall();
    engine.die("early", 1);
    // 300 execs are 900 events: the die above falls out of the engine's replay buffer.
    for (let i = 0; i < 300; i++) engine.exec("noisy", `echo ${i}`);
    engine.run({ name: "late" });
    await engine.cutStreams();
    engine.resume({ drop: true });
    await rec.waitForState(topics.containerState("late"), { running: true });
    await rec.waitForState(topics.containerState("early"), { status: "exited", exit_code: 1 });
  });
});
