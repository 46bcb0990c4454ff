import { describe, expect, it } from "vitest";
import { containerInspectSchema, containerListSchema } from "../../src/docker/schemas.js";
import {
  hostDiscovery as hostDiscoveryOnWire,
  stackDiscovery as stackDiscoveryOnWire,
} from "../../src/homeassistant/aggregates.js";
import {
  type Component,
  containerDiscovery as containerDiscoveryOnWire,
  type DiscoveryContext,
  type DiscoveryMessage,
  type DiscoveryMode,
  isOwnDiscoveryPayload,
} from "../../src/homeassistant/discovery.js";
import type { LabelProblem } from "../../src/homeassistant/labels.js";
import { Topics } from "../../src/homeassistant/topics.js";
import type { ContainerRecord } from "../../src/state/model.js";
import { recordFromInspect, recordFromSummary } from "../../src/state/reducer.js";
import { expandKeys, expandLikeHa } from "../helpers/ha-expand.js";
import { discoveryProblems, entityIdOn, parseDiscovery } from "../helpers/ha-rules.js";
import { readJsonFixture } from "./fixtures.js";

// Home Assistant's discovery topic regex (homeassistant/components/mqtt/discovery.py), with the
// device-based form.
const HA_TOPIC =
  /^homeassistant\/(?:device\/[a-zA-Z0-9_-]+|\w+\/(?:[a-zA-Z0-9_-]+\/)?[a-zA-Z0-9_-]+)\/config$/;
const DEFAULT_ENTITY_ID = /^[a-z_]+\.[a-z0-9]+(_[a-z0-9]+)*$/;

/**
 * The messages with Home Assistant's abbreviations expanded (ha-expand.ts, its own table): the
 * assertions below read long keys; "the wire form" tests check the abbreviated payloads.
 */
function asHaReads(messages: DiscoveryMessage[]): DiscoveryMessage[] {
  return messages.map((m) => ({ topic: m.topic, payload: expandKeys(m.payload) }));
}

/** Device mode: the state topic most components read is sent once, at device level. */
function sharedState(
  components: Record<string, Record<string, unknown>>,
  stateTopic: string,
): Record<string, Record<string, unknown>> {
  return Object.fromEntries(
    Object.entries(components).map(([key, { state_topic, ...rest }]) => [
      key,
      state_topic === stateTopic ? rest : { ...rest, state_topic },
    ]),
  );
}
const containerDiscovery = (...a: Parameters<typeof containerDiscoveryOnWire>) =>
  asHaReads(containerDiscoveryOnWire(...a));
const hostDiscovery = (...a: Parameters<typeof hostDiscoveryOnWire>) =>
  asHaReads(hostDiscoveryOnWire(...a));
const stackDiscovery = (...a: Parameters<typeof stackDiscoveryOnWire>) =>
  asHaReads(stackDiscoveryOnWire(...a));

function topicsFor(hostId: string): Topics {
  return new Topics({ baseTopic: "docker", hostId, discoveryPrefix: "homeassistant" });
}

function ctxFor(hostId: string, mode: DiscoveryMode, extra: Partial<DiscoveryContext> = {}) {
  return { topics: topicsFor(hostId), mode, version: "1.2.3", ...extra } as DiscoveryContext;
}

function healthyRecord(): ContainerRecord {
  const record = recordFromInspect(
    containerInspectSchema.parse(readJsonFixture("api-inspect-probe-healthy.json")),
  );
  if (!record) throw new Error("probe-healthy fixture gave no record");
  return record;
}

function sleeperRecord(): ContainerRecord {
  const list = containerListSchema.parse(readJsonFixture("api-containers-all.json"));
  const summary = list.find((s) => s.Names?.[0] === "/probe-sleeper");
  const record = summary && recordFromSummary(summary);
  if (!record) throw new Error("probe-sleeper fixture gave no record");
  return record;
}

/** Every value template renders None (unknown) for the empty payload that clears a state. */
const guarded = (template: string) =>
  template.startsWith("{{ ")
    ? `{{ (${template.slice(3, -3)}) if value else None }}`
    : `{% if value %}${template}{% else %}None{% endif %}`;
const ATTRIBUTES_TEMPLATE = "{{ value or '{}' }}";
const ORIGIN = { name: "docker-mqtt-bridge", sw_version: "1.2.3" };
const AVAILABILITY = [{ topic: "docker/nas/availability" }];
const STATUSES = ["created", "running", "paused", "restarting", "removing", "exited", "dead"];
const EVENT_TYPES = [
  "create",
  "start",
  "restart",
  "stop",
  "die",
  "kill",
  "oom",
  "pause",
  "unpause",
  "healthy",
  "unhealthy",
  "destroy",
];

