// The Home Assistant experience, end to end: the discovery the running bridge publishes for a
// host, a Compose stack and its containers, checked against Home Assistant's rules; what Home
// Assistant would show for each entity (value templates rendered on the real state payloads);
// stack and host counts; the event entity; entity groups; labels.
import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/loader.js";
import { createLogger } from "../../src/runtime/log.js";
import { type Service, startService } from "../../src/runtime/service.js";
import type { FakeEngine } from "../helpers/fake-engine.js";
import { haPayload } from "../helpers/ha-expand.js";
import {
  discoveryProblems,
  HaView,
  isHaTimestamp,
  isKnownTemplate,
  parseDiscovery,
  VALID_ENTITY_ID,
} from "../helpers/ha-rules.js";
import { type Harness, startHarness } from "../helpers/harness.js";
import { Recorder } from "../helpers/recorder.js";

const PREFIX = "homeassistant";
const BASE_ENV = { DOCKER_HOST_ID: "nas" };
const media = (service: string) => ({
  "com.docker.compose.project": "media",
  "com.docker.compose.service": service,
});

let h: Harness | undefined;
let extra: Service | undefined;
afterEach(async () => {
  await extra?.stop();
  extra = undefined;
  await h?.close();
  h = undefined;
});

/** The usual set-up: jellyfin (healthcheck) and sonarr in the media stack, backup on its own. */
function seedNas(engine: FakeEngine): void {
  engine.seed([
    {
      name: "jellyfin",
      image: "jellyfin/jellyfin:10.9",
      healthcheck: true,
      labels: media("jellyfin"),
    },
    { name: "sonarr", image: "linuxserver/sonarr:4", labels: media("sonarr") },
    { name: "backup", image: "restic/restic:0.16", state: "exited", exitCode: 3 },
  ]);
}

async function startNas(env: Record<string, string> = {}): Promise<Harness> {
  h = await startHarness({ env: { ...BASE_ENV, ...env }, before: (engine) => seedNas(engine) });
  const { recorder: rec, topics } = h;
  await rec.waitForState(topics.containerState("jellyfin"), { health: "healthy" });
  await rec.waitForState(topics.containerState("backup"), { exit_code: 3 });
  await rec.waitFor(
    "host and stack state",
    () =>
      rec.last(topics.hostState()) !== undefined &&
      rec.last(topics.stackState("media")) !== undefined,
  );
  await h.engine.waitForEventStream({ count: 1 });
  return h;
}

/** Starts another bridge, in process, with other settings (the harness's is stopped). */
async function startBridgeWith(harness: Harness, env: Record<string, string>): Promise<Service> {
  const { config } = loadConfig({
    argv: [],
    env: {
      DOCKER_HOST: harness.engine.dockerHost,
      MQTT_URL: harness.broker.url,
      REMOVAL_GRACE_SECONDS: "1",
      HA_REPUBLISH_DELAY_SECONDS: "0.05",
      LOG_LEVEL: "silent",
      ...BASE_ENV,
      ...env,
    },
  });
  return startService(config, createLogger(config.log.level), {
    // Longer than the harness's: the start-up cleanup must see the broker's retained configs.
    cleanupSettleMs: 500,
    offlineDelayMs: 100,
    reconnectBaseMs: 50,
  });
}

const retainedDiscovery = (harness: Harness) =>
  Recorder.retainedSnapshot(harness.broker.url, `${PREFIX}/#`);

/** A discovery payload as Home Assistant reads it (long keys, shared options inherited). */
const json = (text: string | undefined) => haPayload(text);

/** A device's components, as published and retained. */
function componentsOf(retained: Map<string, string>, deviceTopic: string) {
  return json(retained.get(deviceTopic)).components as Record<string, Record<string, unknown>>;
}

/** The payloads published on a container's event-entity topic. */
function entityEvents(harness: Harness, name: string): Record<string, unknown>[] {
  return harness.recorder
    .on(harness.topics.containerEvents(name))
    .map((m) => JSON.parse(m.payload) as Record<string, unknown>);
}

/** platform / device_class / entity_category / enabled_by_default of each component. */
function kinds(components: Record<string, Record<string, unknown>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(components).map(([key, c]) => [
      key,
      [
        c.platform,
        c.device_class ?? "-",
        c.entity_category ?? "-",
        c.enabled_by_default ?? true,
      ].join(" "),
    ]),
  );
}

