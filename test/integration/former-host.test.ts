// Changing host.id: what the bridge published for this engine under the earlier id is cleared
// at start-up (devices, states, availability), so Home Assistant is not left with a second set
// of devices that never update; another engine's host is never touched.
import { afterEach, expect, it } from "vitest";
import { loadConfig } from "../../src/config/loader.js";
import { createLogger } from "../../src/runtime/log.js";
import { type Service, startService } from "../../src/runtime/service.js";
import { FakeEngine } from "../helpers/fake-engine.js";
import { HaView } from "../helpers/ha-rules.js";
import { type Harness, startHarness } from "../helpers/harness.js";
import { Recorder } from "../helpers/recorder.js";

let h: Harness | undefined;
const services: Service[] = [];
const engines: FakeEngine[] = [];
afterEach(async () => {
  for (const s of services.splice(0)) await s.stop();
  for (const e of engines.splice(0)) await e.close();
  await h?.close();
  h = undefined;
});

/** A bridge in-process with quick settle and reconnect times, stopped after the test. */
async function bridge(env: Record<string, string>): Promise<Service> {
  const { config } = loadConfig({ argv: [], env: { ...env, LOG_LEVEL: "silent" } });
  const service = await startService(config, createLogger(config.log.level), {
    cleanupSettleMs: 300,
    offlineDelayMs: 100,
    reconnectBaseMs: 50,
  });
  services.push(service);
  return service;
}

const bridgeFor = (engine: FakeEngine, url: string, hostId: string) =>
  bridge({ DOCKER_HOST: engine.dockerHost, MQTT_URL: url, DOCKER_HOST_ID: hostId });

const retained = (url: string) => Recorder.retainedSnapshot(url, "#");
const ofHost = (all: Map<string, string>, host: string) =>
  [...all.keys()].filter((t) => t.startsWith(`docker/${host}/`) || t.includes(`dmb_${host}`));

it("clears everything an earlier host id of this engine left, and nothing of another engine", async () => {
  h = await startHarness({
    env: { DOCKER_HOST_ID: "nas" },
    before: (engine) =>
      engine.seed([
        { name: "web", labels: { "com.docker.compose.project": "shop" } },
        { name: "db" },
      ]),
  });
  const { recorder: rec, broker, engine } = h;
  await rec.waitFor(
    "nas stack state",
    () => rec.last("docker/nas/stacks/shop/state") !== undefined,
  );
  // Another machine's bridge, stopped: its host stays as it is.
  const elsewhere = await FakeEngine.start({ id: "ANOTHER-ENGINE-ID" });
  engines.push(elsewhere);
  elsewhere.seed([{ name: "db" }]);
  const other = await bridgeFor(elsewhere, broker.url, "elsewhere");
  await rec.waitFor(
    "elsewhere's db",
    () => rec.last("docker/elsewhere/containers/db/state") !== undefined,
  );
  expect(await other.publisher.drain(2000)).toBe(true);
  await other.stop();
  services.splice(services.indexOf(other), 1);
  const before = await retained(broker.url);
  expect(ofHost(before, "nas").length).toBeGreaterThan(5);
  const elsewhereBefore = ofHost(before, "elsewhere").sort();

  await h.stopBridge();
  const renamed = await bridgeFor(engine, broker.url, "storage");
  await rec.waitFor(
    "storage's db",
    () => rec.last("docker/storage/containers/db/state") !== undefined,
  );
  await rec.waitFor(
    "nas's device cleared",
    () => rec.last("homeassistant/device/dmb_nas__web/config") === "",
  );
  expect(await renamed.publisher.drain(3000)).toBe(true);
  const after = await retained(broker.url);
  expect(ofHost(after, "nas")).toEqual([]);
  expect(ofHost(after, "elsewhere").sort()).toEqual(elsewhereBefore);
  expect(ofHost(after, "storage").length).toBe(ofHost(before, "nas").length);
  const ha = HaView.from(rec.messages);
  expect(ha.problems).toEqual([]);
  expect(ha.entity("sensor.web_status")?.config.unique_id).toBe("dmb_storage__web_status");
});

it("never clears a host of this same engine that another runtime of the bridge follows", async () => {
  h = await startHarness({ before: (engine) => engine.seed([{ name: "web" }]) });
  const { recorder: rec, broker, engine } = h;
  await h.stopBridge();
  const twice = JSON.stringify([
    { id: "one", host: engine.dockerHost },
    { id: "two", host: engine.dockerHost },
  ]);
  const start = () => bridge({ DOCKER_ENGINES: twice, MQTT_URL: broker.url });
  const first = await start();
  await rec.waitFor("both hosts", () =>
    ["one", "two"].every((id) => rec.last(`docker/${id}/containers/web/state`) !== undefined),
  );
  await first.stop();
  services.splice(services.indexOf(first), 1);
  rec.clear();
  await start();
  await rec.waitFor("both online", () =>
    ["one", "two"].every((id) => rec.last(`docker/${id}/availability`) === "online"),
  );
  await new Promise((resolve) => setTimeout(resolve, 800)); // past both start-up cleanups
  const after = await retained(broker.url);
  expect(ofHost(after, "one").length).toBeGreaterThan(3);
  expect(ofHost(after, "two").length).toBe(ofHost(after, "one").length);
  const clears = rec.messages.filter((m) => m.payload === "" && !m.topic.startsWith("test-marker"));
  expect(clears.map((m) => m.topic)).toEqual([]);
});
