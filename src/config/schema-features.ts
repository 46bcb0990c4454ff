// The configuration keys of the optional features (control, statistics, image updates), in the
// same form as the rest of the schema (schema.ts includes them); off unless enabled.

export const controlSchema = {
  enabled: {
    doc: "Accept commands (start, stop, restart, pause, unpause) on the command topics for the allowed containers. Anyone who can publish to the broker can then act on them: use broker ACLs",
    format: "strict-boolean",
    default: false,
    env: "CONTROL_ENABLED",
    arg: "control-enabled",
  },
  containers: {
    doc: "Containers that commands may act on (glob, or /regex/); a container labelled docker-mqtt-bridge.control=true is allowed too, one labelled docker-mqtt-bridge.control=false never",
    format: "name-patterns",
    default: [] as string[],
    env: "CONTROL_CONTAINERS",
    arg: "control-containers",
  },
  stop_timeout_seconds: {
    doc: "Seconds a stop or restart waits for the container to exit before the engine kills it",
    format: "seconds",
    default: 10,
    env: "CONTROL_STOP_TIMEOUT_SECONDS",
    min: 0,
    max: 3600,
    arg: "control-stop-timeout-seconds",
  },
  prune: {
    doc: "A per-host Prune images button and command (dangling images only); needs control.enabled",
    format: "strict-boolean",
    default: false,
    env: "CONTROL_PRUNE",
    arg: "control-prune",
  },
};

export const statsSchema = {
  enabled: {
    doc: "Publish CPU, memory, network, block I/O and process figures of running containers (docker stats)",
    format: "strict-boolean",
    default: false,
    env: "STATS_ENABLED",
    arg: "stats-enabled",
  },
  interval_seconds: {
    doc: "Seconds between two samples of each running container; figures are published when they move beyond a dead band, else as a heartbeat every 5 minutes (3 intervals if longer)",
    format: "seconds",
    default: 10,
    env: "STATS_INTERVAL_SECONDS",
    min: 1,
    max: 3600,
    arg: "stats-interval-seconds",
  },
  containers: {
    doc: "Only these containers are sampled (names, glob, or /regex/); empty: every mirrored one. The label docker-mqtt-bridge.stats=false opts one out",
    format: "name-patterns",
    default: [] as string[],
    env: "STATS_CONTAINERS",
    arg: "stats-containers",
  },
};

export const updatesSchema = {
  enabled: {
    doc: "Check each container's image against its registry for a newer build (update entities)",
    format: "strict-boolean",
    default: false,
    env: "UPDATES_ENABLED",
    arg: "updates-enabled",
  },
  interval_hours: {
    doc: "Hours between checks; the first runs a short, random time after start",
    format: "hours",
    default: 6,
    env: "UPDATES_INTERVAL_HOURS",
    min: 0.001,
    max: 720,
    arg: "updates-interval-hours",
  },
  containers: {
    doc: "Containers whose image is checked (glob, or /regex/); empty: all mirrored. Label docker-mqtt-bridge.updates=false opts one out",
    format: "name-patterns",
    default: [] as string[],
    env: "UPDATES_CONTAINERS",
    arg: "updates-containers",
  },
  registry_auth_file: {
    doc: "A Docker config.json whose auths entries log in to registries (mount it read-only); empty: anonymous",
    format: String,
    default: "",
    env: "UPDATES_REGISTRY_AUTH_FILE",
    arg: "updates-registry-auth-file",
  },
  insecure_registries: {
    doc: "Registries (host or host:port) asked over plain HTTP, besides 127.0.0.0/8 and localhost",
    format: "list",
    default: [] as string[],
    env: "UPDATES_INSECURE_REGISTRIES",
    arg: "updates-insecure-registries",
  },
};
