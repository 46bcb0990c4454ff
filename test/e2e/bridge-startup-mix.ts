// The start-up scenario shared by the MQTT 3.1.1 and MQTT 5 runs: five containers in five states
// exist before the bridge starts, and what Home Assistant and a fresh subscriber get is checked.

import { expect } from "vitest";
import type { Topics } from "../../src/homeassistant/topics.js";
import { haPayload } from "../helpers/ha-expand.js";
import type { Recorder } from "../helpers/recorder.js";
import {
  barrier,
  containerTopicsIn,
  containerTopicsOf,
  deviceTopic,
  type EngineEventLog,
  hostDeviceTopic,
  isOurs,
  lastRetained,
  ourRetained,
  parse,
  since,
} from "./bridge-kit.js";
import { type DockerApi, type E2EServices, waitFor } from "./services.js";

export const MIX = {
  running: "mix-web",
  exited: "mix-exit3",
  healthy: "mix-healthy",
  unhealthy: "mix-unhealthy",
  /** A dot is not allowed in Home Assistant ids: its topics and ids are sanitised. */
  paused: "mix.paused",
} as const;
const NAMES = Object.values(MIX);
const WITH_HEALTHCHECK: readonly string[] = [MIX.healthy, MIX.unhealthy];
const COMPOSE = { "com.docker.compose.project": "mix", "com.docker.compose.service": "web" };

async function healthOf(docker: DockerApi, name: string, want: string): Promise<void> {
  await waitFor(async () => (await docker.inspect(name)).State.Health?.Status === want, {
    timeoutMs: 10_000,
    what: `${name} to be ${want}`,
  });
}

/** Creates the five containers and waits until the engine reports each in its final state. */
export async function createStartupMix(docker: DockerApi): Promise<void> {
  const sleep = ["sleep", "600"];
  await Promise.all([
    docker.run({ name: MIX.running, cmd: sleep, labels: COMPOSE }),
    docker.run({ name: MIX.exited, cmd: ["sh", "-c", "exit 3"] }),
    docker.run({ name: MIX.healthy, cmd: sleep, healthCmd: "true", healthIntervalMs: 500 }),
    docker.run({ name: MIX.unhealthy, cmd: sleep, healthCmd: "false", healthIntervalMs: 500 }),
    docker.run({ name: MIX.paused, cmd: sleep }).then(() => docker.pause(MIX.paused)),
  ]);
  expect(await docker.waitForExit(MIX.exited)).toBe(3);
  await healthOf(docker, MIX.healthy, "healthy");
  await healthOf(docker, MIX.unhealthy, "unhealthy");
}

/** The state document a container of the mix must have, with ids and times from the engine. */
async function expectedState(docker: DockerApi, name: string): Promise<Record<string, unknown>> {
  const { Id, State, Config } = await docker.inspect(name);
  const common = {
    name,
    id: Id,
    image: Config.Image,
    oom_killed: false,
    started_at: State.StartedAt,
    finished_at: null,
    restart_count: 0,
    compose_project: null,
    compose_service: null,
    exit_code: null,
    running: true,
    status: "running",
    health: "none",
  };
  switch (name) {
    case MIX.running:
      return { ...common, compose_project: "mix", compose_service: "web" };
    case MIX.exited:
      return {
        ...common,
        status: "exited",
        running: false,
        exit_code: 3,
        finished_at: State.FinishedAt,
      };
    case MIX.healthy:
      return { ...common, health: "healthy" };
    case MIX.unhealthy:
      return { ...common, health: "unhealthy" };
    default:
      return { ...common, status: "paused", running: false };
  }
}

