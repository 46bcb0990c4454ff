// Start-up cleanup: retained messages this bridge published for this host in an earlier run, for
// containers or stacks that no longer exist, are cleared once the first snapshot is in. Nothing
// another program published is touched. Topics of an earlier host id of this same engine are
// cleared too (see former-hosts.ts). Discovery of the other discovery mode for a device
// announced now is handed over to the new topics instead (see discovery-migration.ts).
import type { Logger } from "pino";
import {
  type DiscoveryContext,
  isOwnDiscoveryPayload,
  withRemovalStubs,
} from "../homeassistant/discovery.js";
import { PRIORITY, type Publisher } from "../mqtt/publisher.js";
import { handOver, handoverTargets, planHandovers } from "./discovery-migration.js";
import { engineIdOf, FormerHosts } from "./former-hosts.js";

export class StaleCleanup {
  readonly #ctx: DiscoveryContext;
  readonly #publisher: Publisher;
  readonly #log: Logger;
  readonly #settleMs: number;
  readonly #discovery: boolean;
  /** Retained topics of ours seen, with their payloads; undefined once the cleanup has run. */
  #seen: Map<string, string> | undefined = new Map();
  #stopped = false;
  readonly #formerHosts: FormerHosts;
  /** New-mode topics held back until the old mode's topics are handed over. */
  readonly #heldBack = new Set<string>();
  #snapshotDone = false;
  #subscribedAt: number | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: {
    ctx: DiscoveryContext;
    publisher: Publisher;
    log: Logger;
    settleMs: number;
    discovery: boolean;
  }) {
    this.#ctx = deps.ctx;
    this.#publisher = deps.publisher;
    this.#log = deps.log;
    this.#settleMs = deps.settleMs;
    this.#discovery = deps.discovery;
    this.#formerHosts = new FormerHosts(deps.ctx.topics);
  }

  /**
   * State wildcards (of every host: an earlier host id may have left some), watched only until
   * the cleanup has run.
   */
  stateFilters(): string[] {
    return this.#ctx.topics.everyHostsRetained();
  }

  /** Discovery wildcards, watched for good (Home Assistant may delete a device at any time). */
  discoveryFilters(): string[] {
    return this.#discovery ? this.#ctx.topics.discoveryWildcards() : [];
  }

  get done(): boolean {
    return this.#seen === undefined;
  }

  seen(topic: string, payload: string, retained: boolean): void {
    if (!this.#seen) return;
    const { topics } = this.#ctx;
    const ownHost = topics.hostOf(topic) === topics.hostId;
    // Someone publishes for that host right now (another engine runtime of this process, or
    // another bridge): it is not a former host id of ours, whatever its retained state says.
    if (!retained && !ownHost) this.#formerHosts.live(topic);
    if (!retained || payload === "") return;
    if (ownHost && topic.endsWith("/state")) this.#seen.set(topic, payload);
    else if (!ownHost && !topics.ownDeviceOf(topic)) this.#formerHosts.seen(topic, payload);
    else if (this.#ctx.topics.ownDeviceOf(topic) && isOwnDiscoveryPayload(this.#ctx, payload)) {
      this.#seen.set(topic, payload);
      for (const target of handoverTargets(this.#ctx, topic, payload)) {
        this.#heldBack.add(target);
        this.#publisher.hold(target);
      }
    }
  }

  connected(): void {
    if (this.done) return;
    this.#subscribedAt = Date.now();
    this.#schedule();
  }

  snapshotApplied(): void {
    this.#snapshotDone = true;
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #schedule(): void {
    if (this.done || !this.#snapshotDone || this.#subscribedAt === undefined) return;
    clearTimeout(this.#timer);
    const wait = Math.max(0, this.#subscribedAt + this.#settleMs - Date.now());
    this.#timer = setTimeout(() => this.#run(), wait);
  }

  #run(): void {
    const seen = this.#seen;
    if (!seen) return;
    this.#seen = undefined;
    for (const filter of this.stateFilters()) this.#publisher.unsubscribe(filter);
    // Wanted: the bridge holds a retained payload for it (live, or within its removal grace).
    const held = (topic: string) => this.#publisher.retained(topic);
    const unwanted = new Map([...seen].filter(([topic]) => held(topic) === undefined));
    const handovers = this.#discovery ? planHandovers(this.#ctx, unwanted, held) : [];
    for (const h of handovers) unwanted.delete(h.old);
    const stale = [...unwanted.keys()];
    // Discovery first, on the wire too: an entity still set up would render its state topic's
    // empty payload, and Home Assistant would log a warning for each.
    const isState = (topic: string) => topic.endsWith("/state");
    for (const topic of stale.filter((t) => !isState(t)))
      this.#publisher.clearRetained(topic, PRIORITY.discovery);
    for (const topic of stale.filter(isState)) this.#publisher.clearRetained(topic, PRIORITY.state);
    const ownState = this.#publisher.retained(this.#ctx.topics.hostState());
    const former = this.#formerHosts.staleTopics(engineIdOf(ownState));
    for (const topic of former)
      this.#publisher.clearRetained(
        topic,
        topic.endsWith("/config") ? PRIORITY.discovery : PRIORITY.state,
      );
    if (former.length > 0)
      this.#log.info(
        { cleared: former.length },
        "cleared what this engine published under an earlier host id",
      );
    this.#dropStaleComponents(seen);
    const cleared = stale.length;
    // Held back for nothing (the device is gone, or lost that component): send as usual.
    const handedOver = new Set(handovers.flatMap((h) => h.targets));
    for (const t of this.#heldBack) if (!handedOver.has(t)) this.#publisher.release(t);
    this.#heldBack.clear();
    if (handovers.length > 0)
      // Never rejects; it gives up between its steps once the cleanup is stopped.
      void handOver(handovers, this.#publisher, this.#log, () => this.#stopped);
    if (cleared > 0)
      this.#log.info({ cleared }, "cleared stale retained messages from an earlier run");
  }

  /**
   * A device announced now that an earlier run announced with more components (a feature or an
   * entity group since turned off, a container no longer allowed to be controlled): its payload
   * is sent once more with removal stubs for those. Later announcements need not repeat them.
   */
  #dropStaleComponents(seen: ReadonlyMap<string, string>): void {
    if (!this.#discovery || this.#ctx.mode !== "device") return;
    for (const [topic, earlier] of seen) {
      const now = this.#publisher.retained(topic);
      if (now === undefined || !topic.endsWith("/config")) continue;
      const merged = withRemovalStubs(earlier, now);
      if (merged !== undefined) this.#publisher.setRetained(topic, merged, PRIORITY.discovery);
    }
  }
}