describe("discovery as the running bridge publishes it", () => {
  it("every payload for the host, a Compose stack and a healthchecked container is one Home Assistant accepts", async () => {
    const harness = await startNas();
    const { topics } = harness;
    const retained = await retainedDiscovery(harness);
    const device = (id: string) => topics.deviceDiscovery(id);
    const host = device("dmb_nas");
    const stack = device("dmb_nas__media__stack");
    const jellyfin = device("dmb_nas__jellyfin");
    expect([...retained.keys()].sort()).toEqual(
      [host, stack, jellyfin, device("dmb_nas__sonarr"), device("dmb_nas__backup")].sort(),
    );

    for (const [topic, text] of retained) {
      expect(discoveryProblems(PREFIX, topic, text), topic).toEqual([]);
      const payload = json(text);
      expect(payload.origin).toMatchObject({ name: "docker-mqtt-bridge" });
    }

    // Each entity type, as the README's tables describe it.
    expect(kinds(componentsOf(retained, jellyfin))).toEqual({
      running: "binary_sensor running - true",
      health: "binary_sensor problem - true",
      status: "sensor enum - true",
      started: "sensor timestamp diagnostic true",
      exit_code: "sensor - diagnostic true",
      restart_count: "sensor - diagnostic false",
      image: "sensor - diagnostic false",
      oom_killed: "binary_sensor problem diagnostic false",
      events: "event - - true",
    });
    expect(Object.keys(componentsOf(retained, device("dmb_nas__sonarr")))).not.toContain("health");
    expect(kinds(componentsOf(retained, stack))).toEqual({
      all_running: "binary_sensor running - true",
      problem: "binary_sensor problem - true",
      containers: "sensor - - true",
      running: "sensor - - true",
    });
    expect(kinds(componentsOf(retained, host))).toEqual({
      engine: "binary_sensor connectivity - true",
      containers: "sensor - - true",
      running: "sensor - - true",
      paused: "sensor - - true",
      stopped: "sensor - - true",
      unhealthy: "sensor - - true",
      engine_version: "sensor - diagnostic true",
      api_version: "sensor - diagnostic true",
    });

    // Devices: identifiers and names, and the host > stack > container tree.
    const devices = Object.fromEntries(
      [...retained.values()].map((t) => {
        const d = json(t).device as Record<string, unknown>;
        return [(d.identifiers as string[])[0], d];
      }),
    );
    expect(devices.dmb_nas).toMatchObject({ name: "nas", identifiers: ["dmb_nas"] });
    expect(devices.dmb_nas).not.toHaveProperty("via_device");
    expect(devices.dmb_nas__media__stack).toMatchObject({
      name: "media stack",
      via_device: "dmb_nas",
    });
    expect(devices.dmb_nas__jellyfin).toMatchObject({
      name: "jellyfin",
      model: "jellyfin/jellyfin:10.9",
      via_device: "dmb_nas__media__stack",
    });
    expect(devices.dmb_nas__backup).toMatchObject({ name: "backup", via_device: "dmb_nas" });

    // Ids: default_entity_id is <platform>.<slug of the device's name>_<key>; unique ids unique.
    const slugs: Record<string, string> = {
      [host]: "nas",
      [stack]: "media_stack",
      [jellyfin]: "jellyfin",
      [device("dmb_nas__sonarr")]: "sonarr",
      [device("dmb_nas__backup")]: "backup",
    };
    const uniqueIds: string[] = [];
    for (const [topic, text] of retained) {
      for (const e of parseDiscovery(PREFIX, topic, json(text)).entities) {
        expect(e.config.default_entity_id).toBe(`${e.platform}.${slugs[topic]}_${e.key}`);
        expect(String(e.config.default_entity_id)).toMatch(VALID_ENTITY_ID);
        uniqueIds.push(String(e.config.unique_id));
        if (typeof e.config.value_template === "string")
          expect(isKnownTemplate(e.config.value_template), e.config.value_template).toBe(true);
      }
    }
    expect(uniqueIds).toHaveLength(8 + 4 + 9 + 8 + 8);
    expect(new Set(uniqueIds).size).toBe(uniqueIds.length);
  });

  it("renders each entity as Home Assistant would, from the published states", async () => {
    const harness = await startNas();
    const { engine, recorder: rec, topics } = harness;
    engine.createContainer({ name: "fresh" });
    engine.pause("sonarr");
    await rec.waitForState(topics.containerState("fresh"), { status: "created" });
    await rec.waitForState(topics.containerState("sonarr"), { status: "paused" });
    await rec.waitForState(topics.hostState(), { containers: 4, paused: 1 });
    const ha = HaView.from(rec.messages);
    expect(ha.problems).toEqual([]);

    expect(ha.state("binary_sensor.jellyfin_running")).toBe("on");
    expect(ha.state("binary_sensor.jellyfin_health")).toBe("off");
    expect(ha.state("sensor.jellyfin_status")).toBe("running");
    expect(
      isHaTimestamp(String(json(rec.last(topics.containerState("jellyfin"))).started_at)),
    ).toBe(true);
    expect(ha.state("sensor.jellyfin_started")).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
    expect(ha.state("sensor.jellyfin_exit_code")).toBe("unknown");
    expect(ha.state("sensor.jellyfin_restart_count")).toBe("0");
    expect(ha.state("sensor.jellyfin_image")).toBe("jellyfin/jellyfin:10.9");
    expect(ha.state("binary_sensor.jellyfin_oom_killed")).toBe("off");
    expect(ha.attributes("binary_sensor.jellyfin_running")).toMatchObject({
      name: "jellyfin",
      compose_project: "media",
    });

    // Paused: not running, Health unknown.
    expect(ha.state("binary_sensor.sonarr_running")).toBe("off");
    expect(ha.state("sensor.sonarr_status")).toBe("paused");
    expect(ha.entity("binary_sensor.sonarr_health")).toBeUndefined();

    // Exited with 3: the exit code is a number, Started still the last start.
    expect(ha.state("binary_sensor.backup_running")).toBe("off");
    expect(ha.state("sensor.backup_status")).toBe("exited");
    expect(ha.state("sensor.backup_exit_code")).toBe("3");
    expect(ha.state("sensor.backup_started")).toMatch(/Z$/);

    // Created, never started: no start time, no exit code.
    expect(ha.state("sensor.fresh_status")).toBe("created");
    expect(ha.state("sensor.fresh_started")).toBe("unknown");
    expect(ha.state("sensor.fresh_exit_code")).toBe("unknown");

    // Stack and host.
    expect(ha.state("binary_sensor.media_stack_all_running")).toBe("off");
    expect(ha.state("binary_sensor.media_stack_problem")).toBe("off");
    expect(ha.state("sensor.media_stack_containers")).toBe("2");
    expect(ha.state("sensor.media_stack_running")).toBe("1");
    expect(ha.state("binary_sensor.nas_engine")).toBe("on");
    expect(ha.state("sensor.nas_containers")).toBe("4");
    expect(ha.state("sensor.nas_running")).toBe("1");
    expect(ha.state("sensor.nas_paused")).toBe("1");
    expect(ha.state("sensor.nas_stopped")).toBe("2");
    expect(ha.state("sensor.nas_unhealthy")).toBe("0");
    expect(ha.state("sensor.nas_engine_version")).toMatch(/^\d+\.\d+/);
    expect(ha.state("sensor.nas_api_version")).toBe("1.41");
  });

  it("Health is unknown while starting, on when unhealthy, unknown once stopped", async () => {
    const harness = await startNas();
    const { engine, recorder: rec, topics } = harness;
    engine.run({ name: "api", healthcheck: true });
    await rec.waitForState(topics.containerState("api"), { health: "starting" });
    engine.setHealth("api", "unhealthy");
    await rec.waitForState(topics.containerState("api"), { health: "unhealthy" });
    engine.setHealth("api", "healthy");
    await rec.waitForState(topics.containerState("api"), { health: "healthy" });
    engine.stop("api");
    await rec.waitForState(topics.containerState("api"), { status: "exited" });
    const ha = HaView.from(rec.messages);
    expect(ha.problems).toEqual([]);
    expect(ha.changesOf("binary_sensor.api_health").map((c) => c.to)).toEqual([
      "on",
      "off",
      "unknown",
    ]);
    expect(ha.state("binary_sensor.api_health")).toBe("unknown");
    expect(ha.changesOf("sensor.api_status").map((c) => c.to)).toEqual(["running", "exited"]);
  });
});

