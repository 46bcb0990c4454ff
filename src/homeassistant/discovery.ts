// Pure mappers from the model to Home Assistant discovery messages: one device per container,
// per Compose stack and per host. Every topic and id comes from Topics, so removal always clears
// exactly what was announced.
import type { ContainerRecord } from "../state/model.js";
import { abbreviate, expand } from "./abbreviations.js";
import { containerEntitySpecs, ENTITY_GROUPS, type EntityGroup } from "./entities.js";
import { isValidIcon, LABELS, type LabelProblem } from "./labels.js";
import { ORIGIN_NAME, type Topics } from "./topics.js";

export type DiscoveryMode = "device" | "component";

export interface DiscoveryContext {
  topics: Topics;
  mode: DiscoveryMode;
  /** The bridge's version, for the origin block. */
  version: string;
  /** Entity groups to announce for containers (default: all). */
  groups?: ReadonlySet<EntityGroup>;
  /** Container devices hang below their Compose stack's device (default true). */
  stacks?: boolean;
  /** Told of a label value left out of discovery (an icon Home Assistant would reject). */
  onLabelProblem?: (problem: LabelProblem) => void;
  /** Entities that features (control, statistics, updates) add to the bridge's devices. */
  extensions?: readonly DiscoveryExtension[];
}

/** A component's identity within its device: enough to remove it. */
export type ComponentKey = Pick<Component, "key" | "platform">;

/**
 * A feature's entities on the bridge's devices. Components come raw (key, platform, and a config
 * naming its own topics); ids are added here, like the built-in entities'. A component a device
 * no longer has is removed: for a container by the announcer (it remembers what it announced),
 * after a restart by the start-up cleanup (it compares with the retained payload). A stack's
 * device is re-announced as its members change and remembers nothing: list in `stackKeys` every
 * key a feature may put there, so the ones not announced now go out as removal stubs.
 */
export interface DiscoveryExtension {
  container?(record: ContainerRecord): Component[];
  /** Changes whenever container()'s answer for this record would: the announcer compares it. */
  containerKey?(record: ContainerRecord): string;
  host?(): Component[];
  stack?(project: string, members: readonly ContainerRecord[]): Component[];
  stackKeys?: readonly ComponentKey[];
}

type DeviceKind = "container" | "host" | "stack";

/** What the extensions announce on one device now, and stubs for the rest of their keys. */
export function extensionParts(
  ctx: DiscoveryContext,
  kind: DeviceKind,
  announce: (ext: DiscoveryExtension) => Component[] | undefined,
): { components: Component[]; retired: ComponentKey[] } {
  const components: Component[] = [];
  const retired: ComponentKey[] = [];
  for (const ext of ctx.extensions ?? []) {
    const now = announce(ext) ?? [];
    components.push(...now);
    for (const k of kind === "stack" ? (ext.stackKeys ?? []) : []) {
      if (!now.some((c) => c.key === k.key)) retired.push(k);
    }
  }
  return { components, retired };
}

export interface DiscoveryMessage {
  topic: string;
  /** The config object; publish JSON of it, retained. */
  payload: Record<string, unknown>;
}

/** One entity: its key in `components` (and id suffix), platform and config. */
export interface Component {
  key: string;
  platform: string;
  config: Record<string, unknown>;
}

const ALL_GROUPS: ReadonlySet<EntityGroup> = new Set(ENTITY_GROUPS);

function origin(ctx: DiscoveryContext): Record<string, unknown> {
  return { name: ORIGIN_NAME, sw_version: ctx.version };
}

/**
 * `default_entity_id` (Home Assistant 2025.10 and later) plus the same id's object part as
 * `object_id`, which 2023.8 to 2025.9 read instead (they drop the unknown `default_entity_id`).
 * 2025.10 to 2026.3 log no deprecation warning when both are present; 2026.4 and later ignore
 * `object_id`. Without it those versions would derive the id from the device's name as the user
 * may have renamed it (entity_platform: `name_by_user or name`), so it stays on every entity.
 */
function withEntityIds(config: Record<string, unknown>): Record<string, unknown> {
  const entityId = config.default_entity_id;
  if (typeof entityId !== "string") return config;
  return { ...config, object_id: entityId.slice(entityId.indexOf(".") + 1) };
}

