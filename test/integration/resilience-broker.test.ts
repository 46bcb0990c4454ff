// Broker faults: down at start-up, restarted without persistence, refusing the credentials, slow,
// or never acknowledging; and Home Assistant deleting a device. Asserted on what the broker holds
// and what an operator reads in the log.

import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_QUEUED_EVENTS } from "../../src/mqtt/publisher.js";
import type { Service } from "../../src/runtime/service.js";
import { FakeEngine } from "../helpers/fake-engine.js";
import { Recorder } from "../helpers/recorder.js";
import {
  type BrokerHooks,
  bridgeEnv,
  freePort,
  type HookedBroker,
  type Kit,
  startCapturedService,
  startHookedBroker,
  startKit,
  waitUntil,
} from "../helpers/resilience-kit.js";
import { deviceTopic as device } from "../helpers/resilience-views.js";

/** Closed after each test: bridges first (so they can say goodbye), then the rest, newest first. */
let bridges: Service[] = [];
let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const service of bridges) await service.stop();
  for (const close of cleanups.reverse()) await close();
  bridges = [];
  cleanups = [];
});

/** A bridge on the fake engine, started by hand (as harness.ts does) against any broker URL. */
async function bridge(engine: FakeEngine, mqttUrl: string, env: Record<string, string> = {}) {
  const started = await startCapturedService(bridgeEnv(engine, mqttUrl, env));
  bridges.push(started.service);
  return started;
}

async function fakeEngine(seed: Parameters<FakeEngine["seed"]>[0] = []): Promise<FakeEngine> {
  const engine = await FakeEngine.start();
  cleanups.push(() => engine.close());
  engine.seed(seed);
  return engine;
}

async function kit(options: Parameters<typeof startKit>[0]): Promise<Kit> {
  const k = await startKit(options);
  cleanups.push(() => k.close());
  return k;
}

/** What a fresh subscriber (Home Assistant starting) is given for this host. */
async function retainedOfHost(broker: HookedBroker): Promise<Map<string, string>> {
  const all = await Recorder.retainedSnapshot(broker.url, "#");
  return new Map([...all].filter(([t]) => t.startsWith("docker/test/") || t.includes("dmb_test")));
}

describe("broker availability", () => {
  it("publishes everything, and subscribes, once a broker that was down at start-up comes up", async () => {
    const engine = await fakeEngine([
      { name: "alpha" },
      { name: "bravo", state: "exited", exitCode: 3 },
    ]);
    const port = await freePort();
    const { service, topics } = await bridge(engine, `mqtt://127.0.0.1:${port}`);
    // The engine side works on its own: snapshot and events reach the model with no broker.
    await engine.waitForEventStream({ count: 1 });
    await waitUntil("the snapshot", () => service.bridge.containers.size === 2);
    engine.die("alpha", 5);
    await waitUntil(
      "alpha exited",
      () => service.bridge.containers.get("alpha")?.status === "exited",
    );
    expect(service.publisher.connected).toBe(false);

    // The broker comes up holding what an earlier run left for a container that is gone now.
    const stale = device({ topics }, "gone");
    const staleConfig = {
      device: { identifiers: ["dmb_test__gone"], name: "gone" },
      origin: { name: "docker-mqtt-bridge" },
      components: {},
    };
    const broker = await startHookedBroker(
      port,
      {},
      {
        [stale]: JSON.stringify(staleConfig),
        [topics.containerState("gone")]: JSON.stringify({ name: "gone", running: false }),
      },
    );
    cleanups.push(() => broker.close());
    const rec = await Recorder.connect(broker.url);
    cleanups.push(() => rec.close());
    await rec.waitForState(topics.containerState("alpha"), { status: "exited", exit_code: 5 });
    await rec.waitForState(topics.containerState("bravo"), { status: "exited", exit_code: 3 });
    await rec.waitFor("the stale device cleared", () => rec.last(stale) === "", 3000);
    await rec.waitFor("stale state cleared", () => rec.last(topics.containerState("gone")) === "");
    expect(await service.publisher.drain(2000)).toBe(true);
    const retained = await retainedOfHost(broker);
    expect(retained.get(topics.availability())).toBe("online");
    for (const t of [
      device({ topics }, "alpha"),
      device({ topics }, "bravo"),
      topics.hostState(),
    ]) {
      expect(retained.has(t), t).toBe(true);
    }
    expect([...retained.keys()].filter((t) => t.includes("gone"))).toEqual([]);
    // Events of the outage were dropped and counted, not queued without bound for later.
    expect(service.publisher.stats.eventsDropped).toBeGreaterThan(0);
    // Subscribed too: Home Assistant's birth is answered with a republish.
    const states = rec.on(topics.containerState("alpha")).length;
    await rec.publish("homeassistant/status", "online");
    const republished = () => rec.on(topics.containerState("alpha")).length > states;
    await rec.waitFor("alpha's state republished after Home Assistant's birth", republished, 3000);
  });

  it("republishes availability, discovery and states to a broker restarted without persistence", async () => {
    const k = await kit({
      before: (engine) => engine.seed([{ name: "alpha" }, { name: "bravo", healthcheck: true }]),
    });
    await k.recorder.waitForState(k.topics.containerState("bravo"), { health: "healthy" });
    expect(await k.service.publisher.drain(2000)).toBe(true);
    const before = await retainedOfHost(k.broker);
    expect(before.size).toBeGreaterThan(5);

    const broker = await k.restartBroker();
    expect((await retainedOfHost(broker)).size).toBe(0);
    await waitUntil("reconnected", () => k.service.publisher.stats.reconnects === 1, 5000);
    expect(await k.service.publisher.drain(3000)).toBe(true);
    expect(await retainedOfHost(broker)).toEqual(before);
  });

  it("logs refused credentials clearly and retries with growing delays, never in a tight loop", async () => {
    const secret = `pw-${Math.random().toString(36).slice(2)}`;
    const attempts: number[] = [];
    const broker = await startHookedBroker(0, {
      authenticate: (_client, _user, _password, done) => {
        attempts.push(Date.now());
        done(null, false);
      },
    });
    cleanups.push(() => broker.close());
    const engine = await fakeEngine();
    const { service, logs } = await bridge(engine, broker.url, {
      MQTT_USERNAME: "bridge",
      MQTT_PASSWORD: secret,
    });
    await waitUntil("three connection attempts", () => attempts.length >= 3, 6000);
    const [first = 0, second = 0, third = 0] = attempts;
    // About 1 s, then about 2 s (jitter +-20%): at most 3 attempts in the first 3 s.
    expect(second - first).toBeGreaterThanOrEqual(700);
    expect(third - second).toBeGreaterThan((second - first) * 1.2);
    const refused = logs.find(/MQTT/, (l) => l.level >= 50);
    expect(refused.length).toBeGreaterThan(0);
    expect(String(refused[0]?.err)).toMatch(/not authori[sz]ed|bad user ?name or password/i);
    expect(service.publisher.connected).toBe(false);
    expect(logs.text()).not.toContain(secret);
  });
});