describe("stack and host state", () => {
  it("follows a stack from all running to one unhealthy and back, then a failed container", async () => {
    const harness = await startNas();
    const { engine, recorder: rec, topics } = harness;
    const stackTopic = topics.stackState("media");
    expect(stackTopic).toBe("docker/nas/stacks/media/state");
    const ha = () => {
      const view = HaView.from(rec.messages);
      expect(view.problems).toEqual([]);
      return {
        all: view.state("binary_sensor.media_stack_all_running"),
        problem: view.state("binary_sensor.media_stack_problem"),
        containers: view.state("sensor.media_stack_containers"),
        running: view.state("sensor.media_stack_running"),
      };
    };
    const hostCounts = () => {
      const s = json(rec.last(topics.hostState()));
      return [s.containers, s.running, s.paused, s.stopped, s.unhealthy];
    };

    // All running.
    expect(json(rec.last(stackTopic))).toMatchObject({
      project: "media",
      containers: 2,
      running: 2,
      all_running: true,
      problem: false,
      failed: [],
      unhealthy_containers: [],
    });
    expect(ha()).toEqual({ all: "on", problem: "off", containers: "2", running: "2" });
    expect(hostCounts()).toEqual([3, 2, 0, 1, 0]);

    // One unhealthy: still all running, but a problem.
    engine.setHealth("jellyfin", "unhealthy");
    await rec.waitForState(stackTopic, { problem: true });
    expect(json(rec.last(stackTopic))).toMatchObject({
      all_running: true,
      unhealthy_containers: ["jellyfin"],
    });
    expect(ha()).toEqual({ all: "on", problem: "on", containers: "2", running: "2" });
    await rec.waitForState(topics.hostState(), { unhealthy: 1 });
    expect(hostCounts()).toEqual([3, 2, 0, 1, 1]);

    // Healthy again.
    engine.setHealth("jellyfin", "healthy");
    await rec.waitForState(stackTopic, { problem: false });
    expect(ha()).toEqual({ all: "on", problem: "off", containers: "2", running: "2" });
    await rec.waitForState(topics.hostState(), { unhealthy: 0 });

    // A container stopped cleanly (exit 0): not all running, but no problem.
    engine.stop("sonarr", { exitCode: 0 });
    await rec.waitForState(stackTopic, { running: 1 });
    expect(json(rec.last(stackTopic))).toMatchObject({ all_running: false, problem: false });
    expect(ha()).toEqual({ all: "off", problem: "off", containers: "2", running: "1" });

    // Started again, then it fails with a non-zero exit code: a problem.
    engine.start("sonarr");
    await rec.waitForState(stackTopic, { all_running: true });
    engine.die("sonarr", 1);
    await rec.waitForState(stackTopic, { problem: true });
    expect(json(rec.last(stackTopic))).toMatchObject({
      containers: 2,
      running: 1,
      all_running: false,
      failed: ["sonarr"],
      unhealthy_containers: [],
    });
    expect(ha()).toEqual({ all: "off", problem: "on", containers: "2", running: "1" });
    await rec.waitForState(topics.hostState(), { running: 1, stopped: 2 });
    expect(hostCounts()).toEqual([3, 1, 0, 2, 0]);

    // Paused counts as paused on the host.
    engine.pause("jellyfin");
    await rec.waitForState(topics.hostState(), { paused: 1 });
    expect(hostCounts()).toEqual([3, 0, 1, 2, 0]);
    expect(ha()).toMatchObject({ all: "off", running: "0" });
  });
});

