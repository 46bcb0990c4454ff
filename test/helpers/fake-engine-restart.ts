// Fake Docker Engine 20.10, restart policies: what moby's restart manager decides when a
// container's main process exits, and how long it waits before starting it again.
// Modelled on moby v20.10.27 restartmanager/restartmanager.go (ShouldRestart, Cancel) and
// container/container.go (RestartManager, ResetRestartManager, ExitOnNext); the rules are the
// same in docker-v29.7.2 (daemon/internal/restartmanager/restartmanager.go).
// daemon/monitor.go handleContainerExit applies the decision (see FakeEngineModel.die).

/** HostConfig.RestartPolicy as inspect shows it. */
export interface RestartPolicy {
  Name: string;
  MaximumRetryCount: number;
}

/** What a test may write: the object, or the `docker run --restart` text ("on-failure:2"). */
export type RestartPolicyInput =
  | RestartPolicy
  | "no"
  | "always"
  | "unless-stopped"
  | "on-failure"
  | `on-failure:${number}`;

/** One container's restart manager (moby keeps it in memory, next to the container). */
export interface RestartManagerState {
  /** rm.restartCount: starts at the container's RestartCount when the manager is created. */
  count: number;
  /** rm.timeout in ms: the back-off of the pending (or last) restart. */
  timeoutMs: number;
  /** Cancel() was called (docker stop / kill / rm -f): ShouldRestart refuses from now on. */
  canceled: boolean;
}

const DEFAULT_TIMEOUT_MS = 100;
const MAX_TIMEOUT_MS = 60_000;
const BACKOFF_MULTIPLIER = 2;
/** A run of 10 s or more resets the back-off to the default. */
const RESET_AFTER_NS = 10_000_000_000n;

export function toRestartPolicy(input: RestartPolicyInput | undefined): RestartPolicy {
  if (input === undefined) return { Name: "no", MaximumRetryCount: 0 };
  if (typeof input !== "string") return { ...input };
  const [name, max] = input.split(":");
  const retries = max === undefined ? 0 : Number(max);
  if (!Number.isInteger(retries) || retries < 0 || (max !== undefined && name !== "on-failure")) {
    throw new Error(`fake engine: invalid restart policy ${input}`);
  }
  return { Name: name ?? "no", MaximumRetryCount: retries };
}

/** RestartPolicy.IsNone: "no" or empty. */
export function isNonePolicy(policy: RestartPolicy): boolean {
  return policy.Name === "no" || policy.Name === "";
}

/** container.RestartManager(): created lazily from the container's RestartCount. */
export function newRestartManager(restartCount: number): RestartManagerState {
  return { count: restartCount, timeoutMs: 0, canceled: false };
}

/**
 * ShouldRestart: the back-off in ms if the container is to be restarted, else null. Mutates
 * the manager like moby: the timeout doubles from 100 ms up to 1 min (reset after a 10 s run)
 * and the manager's count goes up by one per restart it allows.
 */
export function shouldRestart(
  policy: RestartPolicy,
  rm: RestartManagerState,
  exit: { exitCode: number; manuallyStopped: boolean; ranNs: bigint },
): number | null {
  if (isNonePolicy(policy)) return null;
  if (rm.canceled) return null;
  if (exit.ranNs >= RESET_AFTER_NS) rm.timeoutMs = 0;
  if (rm.timeoutMs === 0) rm.timeoutMs = DEFAULT_TIMEOUT_MS;
  else if (rm.timeoutMs < MAX_TIMEOUT_MS) rm.timeoutMs *= BACKOFF_MULTIPLIER;
  rm.timeoutMs = Math.min(rm.timeoutMs, MAX_TIMEOUT_MS);
  let restart = false;
  if (policy.Name === "always") restart = true;
  else if (policy.Name === "unless-stopped") restart = !exit.manuallyStopped;
  else if (policy.Name === "on-failure") {
    const max = policy.MaximumRetryCount;
    if (max === 0 || rm.count < max) restart = exit.exitCode !== 0;
  }
  if (!restart) return null;
  rm.count += 1;
  return rm.timeoutMs;
}