/**
 * The state topic most components read, sent once at device level where Home Assistant hands it
 * to every component without its own (mqtt/discovery.py `_merge_common_device_options`). Only
 * where that changes no component: each has a state topic, or is a button (which has none, and
 * drops the inherited one with the other unknown keys).
 */
function sharedStateTopic(components: readonly Component[]): string | undefined {
  const counts = new Map<string, number>();
  for (const c of components) {
    const topic = c.config.state_topic;
    if (typeof topic === "string") counts.set(topic, (counts.get(topic) ?? 0) + 1);
    else if (c.platform !== "button") return undefined;
  }
  const [best] = [...counts].sort((a, b) => b[1] - a[1]);
  return best && best[1] > 1 ? best[0] : undefined;
}

/**
 * Builds a device's discovery: one device message, or one message per component. Payloads use
 * Home Assistant's abbreviated keys (`expand` gives the long form).
 */
export function assemble(
  ctx: DiscoveryContext,
  deviceId: string,
  device: Record<string, unknown>,
  components: readonly Component[],
  removed: readonly ComponentKey[],
  availability: boolean,
): DiscoveryMessage[] {
  const shared = availability ? { availability: [{ topic: ctx.topics.availability() }] } : {};
  if (ctx.mode === "device") {
    const stateTopic = sharedStateTopic(components);
    const cmps: Record<string, unknown> = {};
    for (const c of components) {
      const { state_topic, ...rest } = withEntityIds(c.config);
      const own = state_topic === stateTopic ? {} : { state_topic };
      cmps[c.key] = { platform: c.platform, ...rest, ...own };
    }
    // A component dropped from a device is removed by sending it with its platform only.
    for (const c of removed) cmps[c.key] = { platform: c.platform };
    const top = stateTopic ? { ...shared, state_topic: stateTopic } : shared;
    return [
      {
        topic: ctx.topics.deviceDiscovery(deviceId),
        payload: abbreviate({ device, origin: origin(ctx), ...top, components: cmps, qos: 1 }),
      },
    ];
  }
  return components.map((c) => ({
    topic: ctx.topics.componentDiscovery(c.platform, deviceId, c.key),
    // A component's own availability (a feature's extra condition) wins over the shared one.
    payload: abbreviate({
      ...shared,
      ...withEntityIds(c.config),
      device,
      origin: origin(ctx),
      qos: 1,
    }),
  }));
}

/**
 * A component config that stays silent when its state topic is cleared: Home Assistant may still
 * deliver that empty payload to the entity while it removes it, and an unguarded `value_json`
 * template (or JSON attributes) would log an error. With the guard the entity reads unknown.
 */
export function silentOnClear(config: Record<string, unknown>): Record<string, unknown> {
  const out = { ...config };
  // Every topic these templates read carries a JSON object or nothing: a non-empty `value` is
  // exactly a defined `value_json` there, and `value` is the shorter test.
  const t = out.value_template;
  if (typeof t === "string" && t.includes("value_json")) out.value_template = guardEmpty(t);
  if (typeof out.json_attributes_topic === "string")
    out.json_attributes_template = "{{ value or '{}' }}";
  return out;
}