describe("the event entity", () => {
  it("fires die with the exit code, kill with the signal, and health changes", async () => {
    const harness = await startNas();
    const { engine, recorder: rec, topics } = harness;
    expect(topics.containerEvents("backup")).toBe("docker/nas/containers/backup/event");
    engine.start("backup");
    await rec.waitForState(topics.containerState("backup"), { running: true });
    engine.die("backup", 3);
    await rec.waitFor("die", () => entityEvents(harness, "backup").length >= 2);
    expect(entityEvents(harness, "backup")).toEqual([
      { event_type: "start" },
      { event_type: "die", exit_code: 3 },
    ]);

    engine.kill("sonarr", "KILL");
    await rec.waitFor("kill and die", () => entityEvents(harness, "sonarr").length >= 2);
    expect(entityEvents(harness, "sonarr")).toEqual([
      { event_type: "kill", signal: "9" },
      { event_type: "die", exit_code: 137 },
    ]);

    engine.setHealth("jellyfin", "unhealthy", { probe: true });
    engine.setHealth("jellyfin", "healthy", { probe: true });
    engine.pause("jellyfin");
    engine.unpause("jellyfin");
    engine.restart("jellyfin");
    engine.oom("jellyfin");
    await rec.waitFor("jellyfin's events", () =>
      entityEvents(harness, "jellyfin").some((e) => e.event_type === "oom"),
    );
    await rec.waitForState(topics.containerState("jellyfin"), { oom_killed: true });
    expect(entityEvents(harness, "jellyfin")).toEqual([
      { event_type: "unhealthy", health: "unhealthy" },
      { event_type: "healthy", health: "healthy" },
      { event_type: "pause" },
      { event_type: "unpause" },
      { event_type: "kill", signal: "15" },
      { event_type: "kill", signal: "9" },
      { event_type: "die", exit_code: 137 },
      { event_type: "stop" },
      { event_type: "start" },
      { event_type: "restart" },
      { event_type: "oom" },
      { event_type: "die", exit_code: 137 },
    ]);

    // Every event is one the entity advertises, and Home Assistant takes each as it comes.
    const ha = HaView.from(rec.messages);
    expect(ha.problems).toEqual([]);
    for (const name of ["backup", "sonarr", "jellyfin"]) {
      const entity = ha.entity(`event.${name}_events`);
      expect(entity?.config.state_topic).toBe(topics.containerEvents(name));
      const advertised = entity?.config.event_types as string[];
      for (const e of entityEvents(harness, name)) expect(advertised).toContain(e.event_type);
      expect(ha.changesOf(`event.${name}_events`)).toHaveLength(entityEvents(harness, name).length);
    }
    expect(ha.attributes("event.backup_events")).toEqual({ event_type: "die", exit_code: 3 });
    // The event topic is not retained: a later subscriber (Home Assistant restarting) does not
    // see an old event again.
    expect(rec.on(topics.containerEvents("backup")).every((m) => !m.retain)).toBe(true);
    const retained = await Recorder.retainedSnapshot(harness.broker.url, "docker/#");
    expect([...retained.keys()].filter((t) => t.endsWith("/event"))).toEqual([]);
  });
});

