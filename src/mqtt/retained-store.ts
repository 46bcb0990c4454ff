// The retained state, pure: per topic the payload the broker should hold from us, the one last
// handed to it on this connection, and its priority; it answers which retained message to send
// next. No I/O and no timers: MqttPublisher owns the connection and tells this what happened.

/**
 * Lower goes first: availability, then discovery parents before children (host, Compose stack,
 * container: Home Assistant drops a `via_device` naming a device it does not know yet), then
 * state, then events. Clears follow the same tiers, so a config is cleared before its state.
 */
export type Priority = 0 | 1 | 2 | 3 | 4;
export const PRIORITY = {
  availability: 0,
  hostDiscovery: 1,
  stackDiscovery: 2,
  discovery: 3,
  state: 4,
} as const;
export const ALL_PRIORITIES: readonly Priority[] = [0, 1, 2, 3, 4];

export class RetainedStore {
  /** What the broker should hold from us; "" is a pending clear. */
  readonly #desired = new Map<string, string>();
  readonly #priority = new Map<string, Priority>();
  /** What was last handed to the broker per topic since the current connection began. */
  readonly #sent = new Map<string, string>();
  /** Topics not to send until released (see hold()). */
  readonly #held = new Set<string>();
  readonly #dirty: Set<string>[] = ALL_PRIORITIES.map(() => new Set<string>());

  /** Sets what a topic should hold; true if the wanted value changed (something may be sent). */
  set(topic: string, payload: string, priority: Priority): boolean {
    if (payload === "") return this.clear(topic, priority);
    if (this.#desired.get(topic) === payload) return false;
    this.#desired.set(topic, payload);
    this.#priority.set(topic, priority);
    this.#markDirty(topic, this.#sent.get(topic) !== payload);
    return true;
  }

  /** Wants a topic cleared with an empty payload; true if that is new. */
  clear(topic: string, priority: Priority): boolean {
    if (this.#desired.get(topic) === "") return false;
    this.#desired.set(topic, "");
    // Availability leads when set but follows when cleared: an entity still set up would read
    // the empty payload (the host's Engine sensor reads that very topic).
    const tier = priority === PRIORITY.availability ? PRIORITY.state : priority;
    const before = this.#priority.get(topic);
    if (before !== undefined && before !== tier) this.#dirty[before]?.delete(topic);
    this.#priority.set(topic, tier);
    this.#markDirty(topic, true);
    return true;
  }

  /** The retained payload wanted on a topic, if any. */
  retained(topic: string): string | undefined {
    const value = this.#desired.get(topic);
    return value === "" ? undefined : value;
  }

  /** Stops holding a topic without anything to send for it. */
  forget(topic: string): void {
    const priority = this.#priority.get(topic);
    if (priority !== undefined) this.#dirty[priority]?.delete(topic);
    this.#desired.delete(topic);
    this.#priority.delete(topic);
    this.#sent.delete(topic);
  }

  /** Marks every wanted topic of the given priorities to be sent again. */
  republish(priorities: readonly Priority[] = ALL_PRIORITIES): void {
    for (const [topic, priority] of this.#priority) {
      if (priorities.includes(priority)) {
        this.#sent.delete(topic);
        this.#dirty[priority]?.add(topic);
      }
    }
  }

  /** A new connection: the broker may have lost everything, so every wanted topic is sent again. */
  reconnected(): void {
    this.#sent.clear();
    for (const topic of this.#desired.keys()) this.#dirty[this.priorityOf(topic)]?.add(topic);
  }

  hold(topic: string): void {
    this.#held.add(topic);
  }

  /** Lets a held topic be sent again; true if it was held and is wanted (something may be sent). */
  release(topic: string): boolean {
    if (!this.#held.delete(topic)) return false;
    if (!this.#desired.has(topic)) return false;
    this.#markDirty(topic, this.#sent.get(topic) !== this.#desired.get(topic));
    return true;
  }

  /** Takes the next message to send, highest priority first, skipping held topics. */
  next(): { topic: string; payload: string } | undefined {
    for (const set of this.#dirty) {
      for (const topic of set) {
        if (this.#held.has(topic)) continue;
        set.delete(topic);
        const payload = this.#desired.get(topic);
        if (payload !== undefined) return { topic, payload };
      }
    }
    return undefined;
  }

  /** Topics waiting to be sent (held ones included). */
  pending(): number {
    return this.#dirty.reduce((n, set) => n + set.size, 0);
  }

  /** The priority a topic is sent with (state if unknown). */
  priorityOf(topic: string): Priority {
    return this.#priority.get(topic) ?? PRIORITY.state;
  }

  /**
   * A payload was handed to the broker. The broker ends with the last value handed to it (one
   * connection keeps order), so that is what a new value is compared with: A, B, then A again
   * before B is acknowledged sends A.
   */
  sending(topic: string, payload: string): void {
    this.#sent.set(topic, payload);
  }

  /** The broker acknowledged a payload; a finished clear is forgotten. */
  acknowledged(topic: string, payload: string): void {
    if (payload === "" && this.#desired.get(topic) === "") {
      this.#desired.delete(topic);
      this.#priority.delete(topic);
      this.#sent.delete(topic);
    }
  }

  /** A payload sent outside the queue was acknowledged: the broker has it if it is the wanted one. */
  acknowledgedNow(topic: string, payload: string): void {
    if (this.#desired.get(topic) === payload) this.#sent.set(topic, payload);
  }

  /** A send failed or timed out; with `retry` the topic's newest value is sent again. */
  failed(topic: string, payload: string, retry: boolean): void {
    if (this.#sent.get(topic) === payload) this.#sent.delete(topic);
    if (retry) this.#dirty[this.priorityOf(topic)]?.add(topic);
  }

  #markDirty(topic: string, dirty: boolean): void {
    const priority = this.priorityOf(topic);
    if (dirty) this.#dirty[priority]?.add(topic);
    else this.#dirty[priority]?.delete(topic);
  }
}