/** The components of probe-healthy on host "nas", as Home Assistant should receive them. */
const HEALTHY_COMPONENTS = {
  running: {
    platform: "binary_sensor",
    name: "Running",
    device_class: "running",
    value_template: guarded("{{ 'ON' if value_json.running else 'OFF' }}"),
    unique_id: "dmb_nas__probe-healthy_running",
    default_entity_id: "binary_sensor.probe_healthy_running",
    object_id: "probe_healthy_running",
    state_topic: "docker/nas/containers/probe-healthy/state",
    json_attributes_topic: "docker/nas/containers/probe-healthy/state",
    json_attributes_template: ATTRIBUTES_TEMPLATE,
  },
  health: {
    platform: "binary_sensor",
    name: "Health",
    device_class: "problem",
    value_template: guarded(
      "{% if value_json.running and value_json.health == 'unhealthy' %}ON" +
        "{% elif value_json.running and value_json.health == 'healthy' %}OFF{% else %}None{% endif %}",
    ),
    unique_id: "dmb_nas__probe-healthy_health",
    default_entity_id: "binary_sensor.probe_healthy_health",
    object_id: "probe_healthy_health",
    state_topic: "docker/nas/containers/probe-healthy/state",
  },
  status: {
    platform: "sensor",
    name: "Status",
    device_class: "enum",
    options: STATUSES,
    value_template: guarded("{{ value_json.status }}"),
    unique_id: "dmb_nas__probe-healthy_status",
    default_entity_id: "sensor.probe_healthy_status",
    object_id: "probe_healthy_status",
    state_topic: "docker/nas/containers/probe-healthy/state",
  },
  started: {
    platform: "sensor",
    name: "Started",
    device_class: "timestamp",
    entity_category: "diagnostic",
    value_template: guarded("{{ value_json.started_at or None }}"),
    unique_id: "dmb_nas__probe-healthy_started",
    default_entity_id: "sensor.probe_healthy_started",
    object_id: "probe_healthy_started",
    state_topic: "docker/nas/containers/probe-healthy/state",
  },
  exit_code: {
    platform: "sensor",
    name: "Exit code",
    entity_category: "diagnostic",
    icon: "mdi:numeric",
    value_template: guarded(
      "{{ value_json.exit_code if value_json.exit_code is not none else None }}",
    ),
    unique_id: "dmb_nas__probe-healthy_exit_code",
    default_entity_id: "sensor.probe_healthy_exit_code",
    object_id: "probe_healthy_exit_code",
    state_topic: "docker/nas/containers/probe-healthy/state",
  },
  restart_count: {
    platform: "sensor",
    name: "Restart count",
    entity_category: "diagnostic",
    icon: "mdi:restart",
    enabled_by_default: false,
    value_template: guarded("{{ value_json.restart_count }}"),
    unique_id: "dmb_nas__probe-healthy_restart_count",
    default_entity_id: "sensor.probe_healthy_restart_count",
    object_id: "probe_healthy_restart_count",
    state_topic: "docker/nas/containers/probe-healthy/state",
  },
  image: {
    platform: "sensor",
    name: "Image",
    entity_category: "diagnostic",
    icon: "mdi:layers",
    enabled_by_default: false,
    value_template: guarded("{{ value_json.image }}"),
    unique_id: "dmb_nas__probe-healthy_image",
    default_entity_id: "sensor.probe_healthy_image",
    object_id: "probe_healthy_image",
    state_topic: "docker/nas/containers/probe-healthy/state",
  },
  oom_killed: {
    platform: "binary_sensor",
    name: "OOM killed",
    device_class: "problem",
    entity_category: "diagnostic",
    enabled_by_default: false,
    value_template: guarded("{{ 'ON' if value_json.oom_killed else 'OFF' }}"),
    unique_id: "dmb_nas__probe-healthy_oom_killed",
    default_entity_id: "binary_sensor.probe_healthy_oom_killed",
    object_id: "probe_healthy_oom_killed",
    state_topic: "docker/nas/containers/probe-healthy/state",
  },
  events: {
    platform: "event",
    name: "Events",
    event_types: EVENT_TYPES,
    unique_id: "dmb_nas__probe-healthy_events",
    default_entity_id: "event.probe_healthy_events",
    object_id: "probe_healthy_events",
    state_topic: "docker/nas/containers/probe-healthy/event",
  },
};

