// Home Assistant's control entities: per allowed container a Power switch (its state is the
// engine's `running`, never assumed) and Restart, Pause and Resume buttons; per Compose stack whose
// containers are all allowed, Start, Stop and Restart buttons; per host, Prune images.
import type { Component, DiscoveryExtension } from "../homeassistant/discovery.js";
import type { Topics } from "../homeassistant/topics.js";
import type { ContainerRecord } from "../state/model.js";

export interface ControlEntityDeps {
  topics: Topics;
  /** May commands act on this container (allowed, and not the bridge's own)? */
  actsOn: (record: ContainerRecord) => boolean;
  isSelf: (record: ContainerRecord) => boolean;
  prune: boolean;
}

function button(key: string, name: string, topic: string, press: string, extra = {}): Component {
  return {
    key,
    platform: "button",
    config: { name, command_topic: topic, payload_press: press, qos: 1, ...extra },
  };
}

export function controlDiscovery(d: ControlEntityDeps): DiscoveryExtension {
  return {
    container: (record) => {
      if (!d.actsOn(record)) return [];
      const command = d.topics.containerCommand(record.name);
      return [
        {
          key: "power",
          platform: "switch",
          config: {
            name: "Power",
            icon: "mdi:power",
            command_topic: command,
            payload_on: "start",
            payload_off: "stop",
            // The engine's truth: a paused container is off; turning it on resumes it.
            state_topic: d.topics.containerState(record.name),
            value_template: "{{ 'ON' if value_json.running else 'OFF' }}",
            state_on: "ON",
            state_off: "OFF",
            optimistic: false,
            qos: 1,
          },
        },
        button("restart", "Restart", command, "restart", { device_class: "restart" }),
        button("pause", "Pause", command, "pause", { icon: "mdi:pause" }),
        button("resume", "Resume", command, "unpause", { icon: "mdi:play" }),
      ];
    },
    containerKey: (record) => (d.actsOn(record) ? "control" : ""),
    stack: (project, members) => {
      const others = members.filter((m) => !d.isSelf(m));
      if (others.length === 0 || !others.every(d.actsOn)) return [];
      const command = d.topics.stackCommand(project);
      return [
        button("start_stack", "Start stack", command, "start", { icon: "mdi:play-circle" }),
        button("stop_stack", "Stop stack", command, "stop", { icon: "mdi:stop-circle" }),
        button("restart_stack", "Restart stack", command, "restart", { device_class: "restart" }),
      ];
    },
    host: () =>
      d.prune
        ? [
            button("prune_images", "Prune images", d.topics.hostCommand(), "prune_images", {
              icon: "mdi:delete-sweep",
            }),
          ]
        : [],
    stackKeys: [
      { key: "start_stack", platform: "button" },
      { key: "stop_stack", platform: "button" },
      { key: "restart_stack", platform: "button" },
    ],
  };
}