function expectDiscovery(topics: Topics, name: string, image: string, payload: string): void {
  const deviceId = topics.containerDeviceId(name);
  const config = haPayload(payload);
  expect(config).toMatchObject({
    device: {
      identifiers: [deviceId],
      name,
      manufacturer: "Docker",
      model: image,
      // A Compose container hangs below its stack's device, any other below the host's.
      via_device: name === MIX.running ? topics.stackDeviceId("mix") : topics.hostDeviceId(),
    },
    origin: { name: "docker-mqtt-bridge" },
    availability: [{ topic: topics.availability() }],
  });
  const components = config.components as Record<string, Record<string, unknown>>;
  const keys = Object.keys(components);
  expect(keys).toContain("running");
  // Health only for a container with a healthcheck.
  expect(keys.includes("health"), `${name} has a health entity`).toBe(
    WITH_HEALTHCHECK.includes(name),
  );
  for (const key of keys) {
    expect(components[key]?.unique_id, key).toBe(topics.uniqueId(deviceId, key));
  }
  for (const key of keys.filter((k) => k === "running" || k === "health")) {
    expect(components[key]).toMatchObject({
      platform: "binary_sensor",
      state_topic: topics.containerState(name),
    });
  }
}

/**
 * Waits for the bridge to show the mix, lets several healthcheck probes run (seen on the engine's
 * own event stream), then checks every retained document, the message count per container and
 * the view a fresh subscriber gets.
 */
export async function verifyStartup(
  ctx: E2EServices,
  docker: DockerApi,
  rec: Recorder,
  topics: Topics,
  engineEvents: EngineEventLog,
): Promise<void> {
  const expected = new Map<string, Record<string, unknown>>();
  for (const name of NAMES) expected.set(name, await expectedState(docker, name));
  for (const name of NAMES) {
    await rec.waitFor(`state and discovery of ${name}`, () => {
      return (
        rec.last(topics.containerState(name)) !== undefined &&
        rec.last(deviceTopic(topics, name)) !== undefined
      );
    });
  }
  await rec.waitFor("availability online", () => rec.last(topics.availability()) === "online");

  // Quiet period: three more probes of each healthcheck, then a barrier event.
  const from = engineEvents.events.length;
  for (const name of WITH_HEALTHCHECK) {
    await engineEvents.waitForCount(
      `3 probes of ${name}`,
      (e) => e.Action === "exec_die" && e.Actor.Attributes.name === name,
      3,
      from,
    );
  }
  await barrier(docker, rec, topics, MIX.running);

  for (const name of NAMES) {
    expect(parse(rec.last(topics.containerState(name))), name).toEqual(expected.get(name));
    expectDiscovery(topics, name, ctx.image, rec.last(deviceTopic(topics, name)) ?? "");
    const perContainer = [
      topics.containerState(name),
      deviceTopic(topics, name),
      topics.containerEvents(name),
    ].flatMap((t) => since(rec, 0, t));
    expect(perContainer.length, `messages for ${name}`).toBeLessThanOrEqual(3);
  }
  // Healthcheck exec noise is not published.
  const execTopics = ["exec_create", "exec_start", "exec_die"].map((a) =>
    topics.event("container", a),
  );
  expect(rec.messages.filter((m) => execTopics.includes(m.topic))).toEqual([]);

  const host = haPayload(rec.last(hostDeviceTopic(topics)));
  expect(host).toMatchObject({
    device: { identifiers: [topics.hostDeviceId()], name: topics.hostId },
    components: { engine: { platform: "binary_sensor", state_topic: topics.availability() } },
  });

  // A fresh subscriber gets the last value of every retained topic, and no other container.
  const retained = await ourRetained(ctx.mosquittoUrl, topics);
  expect(retained).toEqual(lastRetained(rec, topics));
  expect(containerTopicsIn(topics, retained.keys())).toEqual(containerTopicsOf(topics, NAMES));
  expect(retained.get(topics.availability())).toBe("online");
  expect(retained.has(hostDeviceTopic(topics))).toBe(true);
  expect(rec.messages.filter((m) => isOurs(topics, m.topic) && m.payload === "")).toEqual([]);
}

export { NAMES as MIX_NAMES };
