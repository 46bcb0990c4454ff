// When a sample is worth a message: a figure moved beyond its dead band, or nothing has been sent
// for a heartbeat. This is what keeps an idle host nearly silent while Home Assistant's
// expire_after (longer than the heartbeat) still notices figures that stop arriving.
import type { StatsValues } from "./formulas.js";

const MIB = 1024 * 1024;

/** How far each figure must move from the last published value to be sent again. */
export const DEAD_BAND: Readonly<Record<keyof StatsValues, number>> = {
  cpu_percent: 0.5,
  memory_bytes: MIB,
  memory_limit_bytes: 0,
  memory_percent: 0.5,
  network_rx_bytes: MIB,
  network_tx_bytes: MIB,
  block_read_bytes: MIB,
  block_write_bytes: MIB,
  pids: 0,
};

/** A figure map with dead bands (the host's sums use their own keys). */
export type Figures = Readonly<Record<string, number | null>>;

/** True when any figure moved beyond its band (a band of 0: any change; null to a number: a change). */
export function movedBeyond(
  last: Figures,
  now: Figures,
  bands: Readonly<Record<string, number>>,
): boolean {
  for (const [key, value] of Object.entries(now)) {
    const before = last[key];
    if (before === undefined) return true;
    if (before === null || value === null) {
      if (before !== value) return true;
      continue;
    }
    const band = bands[key] ?? 0;
    const delta = Math.abs(value - before);
    if (band === 0 ? delta > 0 : delta >= band) return true;
  }
  return false;
}

/** The longest silence between two messages of one topic while its source is sampled. */
export function heartbeatSeconds(intervalSeconds: number): number {
  return Math.max(300, 3 * intervalSeconds);
}

/**
 * Home Assistant's expire_after: the heartbeat, plus the interval the heartbeat may wait for its
 * sample, plus one more interval and half a minute for a slow answer and the broker hop.
 */
export function expireAfterSeconds(intervalSeconds: number): number {
  return Math.ceil(heartbeatSeconds(intervalSeconds) + 2 * intervalSeconds + 30);
}

export interface Published {
  figures: Figures;
  atMs: number;
}

/** Whether to publish `now`, given what was published last (none: publish). */
export function shouldPublish(
  last: Published | undefined,
  now: Figures,
  nowMs: number,
  intervalSeconds: number,
  bands: Readonly<Record<string, number>> = DEAD_BAND,
): boolean {
  if (!last) return true;
  if (nowMs - last.atMs >= heartbeatSeconds(intervalSeconds) * 1000) return true;
  return movedBeyond(last.figures, now, bands);
}
