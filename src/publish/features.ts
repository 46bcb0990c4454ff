// What a feature (control, statistics, updates) sees of the bridge and what it is told: each one
// follows the mirrored containers through these calls and adds its entities through `discovery`,
// so the bridge never needs to know what any feature does.
import type { EngineInfo } from "../docker/schemas.js";
import type { DiscoveryExtension } from "../homeassistant/discovery.js";
import type { ContainerRecord } from "../state/model.js";

/** The bridge's mirrored containers, read-only. */
export interface MirrorView {
  /** The mirrored containers whose entities are out now. */
  announced(): Iterable<ContainerRecord>;
  /** A mirrored container whose entities are out, by name; undefined otherwise. */
  get(name: string): ContainerRecord | undefined;
  /** The engine as it last answered `/info`, once connected. */
  engine(): { info: EngineInfo; apiVersion: string } | undefined;
}

export interface ContainerFeature {
  /** Its entities on the container, stack and host devices. */
  readonly discovery?: DiscoveryExtension;
  /** The bridge starts: subscribe, start timers. */
  start?(view: MirrorView): void;
  /** A mirrored container's entities were announced, or its state changed. */
  announced?(record: ContainerRecord): void;
  /** A container's entities were cleared: gone for good, or no longer mirrored. */
  cleared?(name: string): void;
  /** The engine answered `/info` (at start and after every reconnect). */
  engineConnected?(info: EngineInfo, apiVersion: string): void;
  /** The bridge stops: cancel timers and requests. */
  stop?(): void;
  /**
   * Resolves once what stop() interrupted has put things back (an install's rollback): the engine
   * connection is closed only after it.
   */
  settled?(): Promise<void>;
}