/** probe-sleeper has no healthcheck: no health entity, ids from its own name. */
const SLEEPER_COMPONENTS = {
  running: {
    platform: "binary_sensor",
    name: "Running",
    device_class: "running",
    value_template: guarded("{{ 'ON' if value_json.running else 'OFF' }}"),
    unique_id: "dmb_nas__probe-sleeper_running",
    default_entity_id: "binary_sensor.probe_sleeper_running",
    object_id: "probe_sleeper_running",
    state_topic: "docker/nas/containers/probe-sleeper/state",
    json_attributes_topic: "docker/nas/containers/probe-sleeper/state",
    json_attributes_template: ATTRIBUTES_TEMPLATE,
  },
  status: {
    platform: "sensor",
    name: "Status",
    device_class: "enum",
    options: STATUSES,
    value_template: guarded("{{ value_json.status }}"),
    unique_id: "dmb_nas__probe-sleeper_status",
    default_entity_id: "sensor.probe_sleeper_status",
    object_id: "probe_sleeper_status",
    state_topic: "docker/nas/containers/probe-sleeper/state",
  },
  started: {
    platform: "sensor",
    name: "Started",
    device_class: "timestamp",
    entity_category: "diagnostic",
    value_template: guarded("{{ value_json.started_at or None }}"),
    unique_id: "dmb_nas__probe-sleeper_started",
    default_entity_id: "sensor.probe_sleeper_started",
    object_id: "probe_sleeper_started",
    state_topic: "docker/nas/containers/probe-sleeper/state",
  },
  exit_code: {
    platform: "sensor",
    name: "Exit code",
    entity_category: "diagnostic",
    icon: "mdi:numeric",
    value_template: guarded(
      "{{ value_json.exit_code if value_json.exit_code is not none else None }}",
    ),
    unique_id: "dmb_nas__probe-sleeper_exit_code",
    default_entity_id: "sensor.probe_sleeper_exit_code",
    object_id: "probe_sleeper_exit_code",
    state_topic: "docker/nas/containers/probe-sleeper/state",
  },
  restart_count: {
    platform: "sensor",
    name: "Restart count",
    entity_category: "diagnostic",
    icon: "mdi:restart",
    enabled_by_default: false,
    value_template: guarded("{{ value_json.restart_count }}"),
    unique_id: "dmb_nas__probe-sleeper_restart_count",
    default_entity_id: "sensor.probe_sleeper_restart_count",
    object_id: "probe_sleeper_restart_count",
    state_topic: "docker/nas/containers/probe-sleeper/state",
  },
  image: {
    platform: "sensor",
    name: "Image",
    entity_category: "diagnostic",
    icon: "mdi:layers",
    enabled_by_default: false,
    value_template: guarded("{{ value_json.image }}"),
    unique_id: "dmb_nas__probe-sleeper_image",
    default_entity_id: "sensor.probe_sleeper_image",
    object_id: "probe_sleeper_image",
    state_topic: "docker/nas/containers/probe-sleeper/state",
  },
  oom_killed: {
    platform: "binary_sensor",
    name: "OOM killed",
    device_class: "problem",
    entity_category: "diagnostic",
    enabled_by_default: false,
    value_template: guarded("{{ 'ON' if value_json.oom_killed else 'OFF' }}"),
    unique_id: "dmb_nas__probe-sleeper_oom_killed",
    default_entity_id: "binary_sensor.probe_sleeper_oom_killed",
    object_id: "probe_sleeper_oom_killed",
    state_topic: "docker/nas/containers/probe-sleeper/state",
  },
  events: {
    platform: "event",
    name: "Events",
    event_types: EVENT_TYPES,
    unique_id: "dmb_nas__probe-sleeper_events",
    default_entity_id: "event.probe_sleeper_events",
    object_id: "probe_sleeper_events",
    state_topic: "docker/nas/containers/probe-sleeper/event",
  },
};

const HEALTHY_DEVICE = {
  identifiers: ["dmb_nas__probe-healthy"],
  name: "probe-healthy",
  manufacturer: "Docker",
  model: "probe/busybox:1",
  via_device: "dmb_nas",
};

const SLEEPER_DEVICE = {
  identifiers: ["dmb_nas__probe-sleeper"],
  name: "probe-sleeper",
  manufacturer: "Docker",
  model: "probe/busybox:1",
  via_device: "dmb_nas",
};

/** Per-component discovery: each component on its own topic, platform in the topic. */
function perComponent(
  deviceId: string,
  device: Record<string, unknown>,
  components: Record<string, { platform: string } & Record<string, unknown>>,
  availability: boolean,
): DiscoveryMessage[] {
  return Object.entries(components).map(([key, { platform, ...config }]) => ({
    topic: `homeassistant/${platform}/${deviceId}/${key}/config`,
    payload: {
      ...config,
      device,
      origin: ORIGIN,
      ...(availability ? { availability: AVAILABILITY } : {}),
      qos: 1,
    },
  }));
}

/** Every key of every object in a JSON value, at any depth. */
function allKeys(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(allKeys);
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).flatMap(([k, v]) => [k, ...allKeys(v)]);
  }
  return [];
}

interface Entity {
  platform: string;
  config: Record<string, unknown>;
}

