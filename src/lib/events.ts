// Typed Docker events: a discriminated union over every event type the engine sends. An event of
// a type or action this version does not know still arrives, as `type: "unknown"` or
// `action: "unknown"`, with the engine's own words in `rawType` / `rawAction`.
import type { EngineEvent } from "../docker/events.js";

export const EVENT_ACTIONS = {
  container: [
    "attach",
    "commit",
    "copy",
    "create",
    "destroy",
    "detach",
    "die",
    "exec_create",
    "exec_detach",
    "exec_die",
    "exec_start",
    "export",
    "health_status",
    "kill",
    "oom",
    "pause",
    "rename",
    "resize",
    "restart",
    "start",
    "stop",
    "top",
    "unpause",
    "update",
    "prune",
  ],
  image: ["delete", "import", "load", "pull", "push", "save", "tag", "untag", "prune"],
  network: ["create", "connect", "disconnect", "destroy", "update", "remove", "prune"],
  volume: ["create", "mount", "unmount", "destroy", "prune"],
  service: ["create", "update", "remove"],
  node: ["create", "update", "remove"],
  daemon: ["reload"],
  plugin: ["enable", "disable", "install", "remove"],
  secret: ["create", "update", "remove"],
  config: ["create", "update", "remove"],
  builder: ["prune"],
} as const;

export type EventType = keyof typeof EVENT_ACTIONS;
export type EventAction<T extends EventType> = (typeof EVENT_ACTIONS)[T][number];

interface EventFields {
  /** The engine's type, even when unknown here. */
  rawType: string;
  /** The engine's action without its detail, even when unknown here. */
  rawAction: string;
  /** What followed the first `": "` in the action: `healthy`, `/bin/sh -c true`, or "". */
  detail: string;
  /** The actor's id: a container id, an image id, a network id, a volume name... */
  actorId: string;
  /** The actor's name attribute, or "". */
  name: string;
  attributes: Readonly<Record<string, string>>;
  time: Date;
  /** Nanoseconds since the epoch, exact. */
  timeNano: bigint;
}

/** A known event type with its known actions, or `"unknown"` for an action not listed. */
export type TypedEvent<T extends EventType> = EventFields & {
  type: T;
  action: EventAction<T> | "unknown";
};

export type ContainerEvent = TypedEvent<"container">;
export type ImageEvent = TypedEvent<"image">;
export type NetworkEvent = TypedEvent<"network">;
export type VolumeEvent = TypedEvent<"volume">;
export type ServiceEvent = TypedEvent<"service">;
export type NodeEvent = TypedEvent<"node">;
export type DaemonEvent = TypedEvent<"daemon">;
export type PluginEvent = TypedEvent<"plugin">;
export type SecretEvent = TypedEvent<"secret">;
export type ConfigEvent = TypedEvent<"config">;
export type BuilderEvent = TypedEvent<"builder">;
/** An event of a type this version does not know. */
export type UnknownEvent = EventFields & { type: "unknown"; action: "unknown" };

export type DockerEvent =
  | ContainerEvent
  | ImageEvent
  | NetworkEvent
  | VolumeEvent
  | ServiceEvent
  | NodeEvent
  | DaemonEvent
  | PluginEvent
  | SecretEvent
  | ConfigEvent
  | BuilderEvent
  | UnknownEvent;

/** The normalised engine event as its typed form. */
export function toDockerEvent(event: EngineEvent): DockerEvent {
  const fields: EventFields = {
    rawType: event.type,
    rawAction: event.action,
    detail: event.detail,
    actorId: event.actorId,
    name: event.name,
    attributes: event.attributes,
    time: new Date(Number(BigInt(event.timeNano) / 1_000_000n)),
    timeNano: BigInt(event.timeNano),
  };
  if (!Object.hasOwn(EVENT_ACTIONS, event.type))
    return { ...fields, type: "unknown", action: "unknown" };
  const type = event.type as EventType;
  const known = (EVENT_ACTIONS[type] as readonly string[]).includes(event.action);
  return { ...fields, type, action: known ? event.action : "unknown" } as DockerEvent;
}
