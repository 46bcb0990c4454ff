// The host and Compose stack devices: what they count, their state payloads and discovery.
import type { ContainerRecord } from "../state/model.js";
import {
  assemble,
  type Component,
  type DiscoveryContext,
  type DiscoveryMessage,
  extensionParts,
  silentOnClear,
} from "./discovery.js";

export interface HostInfo {
  name: string;
  engineVersion: string;
  apiVersion: string;
  /** The engine's own ID (`/info` ID): tells this engine's hosts from other bridges' hosts. */
  engineId?: string;
}

export interface Counts {
  containers: number;
  running: number;
  paused: number;
  stopped: number;
  unhealthy: number;
}

export function countContainers(records: Iterable<ContainerRecord>): Counts {
  const c: Counts = { containers: 0, running: 0, paused: 0, stopped: 0, unhealthy: 0 };
  for (const r of records) {
    c.containers++;
    if (r.status === "running") c.running++;
    else if (r.status === "paused") c.paused++;
    else c.stopped++;
    if (r.running && r.health === "unhealthy") c.unhealthy++;
  }
  return c;
}

/** The host's retained state: counts plus engine and API version. */
export function hostState(
  records: Iterable<ContainerRecord>,
  host: HostInfo,
): Record<string, unknown> {
  return {
    ...countContainers(records),
    engine_version: host.engineVersion,
    api_version: host.apiVersion,
    ...(host.engineId ? { engine_id: host.engineId } : {}),
  };
}

/** A stack's retained state. `problem`: a container unhealthy, or exited with a non-zero code. */
export function stackState(
  project: string,
  records: readonly ContainerRecord[],
): Record<string, unknown> {
  const counts = countContainers(records);
  const failed = records
    .filter((r) => r.status !== "running" && (r.exit_code ?? 0) !== 0)
    .map((r) => r.name);
  const unhealthy = records.filter((r) => r.running && r.health === "unhealthy").map((r) => r.name);
  return {
    project,
    ...counts,
    all_running: counts.containers > 0 && counts.running === counts.containers,
    problem: failed.length > 0 || unhealthy.length > 0,
    failed,
    unhealthy_containers: unhealthy,
    containers_names: records.map((r) => r.name).sort(),
  };
}

function sensor(
  key: string,
  name: string,
  extra: Record<string, unknown> = {},
): Omit<Component, "config"> & {
  config: Record<string, unknown>;
} {
  return {
    key,
    platform: "sensor",
    config: {
      name,
      state_class: "measurement",
      value_template: `{{ value_json.${key} }}`,
      ...extra,
    },
  };
}

/** Adds ids, and the device's state topic to the parts that read it (features name their own). */
function finish(
  ctx: DiscoveryContext,
  deviceId: string,
  entityName: string,
  stateTopic: string | undefined,
  parts: Component[],
): Component[] {
  return parts.map((p) => ({
    ...p,
    config: {
      ...p.config,
      unique_id: ctx.topics.uniqueId(deviceId, p.key),
      default_entity_id: ctx.topics.defaultEntityId(p.platform, entityName, p.key),
      ...(stateTopic
        ? { state_topic: (p.config.state_topic as string | undefined) ?? stateTopic }
        : {}),
    },
  }));
}

/** The host device: parent of stacks and containers; engine link, counts and versions. */
export function hostDiscovery(ctx: DiscoveryContext, host: HostInfo): DiscoveryMessage[] {
  const deviceId = ctx.topics.hostDeviceId();
  const device: Record<string, unknown> = {
    identifiers: [deviceId],
    name: host.name,
    manufacturer: "Docker",
    model: "Docker Engine",
  };
  if (host.engineVersion) device.sw_version = host.engineVersion;
  const parts: Component[] = [
    {
      key: "engine",
      platform: "binary_sensor",
      config: {
        name: "Engine",
        device_class: "connectivity",
        // The availability topic itself: the sensor shows the link, rather than going unavailable.
        state_topic: ctx.topics.availability(),
        payload_on: "online",
        payload_off: "offline",
      },
    },
    sensor("containers", "Containers", { icon: "mdi:docker" }),
    sensor("running", "Running", { icon: "mdi:play-circle" }),
    sensor("paused", "Paused", { icon: "mdi:pause-circle" }),
    sensor("stopped", "Stopped", { icon: "mdi:stop-circle" }),
    sensor("unhealthy", "Unhealthy", { icon: "mdi:alert-circle" }),
    {
      key: "engine_version",
      platform: "sensor",
      config: {
        name: "Engine version",
        entity_category: "diagnostic",
        value_template: "{{ value_json.engine_version }}",
      },
    },
    {
      key: "api_version",
      platform: "sensor",
      config: {
        name: "API version",
        entity_category: "diagnostic",
        value_template: "{{ value_json.api_version }}",
      },
    },
  ];
  const features = extensionParts(ctx, "host", (ext) => ext.host?.());
  const components = [
    ...finish(ctx, deviceId, host.name, ctx.topics.hostState(), parts),
    ...finish(ctx, deviceId, host.name, undefined, features.components),
  ];
  // The engine sensor must stay readable when the engine is gone; the counts go unavailable.
  const [engine, ...rest] = components;
  const avail = { availability: [{ topic: ctx.topics.availability() }] };
  const withAvail = rest.map((c) => ({
    ...c,
    config: silentOnClear({ ...avail, ...c.config }),
  }));
  const all = engine ? [engine, ...withAvail] : withAvail;
  return assemble(ctx, deviceId, device, all, features.retired, false);
}

/** A Compose stack's device: all running, problem, counts, and the features' entities. */
export function stackDiscovery(
  ctx: DiscoveryContext,
  project: string,
  members: readonly ContainerRecord[] = [],
): DiscoveryMessage[] {
  const deviceId = ctx.topics.stackDeviceId(project);
  const device = {
    identifiers: [deviceId],
    name: `${project} stack`,
    manufacturer: "Docker Compose",
    model: "Compose project",
    via_device: ctx.topics.hostDeviceId(),
  };
  const parts: Component[] = [
    {
      key: "all_running",
      platform: "binary_sensor",
      config: {
        name: "All running",
        device_class: "running",
        value_template: "{{ 'ON' if value_json.all_running else 'OFF' }}",
      },
    },
    {
      key: "problem",
      platform: "binary_sensor",
      config: {
        name: "Problem",
        device_class: "problem",
        value_template: "{{ 'ON' if value_json.problem else 'OFF' }}",
      },
    },
    sensor("containers", "Containers", { icon: "mdi:docker" }),
    sensor("running", "Running", { icon: "mdi:play-circle" }),
  ];
  const stateTopic = ctx.topics.stackState(project);
  const components = finish(ctx, deviceId, `${project} stack`, stateTopic, parts).map((c) => ({
    ...c,
    config: silentOnClear({ ...c.config, json_attributes_topic: stateTopic }),
  }));
  const features = extensionParts(ctx, "stack", (ext) => ext.stack?.(project, members));
  components.push(...finish(ctx, deviceId, `${project} stack`, undefined, features.components));
  return assemble(ctx, deviceId, device, components, features.retired, true);
}
