// Issue #12: Home Assistant must show what `docker inspect` shows, whatever the engine's timing.
// Each case is a race or an engine rule a real engine produces (late inspect answers, health
// changed without an event, restart policies, slow links), reproduced with the fake engine's
// holds and latencies (test/helpers/fake-engine-timing.ts) and moby's rules (fake-engine-*.ts).
import { afterEach, describe, expect, it } from "vitest";
import { DockerEvents } from "../../src/lib/docker-events.js";
import { Recorder } from "../helpers/recorder.js";
import {
  bridgeEnv,
  type Kit,
  startCapturedService,
  startKit,
  waitUntil,
} from "../helpers/resilience-kit.js";
import { runAndWait } from "../helpers/resilience-views.js";

let k: Kit | undefined;
afterEach(async () => {
  await k?.close();
  k = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every status the container's state topic showed, in order. */
function statuses(kit: Kit, name: string): string[] {
  return kit.recorder
    .on(kit.topics.containerState(name))
    .filter((m) => m.payload !== "")
    .map((m) => String((JSON.parse(m.payload) as { status: string }).status));
}

async function retainedAbout(kit: Kit, name: string): Promise<string[]> {
  const state = await Recorder.retainedSnapshot(kit.broker.url, kit.topics.containerState(name));
  const device = await Recorder.retainedSnapshot(
    kit.broker.url,
    kit.topics.deviceDiscovery(kit.topics.containerDeviceId(name)),
  );
  return [...state.keys(), ...device.keys()];
}

describe("a late inspect answer (1)", () => {
  it("never brings back a container destroyed while its first inspect was on its way", async () => {
    k = await startKit();
    const { engine } = k;
    await runAndWait(k, "first"); // following events, its snapshot taken
    // `docker run --rm job` that ends before the engine answers the bridge's inspect.
    const hold = engine.holdInspect("job");
    engine.run({ name: "job" });
    await hold.held(1);
    engine.remove("job");
    hold();
    await runAndWait(k, "marker"); // every event before it has been handled
    await sleep(1500); // past the removal grace (1 s here)
    expect(statuses(k, "job")).toEqual([]);
    expect(await retainedAbout(k, "job")).toEqual([]);
    expect(k.service.bridge.containers.has("job")).toBe(false);
  });

  it("never resurrects a running container removed right after a restart (`restart && rm -f`)", async () => {
    k = await startKit();
    const { engine } = k;
    await runAndWait(k, "web");
    const hold = engine.holdInspect("web");
    engine.restart("web");
    await hold.held(1);
    engine.remove("web");
    hold();
    await runAndWait(k, "marker");
    await sleep(1500);
    expect(await retainedAbout(k, "web")).toEqual([]);
    expect(k.service.bridge.containers.has("web")).toBe(false);
    expect(k.service.bridge.phaseOf("web")).toBe("gone");
  });

  it("the library's live model (`model: true`) has the same safeguard", async () => {
    k = await startKit();
    const { engine } = k;
    const events = new DockerEvents({ host: engine.dockerHost, model: true });
    try {
      await events.connect();
      await engine.waitForEventStream({ count: 2 });
      const hold = engine.holdInspect("job");
      engine.run({ name: "job" });
      await hold.held(2); // the bridge's inspect and the library's
      engine.remove("job");
      await waitUntil("the destroy applied", () =>
        (events.latest("container")?.rawAction ?? "").startsWith("destroy"),
      );
      hold();
      engine.run({ name: "marker" });
      await waitUntil("marker in the model", () => events.containers.has("marker"));
      await sleep(100);
      expect(events.containers.has("job")).toBe(false);
    } finally {
      await events.close();
    }
  });
});

describe("health after pause and unpause (2)", () => {
  it("an unhealthy container paused and unpaused still shows unhealthy, as inspect does", async () => {
    k = await startKit();
    const { engine, recorder: rec, topics } = k;
    await engine.waitForEventStream({ count: 1 });
    engine.run({ name: "svc", healthcheck: true });
    engine.setHealth("svc", "unhealthy");
    await rec.waitForState(topics.containerState("svc"), { health: "unhealthy", running: true });
    const before = rec.on(topics.containerState("svc")).length;
    engine.pause("svc");
    engine.unpause("svc");
    await rec.waitForState(topics.containerState("svc"), { status: "running", running: true });
    await runAndWait(k, "marker");
    await sleep(200);
    const after = rec
      .on(topics.containerState("svc"))
      .slice(before)
      .map((m) => (JSON.parse(m.payload) as { health: string }).health);
    expect(after.length).toBeGreaterThan(0);
    expect(after).not.toContain("starting");
    expect(rec.lastJson(topics.containerState("svc"))).toMatchObject({
      status: "running",
      health: "unhealthy",
    });
  });

  it("a healthy container comes back unhealthy (the engine's rule), then healthy at its next probe", async () => {
    k = await startKit();
    const { engine, recorder: rec, topics } = k;
    await engine.waitForEventStream({ count: 1 });
    engine.run({ name: "svc", healthcheck: true });
    engine.runHealthcheck("svc", { exitCode: 0 });
    await rec.waitForState(topics.containerState("svc"), { health: "healthy" });
    engine.pause("svc");
    engine.unpause("svc");
    // moby marks a paused container unhealthy without an event; inspect says so after unpause.
    await rec.waitForState(topics.containerState("svc"), { running: true, health: "unhealthy" });
    engine.runHealthcheck("svc", { exitCode: 0 });
    await rec.waitForState(topics.containerState("svc"), { running: true, health: "healthy" });
  });
});

describe("restart policies (3)", () => {
  it("a crash-looping container shows restarting during the back-off, never exited", async () => {
    k = await startKit();
    const { engine, recorder: rec, topics } = k;
    await engine.waitForEventStream({ count: 1 });
    engine.run({ name: "loop", restartPolicy: "always" });
    await rec.waitForState(topics.containerState("loop"), { running: true });
    for (let i = 1; i <= 3; i++) {
      engine.die("loop", 1);
      await rec.waitForState(topics.containerState("loop"), {
        status: "restarting",
        restart_count: i,
      });
      engine.completeRestart("loop");
      await rec.waitForState(topics.containerState("loop"), { status: "running", running: true });
    }
    expect(statuses(k, "loop")).not.toContain("exited");
  });

  it("a stop during the back-off (the engine sends only `stop`) shows exited", async () => {
    k = await startKit();
    const { engine, recorder: rec, topics } = k;
    await engine.waitForEventStream({ count: 1 });
    engine.run({ name: "loop", restartPolicy: "always" });
    await rec.waitForState(topics.containerState("loop"), { running: true });
    engine.die("loop", 1);
    await rec.waitForState(topics.containerState("loop"), { status: "restarting" });
    engine.stop("loop");
    await rec.waitForState(topics.containerState("loop"), { status: "exited", running: false });
  });

  it("a policy that gives up shows exited, with the engine's exit code", async () => {
    k = await startKit();
    const { engine, recorder: rec, topics } = k;
    await engine.waitForEventStream({ count: 1 });
    engine.run({ name: "job", restartPolicy: "on-failure:1" });
    await rec.waitForState(topics.containerState("job"), { running: true });
    engine.die("job", 3);
    await rec.waitForState(topics.containerState("job"), { status: "restarting" });
    engine.completeRestart("job");
    await rec.waitForState(topics.containerState("job"), { status: "running" });
    engine.die("job", 3);
    await rec.waitForState(topics.containerState("job"), { status: "exited", exit_code: 3 });
    expect(statuses(k, "job").filter((s) => s === "exited")).toEqual(["exited"]);
  });
});

describe("availability over a slow link (6)", () => {
  it("stays online through a resumable stream cut whose reconcile takes longer than the offline delay", async () => {
    k = await startKit({
      // The production delay before `offline`; the kit's default is shorter.
      service: { offlineDelayMs: 1500 },
      before: (engine) =>
        engine.seed(Array.from({ length: 100 }, (_, i) => ({ name: `c${i}x`, state: "running" }))),
    });
    const { engine, recorder: rec, topics, logs } = k;
    await rec.waitFor("100 containers announced", () =>
      Array.from({ length: 100 }, (_, i) => topics.containerState(`c${i}x`)).every(
        (t) => rec.last(t) !== undefined,
      ),
    );
    engine.setLatency(150);
    const resumedBefore = logs.find(/following engine events/, (l) => l.resumed === true).length;
    await engine.cutStreams();
    await logs.waitFor(
      "the reconcile after the cut",
      () => logs.find(/following engine events/, (l) => l.resumed === true).length > resumedBefore,
      20_000,
    );
    const availability = rec.on(topics.availability()).map((m) => m.payload);
    expect(availability).not.toContain("offline");
  }, 30_000);
});

describe("no churn on reconcile (7)", () => {
  async function settledFleet(kit: Kit): Promise<void> {
    const { engine, recorder: rec, topics } = kit;
    await runAndWait(kit, "web");
    engine.run({ name: "svc", healthcheck: true });
    engine.runHealthcheck("svc", { exitCode: 0 });
    await rec.waitForState(topics.containerState("svc"), { health: "healthy" });
    engine.run({ name: "done", healthcheck: true });
    engine.runHealthcheck("done", { exitCode: 0 });
    engine.stop("done");
    await rec.waitForState(topics.containerState("done"), { status: "exited" });
    await runAndWait(kit, "marker");
    await sleep(300); // every inspect the events asked for has answered
  }

  it("a stream cut with no change in between publishes no state message", async () => {
    k = await startKit();
    const { engine, recorder: rec, logs } = k;
    await settledFleet(k);
    const stateTopics = () => rec.messages.filter((m) => m.topic.endsWith("/state"));
    const before = stateTopics().length;
    await engine.cutStreams();
    await logs.waitFor("the reconcile after the cut", () =>
      logs.find(/following engine events/).some((l) => l.resumed === true),
    );
    await sleep(300);
    expect(stateTopics().slice(before)).toEqual([]);
  });

  it("each container looks the same seen live as read from a snapshot by a restarted bridge", async () => {
    k = await startKit();
    const { recorder: rec, topics, engine, broker } = k;
    await settledFleet(k);
    const names = ["web", "svc", "done"];
    const live = names.map((n) => rec.lastJson(topics.containerState(n)));
    await k.service.stop();
    const mark = rec.messages.length;
    const again = await startCapturedService(bridgeEnv(engine, broker.url));
    try {
      await rec.waitFor("the restarted bridge's states", () =>
        names.every((n) =>
          rec.messages.slice(mark).some((m) => m.topic === topics.containerState(n)),
        ),
      );
      await sleep(300);
      expect(names.map((n) => rec.lastJson(topics.containerState(n)))).toEqual(live);
    } finally {
      await again.service.stop();
    }
    // Stopping twice is harmless (a signal handler and a finally block may both do it); the
    // kit's close() stops the first bridge a third time.
    await expect(k.service.stop()).resolves.toBeUndefined();
  });
});