describe("entity groups", () => {
  it("HA_ENTITIES=running,health announces only those components, and no entity events", async () => {
    const harness = await startNas({ HA_ENTITIES: "running,health" });
    const { engine, recorder: rec, topics } = harness;
    const retained = await retainedDiscovery(harness);
    for (const [topic, text] of retained)
      expect(discoveryProblems(PREFIX, topic, text)).toEqual([]);
    // Entities, that is components with a config: the other groups are only removal stubs.
    const entities = (topic: string) =>
      Object.entries(componentsOf(retained, topic))
        .filter(([, c]) => Object.keys(c as object).length > 1)
        .map(([key]) => key);
    const stubs = (topic: string) =>
      Object.entries(componentsOf(retained, topic))
        .filter(([, c]) => Object.keys(c as object).length === 1)
        .map(([key]) => key);
    expect(entities(topics.deviceDiscovery("dmb_nas__jellyfin"))).toEqual(["running", "health"]);
    expect(entities(topics.deviceDiscovery("dmb_nas__sonarr"))).toEqual(["running"]);
    expect(stubs(topics.deviceDiscovery("dmb_nas__sonarr")).sort()).toEqual(
      ["events", "exit_code", "image", "oom_killed", "restart_count", "started", "status"].sort(),
    );
    // Host and stack devices are not entity groups.
    expect(Object.keys(componentsOf(retained, topics.deviceDiscovery("dmb_nas")))).toHaveLength(8);
    expect(
      Object.keys(componentsOf(retained, topics.deviceDiscovery("dmb_nas__media__stack"))),
    ).toHaveLength(4);
    engine.die("sonarr", 2);
    await rec.waitForState(topics.containerState("sonarr"), { exit_code: 2 });
    await rec.waitFor(
      "the raw die event",
      () => rec.on(topics.event("container", "die")).length > 0,
    );
    expect(rec.messages.filter((m) => m.topic.endsWith("/event"))).toEqual([]);
  });

  it("restarting with fewer groups removes the dropped components from Home Assistant (device mode)", async () => {
    const harness = await startNas();
    const { recorder: rec, topics } = harness;
    const jellyfin = topics.deviceDiscovery("dmb_nas__jellyfin");
    await harness.stopBridge();
    const mark = rec.messages.length;
    extra = await startBridgeWith(harness, { HA_ENTITIES: "running,health" });
    await rec.waitFor("jellyfin announced again", () =>
      rec.messages.slice(mark).some((m) => m.topic === jellyfin),
    );
    const stubsSent = () => {
      const stubs = new Map<string, unknown>();
      for (const m of rec.messages.slice(mark)) {
        if (m.topic !== jellyfin || m.payload === "") continue;
        for (const [key, c] of Object.entries(json(m.payload).components as object)) {
          if (Object.keys(c as object).length === 1) stubs.set(key, c);
        }
      }
      return Object.fromEntries(stubs);
    };
    // Whether sent with the first announcement or by the start-up cleanup: give it 3 s.
    await rec
      .waitFor("removal stubs", () => Object.keys(stubsSent()).length >= 7, 3000)
      .catch(() => undefined);
    // Home Assistant removes a component of a device only when it is sent with its platform
    // alone; one simply left out of the payload stays (as an entity nothing updates).
    expect(stubsSent()).toEqual({
      status: { platform: "sensor" },
      started: { platform: "sensor" },
      exit_code: { platform: "sensor" },
      restart_count: { platform: "sensor" },
      image: { platform: "sensor" },
      oom_killed: { platform: "binary_sensor" },
      events: { platform: "event" },
    });
    const ha = HaView.from(rec.messages);
    expect(ha.problems).toEqual([]);
    expect(
      [...ha.entities.keys()].filter((id) => id.split(".")[1]?.startsWith("jellyfin_")).sort(),
    ).toEqual(["binary_sensor.jellyfin_health", "binary_sensor.jellyfin_running"]);
  });

  it("restarting with fewer groups clears the dropped components' topics (component mode)", async () => {
    const harness = await startNas({ HA_DISCOVERY_MODE: "component" });
    const { recorder: rec, topics } = harness;
    const before = await retainedDiscovery(harness);
    const ofJellyfin = (keys: Iterable<string>) =>
      [...keys].filter((t) => t.includes("/dmb_nas__jellyfin/")).sort();
    expect(ofJellyfin(before.keys())).toHaveLength(9);
    for (const [topic, text] of before) expect(discoveryProblems(PREFIX, topic, text)).toEqual([]);
    await harness.stopBridge();
    extra = await startBridgeWith(harness, {
      HA_DISCOVERY_MODE: "component",
      HA_ENTITIES: "running,health",
    });
    const statusTopic = topics.componentDiscovery("sensor", "dmb_nas__jellyfin", "status");
    await rec.waitFor("status config cleared", () => rec.last(statusTopic) === "");
    const after = await retainedDiscovery(harness);
    expect(ofJellyfin(after.keys())).toEqual([
      topics.componentDiscovery("binary_sensor", "dmb_nas__jellyfin", "health"),
      topics.componentDiscovery("binary_sensor", "dmb_nas__jellyfin", "running"),
    ]);
    const ha = HaView.from(rec.messages);
    expect(ha.problems).toEqual([]);
    expect([...ha.entities.keys()].filter((id) => id.includes(".jellyfin_")).sort()).toEqual([
      "binary_sensor.jellyfin_health",
      "binary_sensor.jellyfin_running",
    ]);
  });

  it("HA_STACKS=false hangs containers below the host and publishes no stack device", async () => {
    h = await startHarness({ env: { ...BASE_ENV, HA_STACKS: "false" }, before: seedNas });
    const { recorder: rec, topics } = h;
    await rec.waitForState(topics.containerState("jellyfin"), { health: "healthy" });
    await rec.waitFor("host state", () => rec.last(topics.hostState()) !== undefined);
    const retained = await retainedDiscovery(h);
    expect([...retained.keys()].sort()).toEqual(
      ["dmb_nas", "dmb_nas__backup", "dmb_nas__jellyfin", "dmb_nas__sonarr"]
        .map((id) => topics.deviceDiscovery(id))
        .sort(),
    );
    for (const [topic, text] of retained) {
      expect(discoveryProblems(PREFIX, topic, text)).toEqual([]);
      const d = json(text).device as Record<string, unknown>;
      if (d.identifiers !== undefined && (d.identifiers as string[])[0] !== "dmb_nas")
        expect(d.via_device).toBe("dmb_nas");
    }
    expect(rec.messages.filter((m) => m.topic.includes("/stacks/"))).toEqual([]);
    expect(json(rec.last(topics.containerState("jellyfin"))).compose_project).toBe("media");
  });
});

