// The statistics' Home Assistant entities: per container CPU and Memory (enabled) and Memory %,
// Network in/out, Block read/write and Processes (disabled by default); per host the sums of CPU
// and Memory. Pure: values in, discovery components out.
//
// A container's stats entities carry their own availability: the bridge's, AND the container's
// state topic read through a template (running -> online), with availability_mode all. So a stop
// or pause makes them unavailable with the very state message that tells of it, and no extra topic
// is needed. Home Assistant's device-based discovery lets a component's own `availability` (and
// `availability_mode`) override the device-level one (`_merge_common_device_options` in
// homeassistant/components/mqtt/discovery.py copies a shared option only when the component lacks
// it). expire_after, longer than the heartbeat, catches figures that silently stop arriving.
import type { Component, DiscoveryExtension } from "../homeassistant/discovery.js";
import type { StatsEntityGroup } from "../homeassistant/entities.js";
import type { Topics } from "../homeassistant/topics.js";
import type { ContainerRecord } from "../state/model.js";
import { expireAfterSeconds } from "./deadband.js";

interface StatsEntity {
  key: string;
  group: StatsEntityGroup;
  config: Record<string, unknown>;
}

const mib = (field: string) =>
  `{{ (value_json.${field} / 1048576) | round(2) if value_json.${field} is number else None }}`;
const plain = (field: string) =>
  `{{ value_json.${field} if value_json.${field} is number else None }}`;

const CONTAINER_ENTITIES: readonly StatsEntity[] = [
  {
    key: "stats_cpu",
    group: "stats_cpu",
    config: {
      name: "CPU",
      icon: "mdi:cpu-64-bit",
      unit_of_measurement: "%",
      state_class: "measurement",
      suggested_display_precision: 1,
      value_template: plain("cpu_percent"),
    },
  },
  {
    key: "stats_memory",
    group: "stats_memory",
    config: {
      name: "Memory",
      device_class: "data_size",
      unit_of_measurement: "MiB",
      state_class: "measurement",
      suggested_display_precision: 1,
      value_template: mib("memory_bytes"),
    },
  },
  {
    key: "stats_memory_percent",
    group: "stats_memory_percent",
    config: {
      name: "Memory %",
      icon: "mdi:memory",
      unit_of_measurement: "%",
      state_class: "measurement",
      suggested_display_precision: 1,
      enabled_by_default: false,
      value_template: plain("memory_percent"),
    },
  },
  ...(
    [
      ["stats_network_rx", "stats_network", "Network in", "network_rx_bytes", "mdi:download"],
      ["stats_network_tx", "stats_network", "Network out", "network_tx_bytes", "mdi:upload"],
      ["stats_block_read", "stats_block", "Block read", "block_read_bytes", "mdi:harddisk"],
      ["stats_block_write", "stats_block", "Block write", "block_write_bytes", "mdi:harddisk"],
    ] as const
  ).map(([key, group, name, field, icon]) => ({
    key,
    group,
    config: {
      name,
      icon,
      device_class: "data_size",
      unit_of_measurement: "MiB",
      state_class: "total_increasing",
      suggested_display_precision: 1,
      enabled_by_default: false,
      value_template: mib(field),
    },
  })),
  {
    key: "stats_pids",
    group: "stats_pids",
    config: {
      name: "Processes",
      icon: "mdi:application-cog",
      state_class: "measurement",
      enabled_by_default: false,
      value_template: plain("pids"),
    },
  },
];

const HOST_ENTITIES: readonly StatsEntity[] = [
  {
    key: "stats_cpu",
    group: "stats_cpu",
    config: {
      name: "Containers CPU",
      icon: "mdi:cpu-64-bit",
      unit_of_measurement: "%",
      state_class: "measurement",
      suggested_display_precision: 1,
      value_template: plain("cpu_percent"),
    },
  },
  {
    key: "stats_memory",
    group: "stats_memory",
    config: {
      name: "Containers memory",
      device_class: "data_size",
      unit_of_measurement: "MiB",
      state_class: "measurement",
      suggested_display_precision: 1,
      value_template: mib("memory_bytes"),
    },
  },
];

/** Online only while the container runs; an empty (cleared) state reads offline. */
export const RUNNING_AVAILABILITY =
  "{{ 'online' if value_json is defined and value_json.running else 'offline' }}";

export interface StatsEntityOptions {
  topics: Topics;
  intervalSeconds: number;
  /** The stats groups among `homeassistant.entities`. */
  groups: ReadonlySet<string>;
  /** Whether statistics are sampled for this container (stats.containers and its label). */
  sampled(record: ContainerRecord): boolean;
}

export function statsDiscovery(o: StatsEntityOptions): DiscoveryExtension {
  const expireAfter = expireAfterSeconds(o.intervalSeconds);
  const chosen = (list: readonly StatsEntity[]) => list.filter((e) => o.groups.has(e.group));
  return {
    container(record: ContainerRecord): Component[] {
      if (!o.sampled(record)) return [];
      const stats = o.topics.containerStats(record.name);
      const availability = [
        { topic: o.topics.availability() },
        { topic: o.topics.containerState(record.name), value_template: RUNNING_AVAILABILITY },
      ];
      return chosen(CONTAINER_ENTITIES).map((e) => ({
        key: e.key,
        platform: "sensor",
        config: {
          ...e.config,
          state_topic: stats,
          expire_after: expireAfter,
          availability,
          availability_mode: "all",
        },
      }));
    },
    // Whether a container is sampled depends on its name and labels only: both in the key.
    containerKey: (record) => (o.sampled(record) ? "stats" : ""),
    host(): Component[] {
      return chosen(HOST_ENTITIES).map((e) => ({
        key: e.key,
        platform: "sensor",
        config: { ...e.config, state_topic: o.topics.hostStats(), expire_after: expireAfter },
      }));
    },
  };
}