/** One `{{ expression }}`: guarded inside it (Jinja's `a if b else c` evaluates `a` only if `b`). */
const ONE_EXPRESSION = /^\{\{ ((?:(?!\{\{|\}\}|\{%).)+) \}\}$/;

function guardEmpty(template: string): string {
  const m = ONE_EXPRESSION.exec(template);
  if (m) return `{{ (${m[1]}) if value else None }}`;
  return `{% if value %}${template}{% else %}None{% endif %}`;
}

/** The device a container hangs below: its Compose stack's, or the host's. */
export function parentDeviceId(ctx: DiscoveryContext, record: ContainerRecord): string {
  if ((ctx.stacks ?? true) && record.compose_project) {
    return ctx.topics.stackDeviceId(record.compose_project);
  }
  return ctx.topics.hostDeviceId();
}

/** The icon label when Home Assistant would accept it; a rejected one is reported, left out. */
function iconLabel(ctx: DiscoveryContext, record: ContainerRecord): string | undefined {
  const icon = record.labels[LABELS.icon];
  if (!icon || isValidIcon(icon)) return icon || undefined;
  ctx.onLabelProblem?.({
    container: record.name,
    label: LABELS.icon,
    value: icon,
    reason: "not prefix:name (mdi:docker, for example): Home Assistant would reject the entity",
  });
  return undefined;
}

/** The components of a container's device: the enabled entity groups, then the features'. */
export function containerComponents(ctx: DiscoveryContext, record: ContainerRecord): Component[] {
  const deviceId = ctx.topics.containerDeviceId(record.name);
  const stateTopic = ctx.topics.containerState(record.name);
  const icon = iconLabel(ctx, record);
  const specs = containerEntitySpecs(record, ctx.groups ?? ALL_GROUPS, icon);
  // The state's fields as attributes on one entity (the first, Running by default), not on each:
  // the same attributes on eight entities cost more than half of a container's discovery bytes.
  const withAttributes = specs.find((spec) => !spec.eventTopic);
  const builtIn = specs.map((spec) => ({
    key: spec.key,
    platform: spec.platform,
    config: spec.eventTopic
      ? { ...spec.config, state_topic: ctx.topics.containerEvents(record.name) }
      : spec === withAttributes
        ? { ...spec.config, state_topic: stateTopic, json_attributes_topic: stateTopic }
        : { ...spec.config, state_topic: stateTopic },
  }));
  const features = extensionParts(ctx, "container", (ext) => ext.container?.(record));
  return [...builtIn, ...features.components].map((c) => ({
    key: c.key,
    platform: c.platform,
    config: silentOnClear({
      ...c.config,
      unique_id: ctx.topics.uniqueId(deviceId, c.key),
      default_entity_id: ctx.topics.containerEntityId(c.platform, record.name, c.key),
    }),
  }));
}

/** Discovery for one container, with stubs removing components it no longer has. */
export function containerDiscovery(
  ctx: DiscoveryContext,
  record: ContainerRecord,
  removed: readonly ComponentKey[] = [],
  /** The record's components when the caller already has them (they are not built twice). */
  components: readonly Component[] = containerComponents(ctx, record),
): DiscoveryMessage[] {
  const deviceId = ctx.topics.containerDeviceId(record.name);
  const device: Record<string, unknown> = {
    identifiers: [deviceId],
    name: record.labels[LABELS.name] || record.name,
    manufacturer: "Docker",
    model: record.image || "container",
    via_device: parentDeviceId(ctx, record),
  };
  const area = record.labels[LABELS.area];
  if (area) device.suggested_area = area;
  return assemble(ctx, deviceId, device, components, removed, true);
}

/**
 * A device payload that also removes the components an earlier one announced and this one lacks
 * (a feature or entity group turned off, a container no longer allowed), or undefined when there
 * are none. Home Assistant keeps a device's components until it is told to drop each.
 */
export function withRemovalStubs(earlier: string, now: string): string | undefined {
  try {
    const before = expand(JSON.parse(earlier) as Record<string, unknown>) as ExpandedDevice;
    const sent = JSON.parse(now) as Record<string, unknown>;
    const after = expand(sent) as ExpandedDevice;
    if (!before.components || !after.components) return undefined;
    const stubs: Record<string, { platform: unknown }> = {};
    for (const [key, c] of Object.entries(before.components)) {
      const announced = Object.keys(c).some((k) => k !== "platform");
      if (announced && !(key in after.components)) stubs[key] = { platform: c.platform };
    }
    if (Object.keys(stubs).length === 0) return undefined;
    // Sent in the form `now` has (abbreviated, unless it is a long-key payload itself).
    const merged = { ...after, components: { ...after.components, ...stubs } };
    return JSON.stringify("cmps" in sent ? abbreviate(merged) : merged);
  } catch {
    return undefined;
  }
}

interface ExpandedDevice {
  components?: Record<string, Record<string, unknown>>;
}

/** True when a retained discovery payload was published by this bridge for this host. */
export function isOwnDiscoveryPayload(ctx: DiscoveryContext, payload: string): boolean {
  try {
    // Either form: this version's abbreviated keys, or an earlier version's long ones.
    const data = expand(JSON.parse(payload) as Record<string, unknown>) as {
      origin?: { name?: unknown };
      device?: { identifiers?: unknown };
    };
    if (data.origin?.name !== ORIGIN_NAME) return false;
    const host = ctx.topics.hostDeviceId();
    const ids = Array.isArray(data.device?.identifiers) ? data.device.identifiers : [];
    return ids.some((id) => id === host || (typeof id === "string" && id.startsWith(`${host}__`)));
  } catch {
    return false;
  }
}