/** The entities a message announces: from `components`, or the message itself per component. */
function entitiesOf(message: DiscoveryMessage): Entity[] {
  const parts = message.topic.split("/");
  if (parts[1] === "device") {
    // As Home Assistant sets them up: with the device payload's shared options.
    const cmps = expandLikeHa(message.payload, true).components as Record<
      string,
      Record<string, unknown>
    >;
    return Object.values(cmps).map((c) => ({ platform: String(c.platform), config: c }));
  }
  return [{ platform: String(parts[1]), config: message.payload }];
}

/** Checks a message against what Home Assistant requires, per PROTOCOLS.md. */
function expectValidForHomeAssistant(message: DiscoveryMessage): void {
  expect(message.topic).toMatch(HA_TOPIC);
  const { payload } = message;
  // object_id only as the Home Assistant 2024.12-2025.9 twin of default_entity_id.
  expect(allKeys(payload)).not.toContain("obj_id");
  const origin = payload.origin as { name?: unknown };
  expect(typeof origin.name === "string" && origin.name !== "").toBe(true);
  const device = payload.device as { identifiers?: unknown; name?: unknown };
  expect(Array.isArray(device.identifiers) && device.identifiers.length > 0).toBe(true);
  expect(typeof device.name === "string" && device.name !== "").toBe(true);
  for (const { platform, config } of entitiesOf(message)) {
    expect(["binary_sensor", "sensor", "event"]).toContain(platform);
    expect(typeof config.unique_id).toBe("string");
    expect(typeof config.state_topic).toBe("string");
    const entityId = String(config.default_entity_id);
    expect(entityId.startsWith(`${platform}.`)).toBe(true);
    expect(entityId).toMatch(DEFAULT_ENTITY_ID);
    expect(config.object_id).toBe(entityId.slice(platform.length + 1));
    // availability (a list) and availability_topic exclude each other.
    expect("availability" in config && "availability_topic" in config).toBe(false);
  }
}

describe("container discovery, device mode", () => {
  const ctx = ctxFor("nas", "device");

  it("announces a container with a healthcheck as one device with all its components", () => {
    expect(containerDiscovery(ctx, healthyRecord())).toEqual([
      {
        topic: "homeassistant/device/dmb_nas__probe-healthy/config",
        payload: {
          device: HEALTHY_DEVICE,
          origin: ORIGIN,
          availability: AVAILABILITY,
          state_topic: "docker/nas/containers/probe-healthy/state",
          components: sharedState(HEALTHY_COMPONENTS, "docker/nas/containers/probe-healthy/state"),
          qos: 1,
        },
      },
    ]);
  });

  it("announces a container without a healthcheck without a health entity", () => {
    expect(containerDiscovery(ctx, sleeperRecord())).toEqual([
      {
        topic: "homeassistant/device/dmb_nas__probe-sleeper/config",
        payload: {
          device: SLEEPER_DEVICE,
          origin: ORIGIN,
          availability: AVAILABILITY,
          state_topic: "docker/nas/containers/probe-sleeper/state",
          components: sharedState(SLEEPER_COMPONENTS, "docker/nas/containers/probe-sleeper/state"),
          qos: 1,
        },
      },
    ]);
  });

  it("removes a dropped component by sending it with its platform only", () => {
    const health: Component = { key: "health", platform: "binary_sensor", config: {} };
    const [message] = containerDiscovery(ctx, sleeperRecord(), [health]);
    expect(message).toEqual({
      topic: "homeassistant/device/dmb_nas__probe-sleeper/config",
      payload: {
        device: SLEEPER_DEVICE,
        origin: ORIGIN,
        availability: AVAILABILITY,
        state_topic: "docker/nas/containers/probe-sleeper/state",
        components: {
          ...sharedState(SLEEPER_COMPONENTS, "docker/nas/containers/probe-sleeper/state"),
          health: { platform: "binary_sensor" },
        },
        qos: 1,
      },
    });
  });

  it("sanitises a name Home Assistant would reject, in topics and ids alike", () => {
    const [message] = containerDiscovery(ctx, { ...sleeperRecord(), name: "web.1" });
    if (!message) throw new Error("no message");
    expect(message.topic).toMatch(/^homeassistant\/device\/dmb_nas__web_1_[0-9a-f]{8}\/config$/);
    const deviceId = message.topic.split("/")[2];
    const components = message.payload.components as Record<string, Record<string, unknown>>;
    expect(message.payload.device).toMatchObject({ identifiers: [deviceId], name: "web.1" });
    expect(components.running).toMatchObject({
      unique_id: `${deviceId}_running`,
      default_entity_id: `binary_sensor.${deviceId?.slice("dmb_nas__".length)}_running`,
    });
    // Read by every component from the device level.
    expect(message.payload.state_topic).toBe(
      `docker/nas/containers/${deviceId?.slice("dmb_nas__".length)}/state`,
    );
    expectValidForHomeAssistant(message);
  });

  it("takes device name, area and icon from the container's labels", () => {
    const record = {
      ...sleeperRecord(),
      labels: {
        "docker-mqtt-bridge.name": "Media server",
        "docker-mqtt-bridge.area": "Attic",
        "docker-mqtt-bridge.icon": "mdi:movie",
      },
    };
    const [message] = containerDiscovery(ctx, record);
    const components = message?.payload.components as Record<string, Record<string, unknown>>;
    expect(message?.payload.device).toEqual({
      ...SLEEPER_DEVICE,
      name: "Media server",
      suggested_area: "Attic",
    });
    const own = sharedState(SLEEPER_COMPONENTS, "docker/nas/containers/probe-sleeper/state");
    expect(components.running).toEqual({
      ...own.running,
      icon: "mdi:movie",
      object_id: "probe_sleeper_running",
    });
    expect(components.status).toEqual({
      ...own.status,
      icon: "mdi:movie",
      object_id: "probe_sleeper_status",
    });
    expect(components.exit_code).toEqual({
      ...own.exit_code,
      object_id: "probe_sleeper_exit_code",
    });
  });

  it("hangs a Compose container below its stack's device, or the host's with stacks off", () => {
    const record = { ...sleeperRecord(), compose_project: "media" };
    expect(containerDiscovery(ctx, record)[0]?.payload.device).toEqual({
      ...SLEEPER_DEVICE,
      via_device: "dmb_nas__media__stack",
    });
    const flat = ctxFor("nas", "device", { stacks: false });
    expect(containerDiscovery(flat, record)[0]?.payload.device).toEqual(SLEEPER_DEVICE);
  });

  it("announces only the enabled entity groups", () => {
    const few = ctxFor("nas", "device", { groups: new Set(["running", "health"] as const) });
    const own = sharedState(HEALTHY_COMPONENTS, "docker/nas/containers/probe-healthy/state");
    expect(containerDiscovery(few, healthyRecord())[0]?.payload.components).toEqual({
      running: own.running,
      health: own.health,
    });
  });
});

