// Podman 4.3 through its Docker-compatible API, over real sockets: the fake engine sends the event
// lines of the real Podman capture (test/fixtures/podman-4.3/events.raw.jsonl, line numbers below;
// see test/helpers/podman-capture.ts) where Podman's differ from Docker's, and answers /info as
// Podman does (BuildahVersion, DockerRootDir, an ID that is new after each service restart:
// test/fixtures/podman-4.3/NOTES.md). Asserted as Home Assistant sees it through the broker.
import { afterEach, expect, it } from "vitest";
import { loadConfig } from "../../src/config/loader.js";
import { createLogger } from "../../src/runtime/log.js";
import { type Service, startService } from "../../src/runtime/service.js";
import type { FakeEngine } from "../helpers/fake-engine.js";
import { type Harness, startHarness } from "../helpers/harness.js";
import { podmanEvent } from "../helpers/podman-capture.js";
import { Recorder } from "../helpers/recorder.js";

let h: Harness | undefined;
const services: Service[] = [];
afterEach(async () => {
  for (const s of services.splice(0)) await s.stop();
  await h?.close();
  h = undefined;
});

const PODMAN_INFO = {
  BuildahVersion: "1.28.2",
  DockerRootDir: "/tmp/podman/root",
  ServerVersion: "4.3.1",
  ID: "e07db134-a63a-42f1-9c32-2d967a10beb2",
};

const nowNano = (engine: FakeEngine) => BigInt(engine.timestamp().replace(".", ""));

/** Emits capture line `n` for the fake's container `name` (its id, its current name). */
function emitPodman(engine: FakeEngine, n: number, name: string): void {
  const c = engine.container(name);
  if (!c) throw new Error(`no container ${name}`);
  engine.emitRaw(podmanEvent(n, { id: c.id, name: c.name }, nowNano(engine)));
}

const podman = (seed: Parameters<FakeEngine["seed"]>[0], env: Record<string, string> = {}) =>
  startHarness({
    engine: { name: "vm", info: PODMAN_INFO },
    env,
    before: (engine) => engine.seed(seed),
  });

it("health: the state follows the engine's inspect after health_status, not its stale HealthStatus", async () => {
  h = await podman([{ name: "pd-health", healthcheck: true }]);
  const { engine, recorder: rec, topics } = h;
  engine.setHealth("pd-health", "healthy", { silent: true });
  emitPodman(engine, 38, "pd-health"); // health_status, HealthStatus "starting"
  await rec.waitForState(topics.containerState("pd-health"), { health: "healthy" });
  // The probe fails: Podman's event still says healthy (line 47); its inspect says unhealthy.
  engine.setHealth("pd-health", "unhealthy", { silent: true });
  emitPodman(engine, 46, "pd-health"); // exec
  emitPodman(engine, 47, "pd-health"); // health_status, HealthStatus "healthy"
  emitPodman(engine, 39, "pd-health"); // exec_died
  await rec.waitForState(topics.containerState("pd-health"), { health: "unhealthy" });
  // And back (line 48: HealthStatus "unhealthy" while the probe passed).
  engine.setHealth("pd-health", "healthy", { silent: true });
  emitPodman(engine, 48, "pd-health");
  await rec.waitForState(topics.containerState("pd-health"), { health: "healthy" });
});

