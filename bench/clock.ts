// Wall clock in nanoseconds for comparing with the engine's `timeNano` (Go's time.Now(), the same
// machine's CLOCK_REALTIME). Date.now() alone has 1 ms resolution; here it is read once at a
// millisecond edge and carried forward with process.hrtime, which resolves nanoseconds.
import { hrtime } from "node:process";

export class WallClock {
  #wall0 = 0n;
  #hr0 = 0n;

  constructor() {
    this.anchor();
  }

  /** Re-reads Date.now() at the moment it ticks, so the anchor error is one loop turn (< 1 us). */
  anchor(): void {
    const start = Date.now();
    let now = Date.now();
    while (now === start) now = Date.now();
    this.#hr0 = hrtime.bigint();
    this.#wall0 = BigInt(now) * 1_000_000n;
  }

  nowNs(): bigint {
    return this.#wall0 + (hrtime.bigint() - this.#hr0);
  }
}

export const CLOCK_NOTE =
  "engine timeNano (ns, Go time.Now) vs. the subscriber's receive time: process.hrtime (ns) " +
  "anchored to Date.now() at a millisecond edge before each scenario (anchor error < 1 us); " +
  "both clocks are this machine's CLOCK_REALTIME";

/** For sorting bigints (Math.max does not take them). */
export function compareBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function nsToMs(ns: bigint): number {
  return Number(ns) / 1e6;
}

/** Nearest-rank percentile of an ascending list. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? Number.NaN;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until `check` returns something other than undefined/false; throws after the timeout. */
export async function until<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  what: string,
  intervalMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`bench: timed out after ${timeoutMs} ms: ${what}`);
    await sleep(intervalMs);
  }
}