describe("container discovery, component mode", () => {
  const ctx = ctxFor("nas", "component");

  it("announces each entity of a container with a healthcheck on its own topic", () => {
    expect(containerDiscovery(ctx, healthyRecord())).toEqual(
      perComponent("dmb_nas__probe-healthy", HEALTHY_DEVICE, HEALTHY_COMPONENTS, true),
    );
    expect(containerDiscovery(ctx, healthyRecord()).map((m) => m.topic)).toEqual([
      "homeassistant/binary_sensor/dmb_nas__probe-healthy/running/config",
      "homeassistant/binary_sensor/dmb_nas__probe-healthy/health/config",
      "homeassistant/sensor/dmb_nas__probe-healthy/status/config",
      "homeassistant/sensor/dmb_nas__probe-healthy/started/config",
      "homeassistant/sensor/dmb_nas__probe-healthy/exit_code/config",
      "homeassistant/sensor/dmb_nas__probe-healthy/restart_count/config",
      "homeassistant/sensor/dmb_nas__probe-healthy/image/config",
      "homeassistant/binary_sensor/dmb_nas__probe-healthy/oom_killed/config",
      "homeassistant/event/dmb_nas__probe-healthy/events/config",
    ]);
  });

  it("announces a container without a healthcheck without a health topic", () => {
    const messages = containerDiscovery(ctx, sleeperRecord());
    expect(messages).toEqual(
      perComponent("dmb_nas__probe-sleeper", SLEEPER_DEVICE, SLEEPER_COMPONENTS, true),
    );
    expect(messages[0]).toEqual({
      topic: "homeassistant/binary_sensor/dmb_nas__probe-sleeper/running/config",
      payload: {
        name: "Running",
        device_class: "running",
        value_template: guarded("{{ 'ON' if value_json.running else 'OFF' }}"),
        unique_id: "dmb_nas__probe-sleeper_running",
        default_entity_id: "binary_sensor.probe_sleeper_running",
        object_id: "probe_sleeper_running",
        state_topic: "docker/nas/containers/probe-sleeper/state",
        json_attributes_topic: "docker/nas/containers/probe-sleeper/state",
        json_attributes_template: ATTRIBUTES_TEMPLATE,
        device: SLEEPER_DEVICE,
        origin: ORIGIN,
        availability: AVAILABILITY,
        qos: 1,
      },
    });
  });
});

const HOST = { name: "nas", engineVersion: "20.10.24+dfsg1", apiVersion: "1.41" };

function countSensor(key: string, name: string, icon: string) {
  return {
    platform: "sensor",
    name,
    state_class: "measurement",
    value_template: guarded(`{{ value_json.${key} }}`),
    icon,
    unique_id: `dmb_nas_${key}`,
    default_entity_id: `sensor.nas_${key}`,
    object_id: `nas_${key}`,
    state_topic: "docker/nas/state",
    availability: AVAILABILITY,
  };
}