describe("a broker that is slow or never acknowledges", () => {
  it("coalesces 500 state changes to the newest and bounds the event queue when the broker stalls", async () => {
    // While `held` is set, the broker sits on every publish: no acknowledgement, nothing forwarded.
    let held: (() => void)[] | undefined;
    const hooks: BrokerHooks = {
      authorizePublish: (_client, _packet, done) => {
        if (held) held.push(() => done(null));
        else done(null);
      },
    };
    // No discovery, so every non-retained message is a raw event the bridge counts.
    const k = await kit({ hooks, env: { HA_DISCOVERY: "false" } });
    const { engine, recorder: rec, topics, service } = k;
    const { stats } = service.publisher;
    await engine.waitForEventStream();
    engine.run({ name: "x" });
    await rec.waitForState(topics.containerState("x"), { running: true });
    expect(await service.publisher.drain(2000)).toBe(true);
    const statesBefore = rec.on(topics.containerState("x")).length;

    held = [];
    for (let i = 0; i < 250; i++) {
      engine.pause("x");
      engine.unpause("x");
    }
    for (let i = 0; i < 500; i++) engine.exec("x", `echo ${i}`);
    engine.die("x", 42);
    await waitUntil("all events read", () => service.bridge.containers.get("x")?.exit_code === 42);
    expect(service.bridge.stats.stateChanges).toBeGreaterThanOrEqual(500);
    // What the bridge still holds for the broker: at most the queue bound plus what is in flight.
    const holding = service.bridge.stats.eventsPublished - stats.eventsDropped - stats.published;
    expect(stats.eventsDropped).toBeGreaterThan(0);
    expect(holding).toBeLessThanOrEqual(DEFAULT_MAX_QUEUED_EVENTS + DEFAULT_MAX_IN_FLIGHT);

    const release = held;
    held = undefined;
    for (const done of release) done();
    await rec.waitForState(topics.containerState("x"), { status: "exited", exit_code: 42 });
    const delivered = () => rec.messages.filter((m) => m.topic.startsWith("docker/test/events/"));
    // Every event was either delivered or dropped and counted.
    await rec.waitFor(
      "every event delivered or counted",
      () => delivered().length + stats.eventsDropped === service.bridge.stats.eventsPublished,
    );
    // 500 changes: at most one window in flight when the broker stalled, then only the newest.
    expect(rec.on(topics.containerState("x")).length - statesBefore).toBeLessThanOrEqual(
      DEFAULT_MAX_IN_FLIGHT + 1,
    );
    const retained = await Recorder.retainedSnapshot(k.broker.url, topics.containerState("x"));
    expect(JSON.parse(retained.get(topics.containerState("x")) ?? "{}")).toMatchObject({
      status: "exited",
      exit_code: 42,
    });
  });

  it("counts a publish the broker never acknowledges as failed, and delivers it later", async () => {
    let holding = true;
    const held: (() => void)[] = [];
    const hooks: BrokerHooks = {
      authorizePublish: (_client, packet, done) => {
        if (holding && packet.topic.endsWith("/containers/x/state")) held.push(() => done(null));
        else done(null);
      },
    };
    const k = await kit({
      hooks,
      env: { MQTT_PUBLISH_TIMEOUT_SECONDS: "0.2" },
      before: (engine) => engine.seed([{ name: "x", state: "exited", exitCode: 6 }]),
    });
    await k.logs.waitFor("a publish timing out", () =>
      k.logs
        .find(/MQTT publish failed/, (l) => l.topic === k.topics.containerState("x"))
        .some((l) => /no acknowledgement within 200 ms/.test(String(l.err))),
    );
    expect(k.service.publisher.stats.publishFailures).toBeGreaterThan(0);
    expect(k.recorder.on(k.topics.containerState("x"))).toEqual([]);
    holding = false;
    for (const release of held.splice(0)) release();
    await k.recorder.waitForState(k.topics.containerState("x"), { exit_code: 6 });
  });
});

