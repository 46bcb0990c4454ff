// Fake Docker Engine 20.10, healthchecks: how a probe result changes State.Health, and what
// stopping the health monitor does to it. Modelled on moby v20.10.27 daemon/health.go
// (handleProbeResult, updateHealthMonitor, initHealthMonitor, stopHealthchecks) and
// container/health.go (CloseMonitorChannel); docker-v29.7.2 has the same rules (the latter file
// moved to daemon/container/health.go). In both:
// - pause (daemon/pause.go containerPause) and die call updateHealthMonitor/stopHealthchecks,
//   whose CloseMonitorChannel sets Status "unhealthy" directly, with no event;
// - unpause (daemon/unpause.go) reopens the monitor and resets nothing: the status stays
//   "unhealthy" and FailingStreak keeps its value;
// - a probe emits `health_status: <s>` only if the status differs from before the probe, so
//   after unpause a passing probe emits `health_status: healthy` and a failing one emits nothing.
import type { FakeContainer, HealthLogEntry, HealthStatus } from "./fake-engine-model.js";

/** daemon/health.go defaultProbeRetries. */
const DEFAULT_RETRIES = 3;
/** daemon/health.go maxLogEntries. */
const MAX_LOG_ENTRIES = 5;

/** The health monitor runs only while the process runs and is not paused (updateHealthMonitor). */
export function monitorRunning(c: FakeContainer): boolean {
  return c.health !== null && c.running && !c.paused && !c.restarting;
}

/** CloseMonitorChannel: "unhealthy when the monitor has stopped", silently. */
export function stopMonitor(c: FakeContainer): void {
  if (c.health) c.health.status = "unhealthy";
}

/** initHealthMonitor at every start, manual or by a restart policy: starting, streak 0. */
export function initMonitor(c: FakeContainer): void {
  if (!c.healthcheck) return;
  c.health = { status: "starting", failingStreak: 0, log: c.health?.log ?? null };
}

/**
 * handleProbeResult: appends the result to the Log (last 5), then a pass makes the container
 * healthy; a failure increments FailingStreak (unless the status is still "starting" within
 * the start period) and makes it unhealthy at `Retries` (default 3). Returns the new status if
 * it changed (the engine then emits `health_status: <status>`), else null.
 */
export function applyProbeResult(
  c: FakeContainer,
  entry: HealthLogEntry,
  nowNs: bigint,
): HealthStatus | null {
  const h = c.health;
  if (!h || !c.healthcheck) throw new Error(`fake engine: container ${c.name} has no healthcheck`);
  const old = h.status;
  h.log = [...(h.log ?? []), entry].slice(-MAX_LOG_ENTRIES);
  if (entry.ExitCode === 0) {
    h.failingStreak = 0;
    h.status = "healthy";
  } else {
    const startPeriodNs = BigInt(c.healthcheck.StartPeriod ?? 0);
    const inStartPeriod = h.status === "starting" && nowNs - c.startedAt < startPeriodNs;
    if (!inStartPeriod) {
      h.failingStreak += 1;
      const configured = c.healthcheck.Retries ?? 0;
      if (h.failingStreak >= (configured > 0 ? configured : DEFAULT_RETRIES))
        h.status = "unhealthy";
    }
  }
  return h.status === old ? null : h.status;
}