const HOST_DEVICE = {
  identifiers: ["dmb_nas"],
  name: "nas",
  manufacturer: "Docker",
  model: "Docker Engine",
  sw_version: "20.10.24+dfsg1",
};

const HOST_COMPONENTS = {
  engine: {
    platform: "binary_sensor",
    name: "Engine",
    device_class: "connectivity",
    state_topic: "docker/nas/availability",
    payload_on: "online",
    payload_off: "offline",
    unique_id: "dmb_nas_engine",
    default_entity_id: "binary_sensor.nas_engine",
    object_id: "nas_engine",
  },
  containers: countSensor("containers", "Containers", "mdi:docker"),
  running: countSensor("running", "Running", "mdi:play-circle"),
  paused: countSensor("paused", "Paused", "mdi:pause-circle"),
  stopped: countSensor("stopped", "Stopped", "mdi:stop-circle"),
  unhealthy: countSensor("unhealthy", "Unhealthy", "mdi:alert-circle"),
  engine_version: {
    platform: "sensor",
    name: "Engine version",
    entity_category: "diagnostic",
    value_template: guarded("{{ value_json.engine_version }}"),
    unique_id: "dmb_nas_engine_version",
    default_entity_id: "sensor.nas_engine_version",
    object_id: "nas_engine_version",
    state_topic: "docker/nas/state",
    availability: AVAILABILITY,
  },
  api_version: {
    platform: "sensor",
    name: "API version",
    entity_category: "diagnostic",
    value_template: guarded("{{ value_json.api_version }}"),
    unique_id: "dmb_nas_api_version",
    default_entity_id: "sensor.nas_api_version",
    object_id: "nas_api_version",
    state_topic: "docker/nas/state",
    availability: AVAILABILITY,
  },
};

describe("host discovery", () => {
  it("device mode: the engine link stays available, the counts go unavailable with it", () => {
    expect(hostDiscovery(ctxFor("nas", "device"), HOST)).toEqual([
      {
        topic: "homeassistant/device/dmb_nas/config",
        payload: {
          device: HOST_DEVICE,
          origin: ORIGIN,
          state_topic: "docker/nas/state",
          components: sharedState(HOST_COMPONENTS, "docker/nas/state"),
          qos: 1,
        },
      },
    ]);
  });

  it("component mode: one topic per entity, the same configs", () => {
    expect(hostDiscovery(ctxFor("nas", "component"), HOST)).toEqual(
      perComponent("dmb_nas", HOST_DEVICE, HOST_COMPONENTS, false),
    );
  });

  it("leaves sw_version out when the engine version is unknown", () => {
    const [message] = hostDiscovery(ctxFor("nas", "device"), { ...HOST, engineVersion: "" });
    expect(message?.payload.device).toEqual({
      identifiers: ["dmb_nas"],
      name: "nas",
      manufacturer: "Docker",
      model: "Docker Engine",
    });
  });
});

/** Everything one bridge announces for a host with these containers and a stack. */
function everything(hostId: string, mode: DiscoveryMode): DiscoveryMessage[] {
  const ctx = ctxFor(hostId, mode);
  const base = sleeperRecord();
  const records: ContainerRecord[] = [
    healthyRecord(),
    base,
    { ...base, name: "web.1" },
    { ...base, name: "web_1" },
    { ...base, name: "web-1" },
    { ...base, name: "media", compose_project: "media" },
    { ...base, name: "media_stack" },
    { ...base, name: "x" },
  ];
  return [
    ...hostDiscovery(ctx, { ...HOST, name: hostId }),
    ...stackDiscovery(ctx, "media"),
    ...records.flatMap((r) => containerDiscovery(ctx, r)),
  ];
}

describe("against Home Assistant's rules", () => {
  for (const mode of ["device", "component"] as const) {
    it(`every ${mode}-mode message is one Home Assistant accepts`, () => {
      const messages = everything("nas", mode);
      expect(messages.length).toBeGreaterThan(0);
      for (const message of messages) expectValidForHomeAssistant(message);
    });

    it(`unique ids, device ids and topics are unique across two hosts with the same containers (${mode})`, () => {
      const messages = [...everything("nas", mode), ...everything("nas2", mode)];
      const uniqueIds = messages.flatMap((m) => entitiesOf(m).map((e) => e.config.unique_id));
      expect(uniqueIds.length).toBeGreaterThan(100);
      expect(new Set(uniqueIds).size).toBe(uniqueIds.length);
      const topics = messages.map((m) => m.topic);
      expect(new Set(topics).size).toBe(topics.length);
      const devices = new Set(
        messages.map((m) =>
          JSON.stringify((m.payload.device as { identifiers: string[] }).identifiers),
        ),
      );
      // host, stack and 8 containers, on each of two hosts
      expect(devices.size).toBe(20);
    });
  }
});

