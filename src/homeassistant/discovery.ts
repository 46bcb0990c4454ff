// Pure mappers from container records to Home Assistant discovery messages. Every topic and id
// comes from Topics, so removal always clears exactly what was announced.
import type { ContainerRecord } from "../state/model.js";
import { ORIGIN_NAME, type Topics } from "./topics.js";

export type DiscoveryMode = "device" | "component";

export interface DiscoveryContext {
  topics: Topics;
  mode: DiscoveryMode;
  /** The bridge's version, for the origin block. */
  version: string;
}

export interface DiscoveryMessage {
  topic: string;
  /** The config object; publish JSON of it, retained. */
  payload: Record<string, unknown>;
}

interface ComponentConfig {
  /** Key in `components` and suffix of unique and entity ids. */
  key: string;
  platform: string;
  config: Record<string, unknown>;
}

const RUNNING_TEMPLATE = "{{ 'ON' if value_json.running else 'OFF' }}";
// Unknown (None) unless the container runs: a stopped or starting container is neither.
const HEALTH_TEMPLATE =
  "{% if value_json.running and value_json.health == 'unhealthy' %}ON" +
  "{% elif value_json.running and value_json.health == 'healthy' %}OFF{% else %}None{% endif %}";

function origin(ctx: DiscoveryContext): Record<string, unknown> {
  return { name: ORIGIN_NAME, sw_version: ctx.version };
}

function containerComponents(ctx: DiscoveryContext, record: ContainerRecord): ComponentConfig[] {
  const deviceId = ctx.topics.containerDeviceId(record.name);
  const stateTopic = ctx.topics.containerState(record.name);
  const entity = (
    platform: string,
    key: string,
    config: Record<string, unknown>,
  ): ComponentConfig => ({
    key,
    platform,
    config: {
      platform,
      ...config,
      unique_id: ctx.topics.uniqueId(deviceId, key),
      default_entity_id: ctx.topics.defaultEntityId(platform, record.name, key),
      state_topic: stateTopic,
      json_attributes_topic: stateTopic,
    },
  });
  const list = [
    entity("binary_sensor", "running", {
      name: "Running",
      device_class: "running",
      value_template: RUNNING_TEMPLATE,
    }),
  ];
  if (record.healthcheck !== null || record.health !== "none") {
    list.push(
      entity("binary_sensor", "health", {
        name: "Health",
        device_class: "problem",
        value_template: HEALTH_TEMPLATE,
      }),
    );
  }
  return list;
}

/** The discovery component keys a container's config holds (to notice one disappearing). */
export function componentKeys(record: ContainerRecord, ctx: DiscoveryContext): string[] {
  return containerComponents(ctx, record).map((c) => c.key);
}

function assemble(
  ctx: DiscoveryContext,
  deviceId: string,
  device: Record<string, unknown>,
  components: ComponentConfig[],
  removedKeys: readonly string[],
  availability: boolean,
): DiscoveryMessage[] {
  const shared = availability ? { availability: [{ topic: ctx.topics.availability() }] } : {};
  if (ctx.mode === "device") {
    const cmps: Record<string, unknown> = {};
    for (const c of components) {
      const { platform: _p, ...rest } = c.config;
      cmps[c.key] = { platform: c.platform, ...rest };
    }
    // A component dropped from a device is removed by sending it with its platform only.
    for (const key of removedKeys) cmps[key] = { platform: "binary_sensor" };
    return [
      {
        topic: ctx.topics.deviceDiscovery(deviceId),
        payload: { device, origin: origin(ctx), ...shared, components: cmps, qos: 1 },
      },
    ];
  }
  return components.map((c) => {
    const { platform: _p, ...rest } = c.config;
    return {
      topic: ctx.topics.componentDiscovery(c.platform, deviceId, c.key),
      payload: { ...rest, device, origin: origin(ctx), ...shared, qos: 1 },
    };
  });
}

/** Discovery for one container: a device linked to its host, with Running and (if any) Health. */
export function containerDiscovery(
  ctx: DiscoveryContext,
  record: ContainerRecord,
  removedKeys: readonly string[] = [],
): DiscoveryMessage[] {
  const deviceId = ctx.topics.containerDeviceId(record.name);
  const device = {
    identifiers: [deviceId],
    name: record.name,
    manufacturer: "Docker",
    model: record.image || "container",
    via_device: ctx.topics.hostDeviceId(),
  };
  return assemble(ctx, deviceId, device, containerComponents(ctx, record), removedKeys, true);
}

/** Topics to clear (empty retained payload) when a container's device goes away. */
export function containerDiscoveryTopics(ctx: DiscoveryContext, record: ContainerRecord): string[] {
  return containerDiscovery(ctx, record).map((m) => m.topic);
}

export interface HostInfo {
  name: string;
  engineVersion: string;
}

/** The host device: parent of every container device, with a connectivity sensor for the engine. */
export function hostDiscovery(ctx: DiscoveryContext, host: HostInfo): DiscoveryMessage[] {
  const deviceId = ctx.topics.hostDeviceId();
  const device: Record<string, unknown> = {
    identifiers: [deviceId],
    name: host.name,
    manufacturer: "Docker",
    model: "Docker Engine",
  };
  if (host.engineVersion) device.sw_version = host.engineVersion;
  const engine: ComponentConfig = {
    key: "engine",
    platform: "binary_sensor",
    config: {
      platform: "binary_sensor",
      name: "Engine",
      device_class: "connectivity",
      unique_id: ctx.topics.uniqueId(deviceId, "engine"),
      default_entity_id: ctx.topics.defaultEntityId("binary_sensor", host.name, "engine"),
      // The availability topic itself: the sensor shows the link, rather than going unavailable.
      state_topic: ctx.topics.availability(),
      payload_on: "online",
      payload_off: "offline",
    },
  };
  return assemble(ctx, deviceId, device, [engine], [], false);
}

/** True when a retained discovery payload was published by this bridge for this host. */
export function isOwnDiscoveryPayload(ctx: DiscoveryContext, payload: string): boolean {
  try {
    const data = JSON.parse(payload) as {
      origin?: { name?: unknown };
      device?: { identifiers?: unknown; via_device?: unknown };
    };
    if (data.origin?.name !== ORIGIN_NAME) return false;
    const host = ctx.topics.hostDeviceId();
    const ids = Array.isArray(data.device?.identifiers) ? data.device.identifiers : [];
    return data.device?.via_device === host || ids.includes(host);
  } catch {
    return false;
  }
}
