// Every topic and id the bridge uses is derived here, from one place, so that what is cleared
// on removal is always exactly what was announced.
import { entityObjectId, entitySlug, sanitiseId } from "./ids.js";

export interface TopicSettings {
  baseTopic: string;
  hostId: string;
  discoveryPrefix: string;
}

export const ORIGIN_NAME = "docker-mqtt-bridge";

export type DiscoveryTopic =
  | { kind: "device"; deviceId: string }
  | { kind: "component"; deviceId: string; platform: string; key: string };

export class Topics {
  readonly #s: TopicSettings;

  constructor(settings: TopicSettings) {
    this.#s = settings;
  }

  get hostId(): string {
    return this.#s.hostId;
  }

  get discoveryPrefix(): string {
    return this.#s.discoveryPrefix;
  }

  /** The same topics for another host id (an earlier one of this engine, say). */
  forHost(hostId: string): Topics {
    return new Topics({ ...this.#s, hostId });
  }

  /** The host a topic below the base topic belongs to, if any. */
  hostOf(topic: string): string | undefined {
    if (!topic.startsWith(`${this.#s.baseTopic}/`)) return undefined;
    return topic.slice(this.#s.baseTopic.length + 1).split("/")[0];
  }

  /** Subscriptions matching the retained state and availability of every host. */
  everyHostsRetained(): string[] {
    const base = this.#s.baseTopic;
    return [
      `${base}/+/availability`,
      `${base}/+/state`,
      `${base}/+/containers/+/state`,
      `${base}/+/stacks/+/state`,
    ];
  }

  /** Retained `online`/`offline`: the bridge is alive and connected to this host's engine. */
  availability(): string {
    return `${this.#s.baseTopic}/${this.#s.hostId}/availability`;
  }

  containerState(name: string): string {
    return `${this.#s.baseTopic}/${this.#s.hostId}/containers/${sanitiseId(name)}/state`;
  }

  /** Subscription matching every container state topic of this host. */
  allContainerStates(): string {
    return `${this.#s.baseTopic}/${this.#s.hostId}/containers/+/state`;
  }

  /** Non-retained lifecycle events of one container, for its Home Assistant event entity. */
  containerEvents(name: string): string {
    return `${this.#s.baseTopic}/${this.#s.hostId}/containers/${sanitiseId(name)}/event`;
  }

  /** Retained counts and versions of the host. */
  hostState(): string {
    return `${this.#s.baseTopic}/${this.#s.hostId}/state`;
  }

  stackState(project: string): string {
    return `${this.#s.baseTopic}/${this.#s.hostId}/stacks/${sanitiseId(project)}/state`;
  }

  allStackStates(): string {
    return `${this.#s.baseTopic}/${this.#s.hostId}/stacks/+/state`;
  }

  /** Compose stack device: two `__` joins, which no container device id has. */
  stackDeviceId(project: string): string {
    return `dmb_${this.#s.hostId}__${sanitiseId(project)}__stack`;
  }

  event(type: string, action: string): string {
    return `${this.#s.baseTopic}/${this.#s.hostId}/events/${sanitiseId(type)}/${sanitiseId(action)}`;
  }

  /** The HA device identifier (and unique-id stem) of the host. */
  hostDeviceId(): string {
    return `dmb_${this.#s.hostId}`;
  }

  /** The HA device identifier (and unique-id stem) of a container. */
  containerDeviceId(name: string): string {
    return `dmb_${this.#s.hostId}__${sanitiseId(name)}`;
  }

  uniqueId(deviceId: string, component: string): string {
    return `${deviceId}_${component}`;
  }

  /** A host's or stack's entity id: the plain slug (Compose projects `a-b` and `a_b` share one). */
  defaultEntityId(platform: string, name: string, component: string): string {
    return `${platform}.${entitySlug(name)}_${component}`;
  }

  /** A container's entity id: distinct container names never share one (see entityObjectId). */
  containerEntityId(platform: string, name: string, component: string): string {
    return `${platform}.${entityObjectId(name)}_${component}`;
  }

  deviceDiscovery(deviceId: string): string {
    return `${this.#s.discoveryPrefix}/device/${deviceId}/config`;
  }

  componentDiscovery(platform: string, deviceId: string, component: string): string {
    return `${this.#s.discoveryPrefix}/${platform}/${deviceId}/${component}/config`;
  }

  /** Subscriptions that find retained discovery this host's bridge published before. */
  discoveryWildcards(): string[] {
    return [
      `${this.#s.discoveryPrefix}/device/+/config`,
      `${this.#s.discoveryPrefix}/+/+/+/config`,
    ];
  }

  /** What one of this host's discovery topics is: a whole device's, or one component's. */
  parseDiscovery(topic: string): DiscoveryTopic | undefined {
    const deviceId = this.ownDeviceOf(topic);
    if (deviceId === undefined) return undefined;
    const parts = topic.slice(this.#s.discoveryPrefix.length + 1, -"/config".length).split("/");
    const [platform, , key] = parts;
    if (platform === "device") return { kind: "device", deviceId };
    return platform && key ? { kind: "component", deviceId, platform, key } : undefined;
  }

  /** The device id a discovery topic names, when it is a device of this host. */
  ownDeviceOf(topic: string): string | undefined {
    const prefix = `${this.#s.discoveryPrefix}/`;
    if (!topic.startsWith(prefix) || !topic.endsWith("/config")) return undefined;
    const parts = topic.slice(prefix.length, -"/config".length).split("/");
    const deviceId = parts[0] === "device" ? parts[1] : parts.length === 3 ? parts[1] : undefined;
    const host = this.hostDeviceId();
    return deviceId === host || deviceId?.startsWith(`${host}__`) ? deviceId : undefined;
  }

  // --- control: commands in, results out (never retained) ---

  /** Commands for one container: start, stop, restart, pause, unpause. */
  containerCommand(name: string): string {
    return `${this.#s.baseTopic}/${this.#s.hostId}/containers/${sanitiseId(name)}/command`;
  }

  /** Commands for every mirrored container of a Compose project: start, stop, restart. */
  stackCommand(project: string): string {
    return `${this.#s.baseTopic}/${this.#s.hostId}/stacks/${sanitiseId(project)}/command`;
  }

  /** Commands for the host: prune_images. */
  hostCommand(): string {
    return `${this.#s.baseTopic}/${this.#s.hostId}/command`;
  }

  /** Whether a topic is a stack's command topic (not a container's, whatever the base topic holds). */
  isStackCommand(topic: string): boolean {
    const prefix = `${this.#s.baseTopic}/${this.#s.hostId}/stacks/`;
    return (
      topic.startsWith(prefix) &&
      topic.endsWith("/command") &&
      !topic.slice(prefix.length, -"/command".length).includes("/")
    );
  }

  /** The subscriptions that receive every command for this host. */
  commandFilters(): string[] {
    const host = `${this.#s.baseTopic}/${this.#s.hostId}`;
    return [`${host}/containers/+/command`, `${host}/stacks/+/command`, `${host}/command`];
  }

  /** Where a command's outcome is published. */
  commandResult(commandTopic: string): string {
    return `${commandTopic}/result`;
  }

  // --- image updates (src/updates) ---

  /** Retained JSON: a container's image check (installed, latest, available, reason...). */
  containerUpdate(name: string): string {
    return `${this.#s.baseTopic}/${this.#s.hostId}/containers/${sanitiseId(name)}/update`;
  }

  /** Home Assistant's Install button publishes here (never retained by us). */
  containerUpdateInstall(name: string): string {
    return `${this.containerUpdate(name)}/install`;
  }

  /** Non-retained JSON: how an install ended. */
  containerUpdateResult(name: string): string {
    return `${this.containerUpdate(name)}/result`;
  }

  /** Subscription matching every container's install topic of this host. */
  allContainerUpdateInstalls(): string {
    return `${this.#s.baseTopic}/${this.#s.hostId}/containers/+/update/install`;
  }

  /** Retained JSON: how many containers of this host have an update. */
  hostUpdates(): string {
    return `${this.#s.baseTopic}/${this.#s.hostId}/updates`;
  }

  // --- statistics (src/stats) ---

  /** Retained figures of one running container (`docker stats`), while statistics are on. */
  containerStats(name: string): string {
    return `${this.#s.baseTopic}/${this.#s.hostId}/containers/${sanitiseId(name)}/stats`;
  }

  /** Subscription matching every container stats topic of this host. */
  allContainerStats(): string {
    return `${this.#s.baseTopic}/${this.#s.hostId}/containers/+/stats`;
  }

  /** Retained sums over this host's running containers, and the engine's CPUs and memory. */
  hostStats(): string {
    return `${this.#s.baseTopic}/${this.#s.hostId}/stats`;
  }
}
