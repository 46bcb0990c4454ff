// The container labels users set to shape what Home Assistant shows, in one namespace.

export const LABEL_PREFIX = "docker-mqtt-bridge.";

export const LABELS = {
  /** "false" opts the container out: no entities, no state, no events. */
  enable: `${LABEL_PREFIX}enable`,
  /** Device name shown in Home Assistant instead of the container name. */
  name: `${LABEL_PREFIX}name`,
  /** Suggested area for the device. */
  area: `${LABEL_PREFIX}area`,
  /** Icon (mdi:...) for the container's Running and Status entities. */
  icon: `${LABEL_PREFIX}icon`,
} as const;

export const COMPOSE_ONEOFF = "com.docker.compose.oneoff";