describe("labels", () => {
  it("name, area and icon change the device, never the entity ids or unique ids", async () => {
    h = await startHarness({ env: { ...BASE_ENV, REMOVAL_GRACE_SECONDS: "30" } });
    const { engine, recorder: rec, topics } = h;
    await engine.waitForEventStream();
    const deviceTopic = topics.deviceDiscovery("dmb_nas__jellyfin");
    const firstId = engine.run({ name: "jellyfin", healthcheck: true });
    await rec.waitForState(topics.containerState("jellyfin"), { id: firstId });
    const plain = json(rec.last(deviceTopic));
    // Recreated with labels (what `docker compose up` does after editing them).
    engine.stop("jellyfin");
    engine.remove("jellyfin");
    const secondId = engine.run({
      name: "jellyfin",
      healthcheck: true,
      labels: {
        "docker-mqtt-bridge.name": "Media server",
        "docker-mqtt-bridge.area": "Basement",
        "docker-mqtt-bridge.icon": "mdi:movie",
      },
    });
    await rec.waitForState(topics.containerState("jellyfin"), { id: secondId });
    await rec.waitFor("relabelled device", () =>
      String(rec.last(deviceTopic)).includes("Media server"),
    );
    const labelled = json(rec.last(deviceTopic));
    expect(discoveryProblems(PREFIX, deviceTopic, JSON.stringify(labelled))).toEqual([]);
    expect(labelled.device).toMatchObject({
      identifiers: ["dmb_nas__jellyfin"],
      name: "Media server",
      suggested_area: "Basement",
    });
    expect((plain.device as Record<string, unknown>).name).toBe("jellyfin");
    expect(plain.device).not.toHaveProperty("suggested_area");

    const ids = (p: Record<string, unknown>) =>
      Object.entries(p.components as Record<string, Record<string, unknown>>).map(
        ([key, c]) => `${key} ${String(c.unique_id)} ${String(c.default_entity_id)}`,
      );
    expect(ids(labelled)).toEqual(ids(plain));
    const icons = (p: Record<string, unknown>) =>
      Object.fromEntries(
        Object.entries(p.components as Record<string, Record<string, unknown>>).map(([k, c]) => [
          k,
          c.icon ?? null,
        ]),
      );
    expect(icons(labelled)).toEqual({
      ...icons(plain),
      running: "mdi:movie",
      status: "mdi:movie",
    });
    const ha = HaView.from(rec.messages);
    expect(ha.problems).toEqual([]);
    expect(ha.state("binary_sensor.jellyfin_running")).toBe("on");
  });

  it("docker-mqtt-bridge.enable=false hides a container entirely", async () => {
    const hidden = { "docker-mqtt-bridge.enable": "false" };
    h = await startHarness({
      env: BASE_ENV,
      before: (engine) => engine.seed([{ name: "web" }, { name: "secret-old", labels: hidden }]),
    });
    const { engine, recorder: rec, topics } = h;
    await engine.waitForEventStream();
    await rec.waitForState(topics.hostState(), { containers: 1 });
    engine.run({ name: "secret-new", labels: { ...hidden, ...media("db") } });
    engine.die("secret-old", 1);
    engine.run({ name: "web2" });
    await rec.waitForState(topics.containerState("web2"), { running: true });
    await rec.waitForState(topics.hostState(), { containers: 2 });
    const leaks = rec.messages.filter(
      (m) => m.topic.includes("secret") || m.payload.includes("secret"),
    );
    expect(leaks.map((m) => `${m.topic} ${m.payload.slice(0, 80)}`)).toEqual([]);
    expect(rec.messages.some((m) => m.topic.includes("/stacks/"))).toBe(false);
  });

  it("Compose one-off containers are hidden", async () => {
    h = await startHarness({ env: BASE_ENV, before: seedNas });
    const { engine, recorder: rec, topics } = h;
    await engine.waitForEventStream();
    await rec.waitForState(topics.stackState("media"), { containers: 2 });
    engine.run({
      name: "media-sonarr-run-0f1e2d3c4b5a",
      labels: { ...media("sonarr"), "com.docker.compose.oneoff": "True" },
    });
    engine.die("media-sonarr-run-0f1e2d3c4b5a", 0);
    engine.run({ name: "web" });
    await rec.waitForState(topics.containerState("web"), { running: true });
    await rec.waitForState(topics.hostState(), { containers: 4 });
    const leaks = rec.messages.filter(
      (m) => m.topic.includes("sonarr-run") || m.payload.includes("sonarr-run"),
    );
    expect(leaks.map((m) => `${m.topic} ${m.payload.slice(0, 80)}`)).toEqual([]);
    expect(json(rec.last(topics.stackState("media")))).toMatchObject({ containers: 2, running: 2 });
  });
});