describe("Home Assistant deleting a device", () => {
  it("is respected until the container is gone for good", async () => {
    const k = await kit({ env: { REMOVAL_GRACE_SECONDS: "0.3" } });
    const { engine, recorder: rec, topics, logs } = k;
    await engine.waitForEventStream();
    engine.run({ name: "web" });
    await rec.waitForState(topics.containerState("web"), { running: true });
    await rec.waitFor("web's device", () => !!rec.last(device(k, "web")));

    // What Home Assistant does when a user deletes the device.
    await rec.publish(device(k, "web"), "", true);
    await logs.waitFor("the deletion noticed", () => logs.find(/deleted/).length === 1);
    const mark = rec.messages.length;
    engine.die("web", 1);
    await rec.waitForState(topics.containerState("web"), { status: "exited" });
    const statesBefore = rec.on(topics.containerState("web")).length;
    await rec.publish("homeassistant/status", "online");
    // The republish sends discovery before states: once web's state is back, discovery is done.
    await rec.waitFor(
      "the republish",
      () => rec.on(topics.containerState("web")).length > statesBefore,
    );
    const announced = rec.messages.slice(mark).filter((m) => m.topic === device(k, "web"));
    expect(announced.filter((m) => m.payload !== "")).toEqual([]);
    expect((await retainedOfHost(k.broker)).has(device(k, "web"))).toBe(false);

    engine.run({ name: "other" });
    await rec.waitFor("other's device", () => !!rec.last(device(k, "other")));

    engine.remove("web");
    await rec.waitFor("web's state cleared", () => rec.last(topics.containerState("web")) === "");
    engine.run({ name: "web" });
    await rec.waitFor("web announced again", () => !!rec.last(device(k, "web")));
    await rec.waitForState(topics.containerState("web"), { running: true });
  });

  it("is not confused with the bridge's own clear echoing back after a quick re-announce", async () => {
    const k = await kit({ env: { REMOVAL_GRACE_SECONDS: "0.3" } });
    const { engine, recorder: rec, logs } = k;
    await engine.waitForEventStream();
    engine.run({ name: "web" });
    await rec.waitFor("web's device", () => !!rec.last(device(k, "web")));
    // Renamed away and back at once: web's device is cleared, then announced again.
    engine.rename("web", "tmp");
    engine.rename("tmp", "web");
    await rec.waitFor("web announced again", () => {
      const on = rec.on(device(k, "web")).map((m) => m.payload);
      return on.includes("") && on.at(-1) !== "";
    });
    expect(await k.service.publisher.drain(2000)).toBe(true);
    expect(logs.find(/deleted/)).toEqual([]);
    // Still the bridge's: removing the container clears its device.
    engine.remove("web");
    await rec.waitFor("web's device cleared", () => rec.last(device(k, "web")) === "");
    expect((await retainedOfHost(k.broker)).has(device(k, "web"))).toBe(false);
  });
});
