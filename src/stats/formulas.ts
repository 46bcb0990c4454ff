// The numbers `docker stats` shows, computed from the Engine API's stats payloads: pure functions
// of one sample (and the previous one, for CPU), for cgroup v1 and v2 alike.
import { z } from "zod/v3";

const cpuStatsSchema = z
  .object({
    cpu_usage: z
      .object({
        total_usage: z.number().default(0),
        percpu_usage: z.array(z.number()).nullish(),
      })
      .passthrough(),
    system_cpu_usage: z.number().optional(),
    online_cpus: z.number().optional(),
  })
  .passthrough();

/** The parts of `GET /containers/{id}/stats` the formulas read; everything else is ignored. */
export const statsPayloadSchema = z
  .object({
    read: z.string().default(""),
    cpu_stats: cpuStatsSchema.optional(),
    memory_stats: z
      .object({
        usage: z.number().optional(),
        limit: z.number().optional(),
        stats: z.record(z.string(), z.number()).optional(),
      })
      .passthrough()
      .optional(),
    networks: z
      .record(z.string(), z.object({ rx_bytes: z.number(), tx_bytes: z.number() }).passthrough())
      .nullish(),
    blkio_stats: z
      .object({
        io_service_bytes_recursive: z
          .array(z.object({ op: z.string(), value: z.number() }).passthrough())
          .nullish(),
      })
      .passthrough()
      .optional(),
    pids_stats: z.object({ current: z.number().optional() }).passthrough().optional(),
  })
  .passthrough();
export type StatsPayload = z.infer<typeof statsPayloadSchema>;

/** What CPU % needs of a sample, kept between one-shot samples (they carry no `precpu_stats`). */
export interface CpuPoint {
  total: number;
  system: number;
  /** The sample's `read` time, in ms since the epoch (NaN when absent). */
  readMs?: number;
}

/**
 * What CPU % is measured against. `system`: the host's CPU time (`system_cpu_usage`), times the
 * CPUs, as `docker stats` does. `wall-clock`: the time between the two samples' `read` stamps, for
 * Podman, whose `system_cpu_usage` counts only the CPU time the host spent busy (cgroup
 * accounting, as far as two captures tell), so docker's formula there follows the host's load: a
 * one-core loop read 193 % in one capture from Podman 4.3 here and 99 % in another.
 */
export type CpuClock = "system" | "wall-clock";

/** One container's figures, as published on its stats topic (without `time`). */
export interface StatsValues {
  /** Of one core, as `docker stats` shows it; null until a previous sample exists. */
  cpu_percent: number | null;
  memory_bytes: number;
  memory_limit_bytes: number;
  memory_percent: number;
  /** Null when the container has no network interfaces (`--network none`). */
  network_rx_bytes: number | null;
  network_tx_bytes: number | null;
  block_read_bytes: number;
  block_write_bytes: number;
  pids: number | null;
}

/** A stopped or just-created container answers 200 with zero time and no memory figures. */
export function isLiveSample(p: StatsPayload): boolean {
  return !p.read.startsWith("0001-") && p.memory_stats?.usage !== undefined;
}

/** An RFC 3339 time in ms, keeping the sub-millisecond digits Date.parse drops. */
function timeMs(text: string): number {
  const ms = Date.parse(text);
  const fraction = /\.(\d{4,9})/.exec(text)?.[1];
  return fraction ? ms + ((Number(`0.${fraction}`) * 1000) % 1) : ms;
}

export function cpuPoint(p: StatsPayload): CpuPoint | undefined {
  const cpu = p.cpu_stats;
  if (cpu?.system_cpu_usage === undefined) return undefined;
  return {
    total: cpu.cpu_usage.total_usage,
    system: cpu.system_cpu_usage,
    readMs: timeMs(p.read),
  };
}

/** CPU % of one core over the wall-clock time between two samples (see CpuClock). */
export function cpuPercentByTime(p: StatsPayload, prev: CpuPoint): number {
  const now = cpuPoint(p);
  if (!now || prev.readMs === undefined || now.readMs === undefined) return 0;
  const cpuDelta = now.total - prev.total;
  const elapsedNs = (now.readMs - prev.readMs) * 1e6;
  if (!(cpuDelta > 0 && elapsedNs > 0)) return 0;
  return (cpuDelta / elapsedNs) * 100;
}

/**
 * CPU % between two samples: the container's share of the host's CPU time, times the CPUs
 * (online_cpus, else the per-CPU list's length), so one busy core is 100. 0 when either delta is
 * not positive (the docker CLI's rule: a counter reset or a repeated sample).
 */
export function cpuPercent(p: StatsPayload, prev: CpuPoint): number {
  const now = cpuPoint(p);
  if (!now) return 0;
  const cpuDelta = now.total - prev.total;
  const systemDelta = now.system - prev.system;
  if (cpuDelta <= 0 || systemDelta <= 0) return 0;
  const cpus = p.cpu_stats?.online_cpus || p.cpu_stats?.cpu_usage.percpu_usage?.length || 0;
  return (cpuDelta / systemDelta) * cpus * 100;
}

/** Usage minus the inactive page cache: `total_inactive_file` (v1) or `inactive_file` (v2). */
export function memoryBytes(p: StatsPayload): number {
  const usage = p.memory_stats?.usage ?? 0;
  const stats = p.memory_stats?.stats ?? {};
  // v1 has both keys (inactive_file of the cgroup alone); total_* includes its children.
  const inactive = stats.total_inactive_file ?? stats.inactive_file;
  return inactive !== undefined && inactive < usage ? usage - inactive : usage;
}

function networkTotals(p: StatsPayload): { rx: number; tx: number } | null {
  const nets = Object.values(p.networks ?? {});
  if (nets.length === 0) return null;
  let rx = 0;
  let tx = 0;
  for (const n of nets) {
    rx += n.rx_bytes;
    tx += n.tx_bytes;
  }
  return { rx, tx };
}

/** Bytes read and written: `Read`/`Write` entries (v1), `read`/`write` (v2), summed over devices. */
function blockTotals(p: StatsPayload): { read: number; write: number } {
  let read = 0;
  let write = 0;
  for (const e of p.blkio_stats?.io_service_bytes_recursive ?? []) {
    const op = e.op.toLowerCase();
    if (op === "read") read += e.value;
    else if (op === "write") write += e.value;
  }
  return { read, write };
}

const round2 = (n: number) => Math.round(n * 100) / 100;

/** All figures of one live sample; CPU % only when the previous sample is known. */
export function statsValues(
  p: StatsPayload,
  prev: CpuPoint | undefined,
  clock: CpuClock = "system",
): StatsValues {
  const memory = memoryBytes(p);
  const limit = p.memory_stats?.limit ?? 0;
  const net = networkTotals(p);
  const block = blockTotals(p);
  return {
    cpu_percent: prev
      ? round2(clock === "system" ? cpuPercent(p, prev) : cpuPercentByTime(p, prev))
      : null,
    memory_bytes: memory,
    memory_limit_bytes: limit,
    memory_percent: limit > 0 ? round2((memory / limit) * 100) : 0,
    network_rx_bytes: net?.rx ?? null,
    network_tx_bytes: net?.tx ?? null,
    block_read_bytes: block.read,
    block_write_bytes: block.write,
    pids: p.pids_stats?.current ?? null,
  };
}