it("health: the Events entity fires unhealthy and healthy as the engine's inspect changes, once each", async () => {
  h = await podman([{ name: "pd-ev", healthcheck: true }]);
  const { engine, recorder: rec, topics } = h;
  const fired = () =>
    rec.on(topics.containerEvents("pd-ev")).map((m) => JSON.parse(m.payload).event_type);
  await rec.waitForState(topics.containerState("pd-ev"), { health: "healthy" });
  // A probe that changes nothing: Podman still sends health_status (no status in it).
  emitPodman(engine, 47, "pd-ev");
  engine.setHealth("pd-ev", "unhealthy", { silent: true });
  emitPodman(engine, 47, "pd-ev");
  await rec.waitForState(topics.containerState("pd-ev"), { health: "unhealthy" });
  await rec.waitFor("unhealthy fired", () => fired().includes("unhealthy"));
  engine.setHealth("pd-ev", "healthy", { silent: true });
  emitPodman(engine, 48, "pd-ev");
  await rec.waitForState(topics.containerState("pd-ev"), { health: "healthy" });
  await rec.waitFor("healthy fired", () => fired().includes("healthy"));
  expect(fired().filter((t) => t === "healthy" || t === "unhealthy")).toEqual([
    "unhealthy",
    "healthy",
  ]);
  expect(rec.lastJson(topics.containerEvents("pd-ev"))).toEqual({
    event_type: "healthy",
    health: "healthy",
  });
});

it("remove (Podman's destroy) clears the container's entities", async () => {
  h = await podman([{ name: "pd-exit3" }, { name: "pd-web" }]);
  const { engine, recorder: rec, topics } = h;
  const device = topics.deviceDiscovery(topics.containerDeviceId("pd-exit3"));
  await rec.waitFor("pd-exit3 announced", () => (rec.last(device) ?? "") !== "");
  emitPodman(engine, 50, "pd-exit3"); // remove
  engine.forget("pd-exit3");
  await rec.waitFor("pd-exit3's device cleared", () => rec.last(device) === "", 5000);
  const state = topics.containerState("pd-exit3");
  await rec.waitFor("pd-exit3's state cleared", () => rec.last(state) === "", 5000);
  expect(rec.last(topics.deviceDiscovery(topics.containerDeviceId("pd-web")))).not.toBe("");
});

it("rename without oldName moves the entities from the old name to the new one", async () => {
  h = await podman([{ name: "pd-old" }]);
  const { engine, recorder: rec, topics } = h;
  const oldDevice = topics.deviceDiscovery(topics.containerDeviceId("pd-old"));
  await rec.waitFor("pd-old announced", () => (rec.last(oldDevice) ?? "") !== "");
  engine.rename("pd-old", "pd-new", { silent: true });
  emitPodman(engine, 49, "pd-new"); // rename: name only, no oldName
  await rec.waitForState(topics.containerState("pd-new"), { name: "pd-new", running: true });
  await rec.waitFor("pd-old's device cleared", () => rec.last(oldDevice) === "", 5000);
});

it("a restart of the Podman service (a new /info ID) is the same engine: its former host id is cleared", async () => {
  h = await podman([{ name: "pd-web" }], { DOCKER_HOST_ID: "before" });
  const { engine, recorder: rec, broker } = h;
  await rec.waitFor("before's host state", () => rec.last("docker/before/state") !== undefined);
  const engineId = JSON.parse(rec.last("docker/before/state") ?? "{}").engine_id;
  expect(engineId).toMatch(/^podman-/);
  await h.stopBridge();
  // `podman system service` started again: /info says another ID (NOTES.md: e07db134 -> fbf34833).
  engine.setIdentity({ id: "fbf34833-a7c7-4394-85c8-0b3c67cd922d" });
  const { config } = loadConfig({
    argv: [],
    env: {
      DOCKER_HOST: engine.dockerHost,
      MQTT_URL: broker.url,
      DOCKER_HOST_ID: "after",
      LOG_LEVEL: "silent",
    },
  });
  services.push(
    await startService(config, createLogger("silent"), {
      cleanupSettleMs: 300,
      offlineDelayMs: 100,
      reconnectBaseMs: 50,
    }),
  );
  await rec.waitFor("after's host state", () => rec.last("docker/after/state") !== undefined);
  expect(JSON.parse(rec.last("docker/after/state") ?? "{}").engine_id).toBe(engineId);
  await rec.waitFor("before's device cleared", () =>
    rec.messages.some((m) => m.topic.includes("dmb_before__pd-web") && m.payload === ""),
  );
  const retained = await Recorder.retainedSnapshot(broker.url, "#");
  expect([...retained.keys()].filter((t) => t.includes("before"))).toEqual([]);
});
