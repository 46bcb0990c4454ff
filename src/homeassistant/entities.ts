// The entity groups a user can turn on or off, and what each container entity looks like.
import type { ContainerRecord } from "../state/model.js";
import { containerStatuses } from "../state/model.js";

const CONTAINER_GROUPS = [
  "running",
  "health",
  "status",
  "started",
  "exit_code",
  "restart_count",
  "image",
  "oom_killed",
  "events",
] as const;
type ContainerGroup = (typeof CONTAINER_GROUPS)[number];

/**
 * The statistics' entities (src/stats), selectable like the others; announced only while
 * `stats.enabled` is on. `stats_cpu` and `stats_memory` also select the host's sums.
 */
export const STATS_ENTITY_GROUPS = [
  "stats_cpu",
  "stats_memory",
  "stats_memory_percent",
  "stats_network",
  "stats_block",
  "stats_pids",
] as const;
export type StatsEntityGroup = (typeof STATS_ENTITY_GROUPS)[number];

export const ENTITY_GROUPS = [...CONTAINER_GROUPS, ...STATS_ENTITY_GROUPS] as const;
export type EntityGroup = (typeof ENTITY_GROUPS)[number];

/** The lifecycle events the per-container event entity fires. */
export const CONTAINER_EVENT_TYPES = [
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
] as const;

export interface EntitySpec {
  key: ContainerGroup;
  platform: "binary_sensor" | "sensor" | "event";
  config: Record<string, unknown>;
  /** Reads the per-container events topic instead of the state topic. */
  eventTopic?: boolean;
}

const NONE_UNLESS_RUNNING =
  "{% if value_json.running and value_json.health == 'unhealthy' %}ON" +
  "{% elif value_json.running and value_json.health == 'healthy' %}OFF{% else %}None{% endif %}";

/** The entities of one container, in a stable order, for the enabled groups. */
export function containerEntitySpecs(
  record: ContainerRecord,
  groups: ReadonlySet<EntityGroup>,
  icon: string | undefined,
): EntitySpec[] {
  const withIcon = (config: Record<string, unknown>) => (icon ? { ...config, icon } : config);
  const all: EntitySpec[] = [
    {
      key: "running",
      platform: "binary_sensor",
      config: withIcon({
        name: "Running",
        device_class: "running",
        value_template: "{{ 'ON' if value_json.running else 'OFF' }}",
      }),
    },
    {
      key: "status",
      platform: "sensor",
      config: withIcon({
        name: "Status",
        device_class: "enum",
        options: [...containerStatuses],
        value_template: "{{ value_json.status }}",
      }),
    },
    {
      key: "started",
      platform: "sensor",
      config: {
        name: "Started",
        device_class: "timestamp",
        entity_category: "diagnostic",
        value_template: "{{ value_json.started_at or None }}",
      },
    },
    {
      key: "exit_code",
      platform: "sensor",
      config: {
        name: "Exit code",
        entity_category: "diagnostic",
        icon: "mdi:numeric",
        value_template: "{{ value_json.exit_code if value_json.exit_code is not none else None }}",
      },
    },
    {
      key: "restart_count",
      platform: "sensor",
      config: {
        name: "Restart count",
        entity_category: "diagnostic",
        icon: "mdi:restart",
        enabled_by_default: false,
        value_template: "{{ value_json.restart_count }}",
      },
    },
    {
      key: "image",
      platform: "sensor",
      config: {
        name: "Image",
        entity_category: "diagnostic",
        icon: "mdi:layers",
        enabled_by_default: false,
        value_template: "{{ value_json.image }}",
      },
    },
    {
      key: "oom_killed",
      platform: "binary_sensor",
      config: {
        name: "OOM killed",
        device_class: "problem",
        entity_category: "diagnostic",
        enabled_by_default: false,
        value_template: "{{ 'ON' if value_json.oom_killed else 'OFF' }}",
      },
    },
    {
      key: "events",
      platform: "event",
      eventTopic: true,
      config: { name: "Events", event_types: [...CONTAINER_EVENT_TYPES] },
    },
  ];
  if (record.healthcheck !== null || record.health !== "none") {
    all.splice(1, 0, {
      key: "health",
      platform: "binary_sensor",
      config: { name: "Health", device_class: "problem", value_template: NONE_UNLESS_RUNNING },
    });
  }
  return all.filter((spec) => groups.has(spec.key));
}
