// Engine faults: whatever the connection to the engine does (cut, stalled, failing, refused, a
// different engine, a gap, duplicates, stale events), what the broker holds ends up being the truth,
// and the bridge never asks the engine for anything but reads.
import { afterEach, describe, expect, it } from "vitest";
import type { FakeEngine } from "../helpers/fake-engine.js";
import { formatEventTime, serializeEvent } from "../helpers/fake-engine-events.js";
import { type Harness, startHarness } from "../helpers/harness.js";
import { Recorder } from "../helpers/recorder.js";
import { type Kit, startKit, waitUntil } from "../helpers/resilience-kit.js";
import {
  deviceTopic as device,
  eventsOf,
  lastEvent,
  runAndWait,
  seedFailing,
  topicsOf,
} from "../helpers/resilience-views.js";

let h: Harness | Kit | undefined;
/** Registers the set-up for clean-up after the test. */
function use<T extends Harness | Kit>(x: T): T {
  h = x;
  return x;
}
afterEach(async () => {
  const engine = h?.engine;
  await h?.close();
  h = undefined;
  // Read-only toward Docker, whatever the scenario was.
  const writes = engine?.requests.filter((r) => r.method !== "GET" && r.method !== "HEAD");
  expect(writes ?? []).toEqual([]);
});