describe("label values and names Home Assistant would trip over", () => {
  it("an icon that is not prefix:name is left out, with one warning per container and value", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(...String(chunk).split("\n").filter(Boolean));
        done();
      },
    });
    const bad = { "docker-mqtt-bridge.icon": "notanicon" };
    // The harness's own bridge (silent) makes way for one whose log is read.
    h = await startHarness({ env: { ...BASE_ENV, HA_DISCOVERY: "false" } });
    await h.engine.waitForEventStream({ count: 1 });
    await h.stopBridge();
    const { engine, recorder: rec, topics } = h;
    const { config } = loadConfig({
      argv: [],
      env: { DOCKER_HOST: engine.dockerHost, MQTT_URL: h.broker.url, ...BASE_ENV },
    });
    extra = await startService(config, createLogger("warn", sink), { cleanupSettleMs: 100 });
    await engine.waitForEventStream({ count: 2 });
    engine.run({ name: "web", image: "nginx:1", labels: bad });
    engine.run({ name: "db", image: "postgres:16", labels: bad });
    await rec.waitForState(topics.containerState("db"), { running: true });
    // Recreated with another image: its discovery is built again, the label is still wrong.
    engine.stop("web");
    engine.remove("web");
    engine.run({ name: "web", image: "nginx:2", labels: bad });
    const webDevice = topics.deviceDiscovery("dmb_nas__web");
    await rec.waitFor("web's new discovery", () => String(rec.last(webDevice)).includes("nginx:2"));
    const ha = HaView.from(rec.messages);
    expect(ha.problems).toEqual([]);
    expect(ha.entity("binary_sensor.web_running")?.config).not.toHaveProperty("icon");
    expect(ha.entity("sensor.db_status")?.config).not.toHaveProperty("icon");
    const warnings = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === "container label ignored")
      .map((l) => `${String(l.container)} ${String(l.label)}=${String(l.value)}`);
    expect(warnings.sort()).toEqual([
      "db docker-mqtt-bridge.icon=notanicon",
      "web docker-mqtt-bridge.icon=notanicon",
    ]);
  });

  it("enable=0, no and off hide a container as false does", async () => {
    const off = (v: string) => ({ "docker-mqtt-bridge.enable": v });
    h = await startHarness({
      env: BASE_ENV,
      before: (engine) =>
        engine.seed([
          { name: "web" },
          { name: "hidden-zero", labels: off("0") },
          { name: "hidden-no", labels: off(" No ") },
        ]),
    });
    const { engine, recorder: rec, topics } = h;
    await engine.waitForEventStream();
    engine.run({ name: "hidden-off", labels: off("OFF") });
    engine.run({ name: "web2" });
    await rec.waitForState(topics.containerState("web2"), { running: true });
    await rec.waitForState(topics.hostState(), { containers: 2 });
    const leaks = rec.messages.filter(
      (m) => m.topic.includes("hidden") || m.payload.includes("hidden"),
    );
    expect(leaks.map((m) => m.topic)).toEqual([]);
  });

  it("web.1, web-1 and web_1 get entity ids of their own, whatever order Home Assistant sees them in", async () => {
    const names = ["web.1", "web-1", "web_1", "site_web_1", "site-web-1"];
    h = await startHarness({
      env: BASE_ENV,
      before: (engine) => engine.seed(names.map((name) => ({ name }))),
    });
    const { recorder: rec, topics } = h;
    for (const name of names)
      await rec.waitForState(topics.containerState(name), { running: true });
    await rec.waitFor("five devices", () =>
      names.every(
        (n) => rec.last(topics.deviceDiscovery(topics.containerDeviceId(n))) !== undefined,
      ),
    );
    const ha = HaView.from(rec.messages);
    expect(ha.problems).toEqual([]);
    const running = [...ha.entities.keys()].filter((id) => id.endsWith("_running"));
    expect(running.filter((id) => id.startsWith("binary_sensor.")).length).toBeGreaterThanOrEqual(
      5,
    );
    const ids = names.map(
      (name) =>
        [...ha.entities.entries()].find(
          ([, e]) => e.key === "running" && e.device.name === name,
        )?.[0],
    );
    expect(new Set(ids).size).toBe(5);
    expect(ids[1]).toBe("binary_sensor.web_1_running");
    expect(ids[4]).toBe("binary_sensor.site_web_1_running");
    for (const id of ids) expect(id).toMatch(VALID_ENTITY_ID);
  });
});
