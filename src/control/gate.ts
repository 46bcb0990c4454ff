// Who may act now: one command per container at a time (a second is refused, never queued), and
// token buckets per target and overall, so a flood of commands (a looping automation, a replayed
// script) reaches the engine as a trickle and is told so.

export interface GateLimits {
  /** Commands a single target may take in a burst, then one per `perTargetRefillMs`. */
  perTargetBurst: number;
  perTargetRefillMs: number;
  /** The same over every target of the host. */
  overallBurst: number;
  overallRefillMs: number;
}

export const DEFAULT_LIMITS: GateLimits = {
  perTargetBurst: 5,
  perTargetRefillMs: 6_000,
  overallBurst: 20,
  overallRefillMs: 1_000,
};

class Bucket {
  #tokens: number;
  #at: number;

  constructor(
    readonly burst: number,
    readonly refillMs: number,
    now: number,
  ) {
    this.#tokens = burst;
    this.#at = now;
  }

  #refill(now: number): void {
    const gained = (now - this.#at) / this.refillMs;
    this.#tokens = Math.min(this.burst, this.#tokens + gained);
    this.#at = now;
  }

  has(now: number): boolean {
    this.#refill(now);
    return this.#tokens >= 1;
  }

  take(): void {
    this.#tokens -= 1;
  }

  full(now: number): boolean {
    this.#refill(now);
    return this.#tokens >= this.burst;
  }
}

export type Admission =
  | { ok: true; release: () => void }
  | { ok: false; reason: "busy" | "rate_limited" };

export class CommandGate {
  readonly #limits: GateLimits;
  readonly #now: () => number;
  readonly #busy = new Set<string>();
  readonly #buckets = new Map<string, Bucket>();
  readonly #overall: Bucket;

  constructor(limits: GateLimits = DEFAULT_LIMITS, now: () => number = Date.now) {
    this.#limits = limits;
    this.#now = now;
    this.#overall = new Bucket(limits.overallBurst, limits.overallRefillMs, now());
  }

  /**
   * Admits a command acting on all of `targets` (one container, or a stack's), or says why not.
   * A refused command costs no token.
   */
  admit(targets: readonly string[]): Admission {
    if (targets.some((t) => this.#busy.has(t))) return { ok: false, reason: "busy" };
    const now = this.#now();
    const buckets = targets.map((t) => this.#bucket(t, now));
    if (!this.#overall.has(now) || buckets.some((b) => !b.has(now))) {
      return { ok: false, reason: "rate_limited" };
    }
    this.#overall.take();
    for (const b of buckets) b.take();
    for (const t of targets) this.#busy.add(t);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        for (const t of targets) this.#busy.delete(t);
        this.#prune();
      },
    };
  }

  #bucket(target: string, now: number): Bucket {
    let bucket = this.#buckets.get(target);
    if (!bucket) {
      bucket = new Bucket(this.#limits.perTargetBurst, this.#limits.perTargetRefillMs, now);
      this.#buckets.set(target, bucket);
    }
    return bucket;
  }

  /** Full buckets hold nothing worth keeping: the map stays as small as the recent targets. */
  #prune(): void {
    const now = this.#now();
    for (const [target, bucket] of this.#buckets) {
      if (!this.#busy.has(target) && bucket.full(now)) this.#buckets.delete(target);
    }
  }
}