describe("isOwnDiscoveryPayload", () => {
  const nas = ctxFor("nas", "device");

  it("recognises what this bridge published for its host, in both modes", () => {
    for (const mode of ["device", "component"] as const) {
      for (const message of everything("nas", mode)) {
        expect(isOwnDiscoveryPayload(nas, JSON.stringify(message.payload)), message.topic).toBe(
          true,
        );
      }
    }
  });

  it("does not claim another host's payloads, even when its id starts the same", () => {
    for (const host of ["nas2", "nas_2", "na", "nas-2"]) {
      for (const message of everything(host, "device")) {
        expect(isOwnDiscoveryPayload(nas, JSON.stringify(message.payload)), host).toBe(false);
      }
    }
  });

  it("does not claim foreign or broken payloads", () => {
    const foreign = [
      JSON.stringify({
        device: { identifiers: ["zigbee2mqtt_0x00158d0001"], name: "Lamp" },
        origin: { name: "Zigbee2MQTT" },
        components: {},
      }),
      JSON.stringify({ device: { identifiers: ["dmb_nas"] }, origin: { name: "other-bridge" } }),
      JSON.stringify({ device: { identifiers: ["dmb_nas"] } }),
      JSON.stringify({ origin: { name: "docker-mqtt-bridge" } }),
      JSON.stringify({
        device: { identifiers: "dmb_nas" },
        origin: { name: "docker-mqtt-bridge" },
      }),
      "",
      "{",
      "null",
      "[]",
      '"dmb_nas"',
    ];
    for (const payload of foreign) expect(isOwnDiscoveryPayload(nas, payload), payload).toBe(false);
  });
});