describe("event stream faults", () => {
  it("drops the partial line of a stream cut mid-line and resumes from the last event, losing and repeating none", async () => {
    const k = use(await startKit());
    const { recorder: rec, topics, engine } = k;
    await runAndWait(k, "worker");
    const lastSeen = lastEvent(engine, "worker", "start");
    await engine.cutStreams({ midLine: true });
    engine.die("worker", 7);
    engine.run({ name: "newbie" });
    const stream = await engine.waitForEventStream();
    expect(stream.since).toBe(formatEventTime(lastSeen.timeNano));
    await rec.waitForState(topics.containerState("worker"), { status: "exited", exit_code: 7 });
    await rec.waitForState(topics.containerState("newbie"), { running: true });
    // The half line (a die of a container named "cut") was neither applied nor counted as garbage.
    expect(topicsOf(k, "cut")).toEqual([]);
    expect(k.service.watcher.stats.eventsInvalid).toBe(0);
    expect(k.logs.find(/cut mid-line/)[0]?.bytes).toBeGreaterThan(0);
    await rec.waitFor("newbie's start event", () => eventsOf(k, "start", "newbie").length === 1);
    // The engine replays `since` inclusively: the start seen before the cut must not go out twice.
    expect(eventsOf(k, "start", "worker")).toHaveLength(1);
    expect(eventsOf(k, "die", "worker")).toHaveLength(1);
  });

  it("notices a silent stream while the engine has newer events (watchdog replay query) and catches up", async () => {
    const x = use(await startHarness({ service: { watchdogMs: 200 } }));
    const { recorder: rec, topics, engine } = x;
    await runAndWait(x, "svc");
    // The engine drops what it could not deliver to a stalled subscriber; the stream stays open.
    engine.stall();
    engine.die("svc", 3);
    engine.resume({ drop: true });
    await rec.waitForState(topics.containerState("svc"), { status: "exited", exit_code: 3 });
    expect(x.service.watcher.stats.reconnects).toBe(1);
  });

  it("notices a silent stream before any event was ever seen (a quiet engine) and catches up", async () => {
    const x = use(
      await startHarness({
        service: { watchdogMs: 200 },
        before: (engine) => engine.seed([{ name: "svc", state: "running" }]),
      }),
    );
    const { recorder: rec, topics, engine } = x;
    await rec.waitForState(topics.containerState("svc"), { running: true });
    await engine.waitForEventStream({ count: 1 });
    // Not one event so far: the stream goes silent (half-open), and the engine has news.
    engine.stall();
    engine.die("svc", 3);
    engine.resume({ drop: true });
    await rec.waitForState(topics.containerState("svc"), { status: "exited", exit_code: 3 });
  });

  it("does not flap availability while the engine answers /info but its container list fails", async () => {
    const x = use(await startHarness());
    const { recorder: rec, topics, engine } = x;
    await runAndWait(x, "svc");
    const from = rec.on(topics.availability()).length;
    const { stats } = x.service.watcher;
    const reconnects = stats.reconnects;
    engine.failNext("/containers/json", 500, 4);
    await engine.cutStreams();
    await waitUntil(
      "following again",
      () => stats.reconnects > reconnects && x.service.watcher.connected,
      15_000,
    );
    await rec.waitForState(topics.containerState("svc"), { running: true });
    // The state topic may already have held that; availability says when the bridge is back.
    await rec.waitFor("online again", () => rec.last(topics.availability()) === "online");
    const after = rec
      .on(topics.availability())
      .slice(from)
      .map((m) => m.payload);
    // Offline once while no snapshot can be taken, online once it can: never back and forth.
    expect(after.join(",")).toMatch(/^(offline,online)?$/);
  });

  it("keeps a quiet, healthy stream (the replay query finds nothing, and ends by itself) and stops promptly", async () => {
    const x = use(await startHarness({ service: { watchdogMs: 200 } }));
    const { engine, service } = x;
    await runAndWait(x, "svc");
    // Replay queries ask up to the engine's clock, so each answer ends by itself.
    const queries = () => engine.eventStreams.filter((s) => s.until != null);
    await waitUntil("a replay query", () => queries().length >= 1, 2000);
    await waitUntil("the query ended", () => engine.openEventStreams === 1, 2000);
    expect(queries()[0]?.since).not.toBeNull();
    expect(service.watcher.stats.reconnects).toBe(0);
    await waitUntil("the next replay query", () => queries().length >= 2, 2000);
    expect(service.watcher.stats.reconnects).toBe(0);
    const t0 = Date.now();
    await x.stopBridge();
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it("reconnects when /_ping hangs and the stream is stalled, and shows the engine offline meanwhile", async () => {
    const x = use(await startHarness({ service: { watchdogMs: 200 } }));
    const { recorder: rec, topics, engine } = x;
    await runAndWait(x, "svc");
    engine.stall();
    engine.pingStall = true;
    engine.die("svc", 3);
    await rec.waitFor("offline", () => rec.last(topics.availability()) === "offline");
    engine.resume({ drop: true });
    engine.pingStall = false;
    await rec.waitFor("online again", () => rec.last(topics.availability()) === "online");
    await rec.waitForState(topics.containerState("svc"), { status: "exited", exit_code: 3 });
  });

  it("retries 500s from /containers/json and /events with growing delays, then publishes the truth", async () => {
    const k = use(
      await startKit({
        before: (engine) => {
          engine.seed([{ name: "alpha" }, { name: "bravo", state: "exited", exitCode: 1 }]);
          engine.failNext("/containers/json", 500, 3);
        },
      }),
    );
    const { recorder: rec, topics, engine, logs } = k;
    await rec.waitForState(topics.containerState("alpha"), { running: true });
    await rec.waitForState(topics.containerState("bravo"), { status: "exited", exit_code: 1 });
    expect(engine.requests.filter((r) => r.path.includes("/containers/json"))).toHaveLength(4);
    const retries = logs.find(/engine lost; reconnecting/);
    expect(retries.map((l) => l.attempt)).toEqual([1, 2, 3]);
    // Capped exponential backoff with jitter, from reconnectBaseMs = 50: 25-50, 50-100, 100-200.
    retries.forEach((l, i) => {
      expect(l.reason).toMatch(/500/);
      expect(l.retryInMs).toBeGreaterThanOrEqual(25 * 2 ** i);
      expect(l.retryInMs).toBeLessThanOrEqual(50 * 2 ** i);
    });

    engine.failNext("/events", 500, 2);
    await engine.cutStreams();
    engine.die("alpha", 9);
    await rec.waitForState(topics.containerState("alpha"), { status: "exited", exit_code: 9 });
    // One stream before, two answered 500, one after.
    expect(engine.requests.filter((r) => r.path.includes("/events")).length).toBeGreaterThan(3);
  });

  it("publishes the events of an outage that began before any event was seen", async () => {
    const x = use(await startHarness({ before: (engine) => engine.seed([{ name: "quiet" }]) }));
    const { recorder: rec, topics, engine } = x;
    await rec.waitForState(topics.containerState("quiet"), { running: true });
    await engine.waitForEventStream({ count: 1 });
    await engine.cutStreams();
    engine.die("quiet", 9);
    const stream = await engine.waitForEventStream();
    await rec.waitForState(topics.containerState("quiet"), { status: "exited", exit_code: 9 });
    // Resuming without `since` silently skips what happened during the outage.
    expect(stream.since).not.toBeNull();
    await rec.waitFor("the die event", () => eventsOf(x, "die", "quiet").length === 1, 2000);
  });

  it("goes offline while the engine refuses connections, and online with the right state after", async () => {
    const env = { REMOVAL_GRACE_SECONDS: "0.3", DOCKER_RECONNECT_MAX_SECONDS: "0.4" };
    const x = use(await startHarness({ env }));
    const { recorder: rec, topics, engine } = x;
    await runAndWait(x, "alpha", "bravo");
    await engine.refuseConnections(true);
    await engine.cutStreams();
    await rec.waitFor("offline", () => rec.last(topics.availability()) === "offline");
    engine.die("alpha", 2);
    engine.remove("bravo");
    engine.run({ name: "charlie" });
    await engine.refuseConnections(false);
    await rec.waitFor("online", () => rec.last(topics.availability()) === "online");
    await rec.waitForState(topics.containerState("alpha"), { status: "exited", exit_code: 2 });
    await rec.waitForState(topics.containerState("charlie"), { running: true });
    await rec.waitFor("bravo cleared", () => rec.last(topics.containerState("bravo")) === "");
    expect(rec.last(device(x, "bravo"))).toBe("");
  });

  it("replaces the old engine's containers with the new ones when a different engine answers", async () => {
    const k = use(await startKit({ env: { REMOVAL_GRACE_SECONDS: "0.3" } }));
    const { recorder: rec, topics, engine } = k;
    await runAndWait(k, "old1", "old2");
    // A real other engine never replays this one's events: make the last one seen harmless, since
    // the fake keeps one replay buffer across identities.
    engine.emitEvent({ Type: "image", Action: "pull", Actor: { ID: "busybox:1" } });
    await rec.waitFor("pull", () => rec.on(topics.event("image", "pull")).length > 0);
    engine.setIdentity({ id: "NEW0:ENGI:NEID:ENTI:TY00:0000:0000:0000:0000:0000:0000:0000" });
    engine.seed([{ name: "new1" }, { name: "new2", state: "exited", exitCode: 4 }]);
    await engine.cutStreams();
    await rec.waitForState(topics.containerState("new1"), { running: true });
    await rec.waitForState(topics.containerState("new2"), { status: "exited", exit_code: 4 });
    await rec.waitFor("old1 cleared", () => rec.last(topics.containerState("old1")) === "");
    await rec.waitFor("old2 cleared", () => rec.last(device(k, "old2")) === "");
    expect(k.logs.find(/different engine answered/)).toHaveLength(1);
    const retained = await Recorder.retainedSnapshot(k.broker.url, "#");
    expect([...retained.keys()].filter((t) => /old[12]/.test(t))).toEqual([]);
    expect(retained.has(device(k, "new1"))).toBe(true);
  });
});

describe("gaps longer than the engine's 256-event replay buffer", () => {
  /** Loses everything from `during` on, then reconnects: the replay cannot bring it back. */
  async function gap(engine: FakeEngine, during: () => void): Promise<void> {
    engine.stall();
    during();
    // 300 execs are 900 events: what `during` did falls out of the engine's replay buffer.
    for (let i = 0; i < 300; i++) engine.exec("noisy", `echo ${i}`);
    engine.run({ name: "late" });
    await engine.cutStreams();
    engine.resume({ drop: true });
  }

  it("never shows a container created and destroyed within the gap", async () => {
    const x = use(await startHarness());
    await runAndWait(x, "noisy");
    await gap(x.engine, () => {
      x.engine.run({ name: "ephemeral" });
      x.engine.remove("ephemeral");
    });
    await x.recorder.waitForState(x.topics.containerState("late"), { running: true });
    expect(await x.service.publisher.drain(2000)).toBe(true);
    expect(topicsOf(x, "ephemeral")).toEqual([]);
    expect(eventsOf(x, "create", "ephemeral")).toEqual([]);
  });

  it("removes a container destroyed within the gap after the grace period", async () => {
    const x = use(await startHarness({ env: { REMOVAL_GRACE_SECONDS: "0.3" } }));
    const { recorder: rec, topics } = x;
    await runAndWait(x, "noisy", "victim");
    await gap(x.engine, () => x.engine.remove("victim"));
    await rec.waitForState(topics.containerState("late"), { running: true });
    await rec.waitFor("victim cleared", () => rec.last(topics.containerState("victim")) === "");
    await rec.waitFor("victim's device cleared", () => rec.last(device(x, "victim")) === "");
    const retained = await Recorder.retainedSnapshot(x.broker.url, "#");
    expect([...retained.keys()].filter((t) => t.includes("victim"))).toEqual([]);
  });
});

describe("what the engine answers about containers", () => {
  it("does not announce a container that vanished between list and inspect", async () => {
    const before = seedFailing([{ name: "ghost" }, { name: "solid" }], ["ghost"], 404);
    const k = use(await startKit({ before }));
    await k.recorder.waitForState(k.topics.containerState("solid"), { running: true });
    expect(await k.service.publisher.drain(2000)).toBe(true);
    expect(topicsOf(k, "ghost")).toEqual([]);
    expect(k.logs.find(/inspect failed/)).toEqual([]);
    await runAndWait(k, "later"); // and the bridge carries on
  });

  it("announces from the list entry when inspect fails at start-up", async () => {
    const seed = [
      { name: "stopped", state: "exited", exitCode: 2 } as const,
      { name: "sick", healthcheck: true, health: "unhealthy" } as const,
    ];
    const k = use(await startKit({ before: seedFailing(seed, ["stopped", "sick"], 500) }));
    const { recorder: rec, topics } = k;
    const stopped = { status: "exited", running: false, exit_code: 2 };
    await rec.waitForState(topics.containerState("stopped"), stopped);
    await rec.waitForState(topics.containerState("sick"), { running: true, health: "unhealthy" });
    await rec.waitFor(
      "both devices",
      () => topicsOf(k, "stopped").length + topicsOf(k, "sick").length === 4,
    );
    expect(k.logs.find(/inspect failed; using the list entry/)).toHaveLength(2);
  });

  it("inspects and announces a container first heard of through an event", async () => {
    const x = use(await startHarness());
    const { recorder: rec, topics, engine } = x;
    await engine.waitForEventStream();
    // Appears without any event the bridge saw; then a signal is sent to it.
    engine.seed([{ name: "stranger", image: "nginx:1", healthcheck: true, health: "healthy" }]);
    engine.kill("stranger", "HUP", { survive: true });
    const expected = { status: "running", running: true, health: "healthy", image: "nginx:1" };
    await rec.waitForState(topics.containerState("stranger"), expected);
    const id = engine.container("stranger")?.id ?? "";
    expect(engine.requests.some((r) => r.path.endsWith(`/containers/${id}/json`))).toBe(true);
    await rec.waitFor("its device", () => !!rec.last(device(x, "stranger")));
  });

  it("publishes every event of a container created while it runs, before its inspect answers", async () => {
    const x = use(await startHarness());
    const { recorder: rec, topics } = x;
    await runAndWait(x, "fresh");
    const actions = () => rec.on(topics.containerEvents("fresh")).map((m) => m.payload);
    await rec.waitFor(
      "its create and start events",
      () => eventsOf(x, "start", "fresh").length === 1,
      2000,
    );
    expect(eventsOf(x, "create", "fresh")).toHaveLength(1);
    await rec.waitFor(
      "its event entity fired for create and start",
      () => actions().length === 2,
      2000,
    );
  });

  it("applies a duplicated event line once", async () => {
    const x = use(await startHarness());
    const { recorder: rec, topics, engine } = x;
    await runAndWait(x, "dup");
    engine.die("dup", 4);
    const line = serializeEvent(lastEvent(engine, "dup", "die"));
    engine.emitRaw(line);
    engine.emitRaw(line);
    engine.run({ name: "marker" });
    await rec.waitFor("marker's create event", () => eventsOf(x, "create", "marker").length === 1);
    const states = rec.on(topics.containerState("dup")).map((m) => JSON.parse(m.payload));
    expect(states.filter((s) => s.running === false)).toHaveLength(1);
    // Home Assistant's event entity fires once per real event.
    const fired = rec.on(topics.containerEvents("dup")).map((m) => JSON.parse(m.payload));
    expect(fired.filter((e) => e.event_type === "die")).toHaveLength(1);
  });

  it("ignores a stale die of the previous container of that name arriving after a reconnect", async () => {
    const x = use(await startHarness());
    const { recorder: rec, topics, engine } = x;
    await runAndWait(x, "svc");
    await engine.cutStreams();
    engine.remove("svc");
    const newId = engine.run({ name: "svc" });
    await rec.waitForState(topics.containerState("svc"), { id: newId, running: true });
    // The old container's die, late (a buffering proxy, a second stream), after the new start.
    engine.emitRaw(serializeEvent(lastEvent(engine, "svc", "die")));
    await runAndWait(x, "marker");
    const states = rec.on(topics.containerState("svc")).map((m) => JSON.parse(m.payload));
    expect(states.filter((s) => s.id === newId && s.running === false)).toEqual([]);
    expect(states.at(-1)).toMatchObject({ id: newId, running: true, status: "running" });
  });
});

describe("read-only toward Docker", () => {
  it("only ever sends GET or HEAD, to read endpoints, through a whole scenario", async () => {
    const env = { REMOVAL_GRACE_SECONDS: "0.3" };
    const x = use(await startHarness({ engine: { fixtureSnapshot: true }, env }));
    const { recorder: rec, topics, engine } = x;
    await engine.waitForEventStream();
    engine.run({ name: "web", healthcheck: true });
    engine.setHealth("web", "healthy");
    engine.pause("web");
    engine.unpause("web");
    engine.rename("web", "web2");
    engine.stop("web2");
    await rec.waitForState(topics.containerState("web2"), { status: "exited" });
    await engine.cutStreams();
    engine.remove("web2");
    await rec.publish("homeassistant/status", "online");
    await rec.waitFor("web2 cleared", () => rec.last(topics.containerState("web2")) === "");
    await x.stopBridge();
    const paths = engine.requests.map((r) => `${r.method} ${r.path.replace(/^\/v[\d.]+/, "")}`);
    const endpoint =
      /^\/(_ping|version|info|containers\/json\?all=1|containers\/[0-9a-f]{64}\/json|events(\?.*)?)$/;
    expect(
      paths.filter((p) => !/^(GET|HEAD) /.test(p) || !endpoint.test(p.split(" ")[1] ?? "")),
    ).toEqual([]);
    expect(paths.some((p) => p.startsWith("GET /events"))).toBe(true);
  });
});
