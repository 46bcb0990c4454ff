// The library entry: Docker events as a typed client, the container model and its reducer, and
// the error classes. No MQTT code is reachable from here.

export type { EngineEndpoint } from "../docker/client.js";
export { DockerClient, endpointFromDockerHost } from "../docker/client.js";
export type { EngineEvent } from "../docker/events.js";
export { parseEventLine, splitAction } from "../docker/events.js";
export { LineSplitter } from "../docker/line-splitter.js";
export type { PortainerEnvironment } from "../docker/portainer.js";
export { PortainerClient } from "../docker/portainer.js";
export type { WatcherSink, WatcherStatus } from "../docker/watcher.js";
export { BridgeError, ConfigError, DockerError, type ErrorCode } from "../errors.js";
export type { ContainerModelDeps, ModelChange } from "../state/container-model.js";
export { ContainerModel } from "../state/container-model.js";
export type { ContainerRecord, ContainerStatus, Health } from "../state/model.js";
export { containerStatuses, healthValues } from "../state/model.js";
export type { Change, ContainerMap, InspectNeed, Reduction } from "../state/reducer.js";
export {
  applyEvent,
  applyInspect,
  applySnapshot,
  commitChanges,
  recordFromInspect,
  recordFromSummary,
} from "../state/reducer.js";
export type {
  ConnectionStatus,
  DockerEventsOptions,
  PortainerTarget,
  Unsubscribe,
} from "./docker-events.js";
export { DockerEvents } from "./docker-events.js";
export type {
  BuilderEvent,
  ConfigEvent,
  ContainerEvent,
  DaemonEvent,
  DockerEvent,
  EventAction,
  EventType,
  ImageEvent,
  NetworkEvent,
  NodeEvent,
  PluginEvent,
  SecretEvent,
  ServiceEvent,
  TypedEvent,
  UnknownEvent,
  VolumeEvent,
} from "./events.js";
export { EVENT_ACTIONS, toDockerEvent } from "./events.js";
export { containerRecordSchema } from "./record-schema.js";