describe("Topics", () => {
  const t = topicsFor("nas");

  it("builds every state and event topic of a host", () => {
    expect(t.hostId).toBe("nas");
    expect(t.availability()).toBe("docker/nas/availability");
    expect(t.hostState()).toBe("docker/nas/state");
    expect(t.containerState("web")).toBe("docker/nas/containers/web/state");
    expect(t.containerState("web.1")).toMatch(
      /^docker\/nas\/containers\/web_1_[0-9a-f]{8}\/state$/,
    );
    expect(t.containerEvents("web")).toBe("docker/nas/containers/web/event");
    expect(t.allContainerStates()).toBe("docker/nas/containers/+/state");
    expect(t.stackState("media")).toBe("docker/nas/stacks/media/state");
    expect(t.allStackStates()).toBe("docker/nas/stacks/+/state");
    expect(t.event("container", "health_status")).toBe("docker/nas/events/container/health_status");
  });

  it("never lets a name add or wildcard a topic level", () => {
    for (const name of ["a/b", "a+b", "a#b", "+", "#", "/"]) {
      const topic = t.containerState(name);
      expect(topic.split("/")).toHaveLength(5);
      expect(topic).not.toMatch(/[+#]/);
    }
  });

  it("builds device ids, unique ids, entity ids and discovery topics", () => {
    expect(t.hostDeviceId()).toBe("dmb_nas");
    expect(t.containerDeviceId("web")).toBe("dmb_nas__web");
    expect(t.stackDeviceId("media")).toBe("dmb_nas__media__stack");
    expect(t.uniqueId("dmb_nas__web", "running")).toBe("dmb_nas__web_running");
    expect(t.defaultEntityId("binary_sensor", "Web.1", "running")).toBe(
      "binary_sensor.web_1_running",
    );
    expect(t.deviceDiscovery("dmb_nas__web")).toBe("homeassistant/device/dmb_nas__web/config");
    expect(t.componentDiscovery("sensor", "dmb_nas__web", "status")).toBe(
      "homeassistant/sensor/dmb_nas__web/status/config",
    );
    expect(t.discoveryWildcards()).toEqual([
      "homeassistant/device/+/config",
      "homeassistant/+/+/+/config",
    ]);
  });

  it("uses the configured base topic and discovery prefix", () => {
    const custom = new Topics({ baseTopic: "home/docker", hostId: "pi", discoveryPrefix: "ha" });
    expect(custom.availability()).toBe("home/docker/pi/availability");
    expect(custom.deviceDiscovery("dmb_pi")).toBe("ha/device/dmb_pi/config");
    expect(custom.discoveryWildcards()).toEqual(["ha/device/+/config", "ha/+/+/+/config"]);
  });

  it("tells which discovery topics are devices of this host", () => {
    expect(t.ownDeviceOf("homeassistant/device/dmb_nas/config")).toBe("dmb_nas");
    expect(t.ownDeviceOf("homeassistant/device/dmb_nas__web/config")).toBe("dmb_nas__web");
    expect(t.ownDeviceOf("homeassistant/sensor/dmb_nas__web/status/config")).toBe("dmb_nas__web");
    expect(t.ownDeviceOf("homeassistant/device/dmb_nas2__web/config")).toBeUndefined();
    expect(t.ownDeviceOf("homeassistant/device/dmb_na/config")).toBeUndefined();
    expect(t.ownDeviceOf("homeassistant/sensor/zigbee_lamp/config")).toBeUndefined();
    expect(t.ownDeviceOf("other/device/dmb_nas/config")).toBeUndefined();
    expect(t.ownDeviceOf("homeassistant/device/dmb_nas/state")).toBeUndefined();
  });
});

describe("entity ids", () => {
  const ctx = ctxFor("nas", "device");
  const entityIds = (ctx: DiscoveryContext, record: ContainerRecord) =>
    containerDiscovery(ctx, record).flatMap((m) =>
      parseDiscovery("homeassistant", m.topic, m.payload).entities.map((e) => e.config),
    );
  const runningId = (name: string) =>
    entityIds(ctx, { ...sleeperRecord(), name }).find((c) => c.name === "Running")
      ?.default_entity_id;

  it("gives names that differ only in punctuation or case their own ids, and keeps common ones readable", () => {
    const names = ["web.1", "web-1", "web_1", "Web-1", "site_web_1", "site-web-1", "web"];
    const ids = names.map(runningId);
    expect(new Set(ids).size).toBe(names.length);
    expect(runningId("web")).toBe("binary_sensor.web_running");
    expect(runningId("site-web-1")).toBe("binary_sensor.site_web_1_running");
    expect(runningId("web-1")).toBe("binary_sensor.web_1_running");
    expect(runningId("web_1")).toMatch(/^binary_sensor\.web_1_[0-9a-f]{8}_running$/);
    expect(runningId("site_web_1")).toMatch(/^binary_sensor\.site_web_1_[0-9a-f]{8}_running$/);
  });

  it("names every entity alike on each Home Assistant version the README claims", () => {
    // Device discovery: 2024.12 on (object_id until 2026.3, default_entity_id from 2025.10);
    // component discovery also before (the event entity exists from 2023.8).
    const claims: Array<[DiscoveryMode, string[]]> = [
      ["device", ["2024.12", "2025.9", "2025.10", "2026.3", "2026.4", "2026.11"]],
      ["component", ["2023.8", "2024.11", "2025.9", "2025.10", "2026.4"]],
    ];
    const record = {
      ...healthyRecord(),
      name: "web.1",
      labels: { "docker-mqtt-bridge.name": "Media server" },
    };
    for (const [mode, versions] of claims) {
      const messages = containerDiscovery(ctxFor("nas", mode), record);
      const entities = messages.flatMap(
        (m) => parseDiscovery("homeassistant", m.topic, m.payload).entities,
      );
      expect(entities.length).toBeGreaterThan(5);
      for (const entity of entities) {
        const wanted = String(entity.config.default_entity_id);
        for (const version of versions)
          expect(`${version} ${entityIdOn(version, entity)}`).toBe(`${version} ${wanted}`);
      }
      for (const m of messages)
        expect(discoveryProblems("homeassistant", m.topic, JSON.stringify(m.payload))).toEqual([]);
    }
  });
});

describe("label values Home Assistant would reject", () => {
  it("leaves out an icon that is not prefix:name, and reports it", () => {
    const problems: LabelProblem[] = [];
    const ctx = ctxFor("nas", "device", { onLabelProblem: (p) => problems.push(p) });
    const record = {
      ...sleeperRecord(),
      labels: { "docker-mqtt-bridge.icon": "notanicon", "docker-mqtt-bridge.area": "Attic" },
    };
    const [message] = containerDiscovery(ctx, record);
    if (!message) throw new Error("no message");
    expect(
      discoveryProblems("homeassistant", message.topic, JSON.stringify(message.payload)),
    ).toEqual([]);
    const components = message.payload.components as Record<string, Record<string, unknown>>;
    const own = sharedState(SLEEPER_COMPONENTS, "docker/nas/containers/probe-sleeper/state");
    expect(components.running).toEqual(own.running);
    expect(components.status).toEqual(own.status);
    expect(message.payload.device).toMatchObject({ suggested_area: "Attic" });
    expect(problems).toEqual([
      {
        container: "probe-sleeper",
        label: "docker-mqtt-bridge.icon",
        value: "notanicon",
        reason: expect.stringContaining("prefix:name"),
      },
    ]);
    problems.length = 0;
    containerDiscovery(ctx, { ...record, labels: { "docker-mqtt-bridge.icon": "mdi:movie" } });
    expect(problems).toEqual([]);
  });
});
