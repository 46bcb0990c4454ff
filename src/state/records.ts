// Container records from what the engine says: an inspect answer (the whole truth at one moment),
// a list entry (when inspect failed), or an event's attributes (who the container is, no more).
// Pure: no I/O, no clock.
import type { EngineEvent } from "../docker/events.js";
import type { ContainerInspect, ContainerSummary } from "../docker/schemas.js";
import {
  type ContainerRecord,
  type ContainerStatus,
  containerStatuses,
  type Health,
} from "./model.js";

const COMPOSE_PROJECT = "com.docker.compose.project";
const COMPOSE_SERVICE = "com.docker.compose.service";
/**
 * Event attributes that the engine adds beside the container's labels: Docker's, and Podman's
 * `containerExitCode` and `podId` (on every container event, see the Podman 4.3 capture).
 */
const ENGINE_ATTRIBUTES = new Set([
  "name",
  "image",
  "exitCode",
  "signal",
  "oldName",
  "execID",
  "containerExitCode",
  "podId",
  // `die` of Docker 23 and later (moby daemon/monitor.go).
  "execDuration",
]);

/**
 * Compose renames a container it is about to replace to `<first 12 of its id>_<name>`; such a
 * name is transient and never mirrored.
 */
export function isReplacementName(name: string, id: string): boolean {
  return id.length >= 12 && name.startsWith(`${id.slice(0, 12)}_`);
}

/** Whether the engine's status string is one this bridge knows (moby's `State.StateString()`). */
export function isKnownStatus(value: string): value is ContainerStatus {
  return (containerStatuses as readonly string[]).includes(value);
}

/**
 * Logs, once per value and per `seen` set, an engine status this bridge does not know: the record
 * then takes its status from the answer's state flags (see inspectStatus), which is a guess to fix.
 */
export function reportUnknownStatus(
  inspect: ContainerInspect,
  seen: Set<string>,
  log: { error(fields: object, msg: string): void } | undefined,
): void {
  const status = inspect.State.Status;
  if (isKnownStatus(status) || seen.has(status)) return;
  seen.add(status);
  log?.error(
    { container: inspect.Name.replace(/^\//, ""), status, read: inspectStatus(inspect.State) },
    "the engine reported a container status this bridge does not know; read from its state flags",
  );
}

/** An engine time (RFC 3339 with nanoseconds), or null for Go's zero time. */
function dockerTime(value: string | undefined): string | null {
  if (!value || value.startsWith("0001-01-01")) return null;
  return value;
}

function healthcheckCommand(test: readonly string[] | null | undefined): string | null {
  if (!test || test.length === 0) return null;
  const [kind, ...rest] = test;
  if (kind === "NONE") return null;
  if (kind === "CMD-SHELL") return `/bin/sh -c ${rest.join(" ")}`;
  if (kind === "CMD") return rest.join(" ");
  return test.join(" ");
}

function composeFields(labels: Record<string, string>) {
  return {
    compose_project: labels[COMPOSE_PROJECT] ?? null,
    compose_service: labels[COMPOSE_SERVICE] ?? null,
  };
}

/** Health as read from a list entry's status text, for engines that list no Health field. */
function healthFromStatusText(status: string): Health | undefined {
  if (status.includes("(healthy)")) return "healthy";
  if (status.includes("(unhealthy)")) return "unhealthy";
  if (status.includes("(health: starting)")) return "starting";
  return undefined;
}

/**
 * The status of an inspect answer. A status string this bridge does not know (another engine's)
 * is read from the state flags the answer carries beside it; the caller logs it.
 */
function inspectStatus(state: ContainerInspect["State"]): ContainerStatus {
  if (isKnownStatus(state.Status)) return state.Status;
  if (state.Dead) return "dead";
  if (state.Restarting) return "restarting";
  if (state.Paused) return "paused";
  if (state.Running) return "running";
  return dockerTime(state.StartedAt) === null ? "created" : "exited";
}

/** The status of a list entry; an unknown one is read from its human text ("Up 3 minutes"). */
function summaryStatus(summary: ContainerSummary): ContainerStatus {
  if (isKnownStatus(summary.State)) return summary.State;
  const text = summary.Status;
  if (text.startsWith("Up") && text.includes("(Paused)")) return "paused";
  if (text.startsWith("Up")) return "running";
  if (text.startsWith("Restarting")) return "restarting";
  if (text.startsWith("Exited")) return "exited";
  return "created";
}

/** A record that knows only who the container is: created, no health, no times. */
function baseRecord(
  name: string,
  id: string,
  image: string,
  labels: Record<string, string>,
): ContainerRecord {
  return {
    name,
    id,
    image,
    status: "created",
    running: false,
    health: "none",
    exit_code: null,
    oom_killed: false,
    started_at: null,
    finished_at: null,
    restart_count: 0,
    ...composeFields(labels),
    labels,
    healthcheck: null,
    restart_policy: null,
  };
}

/** A record from a list entry alone (used when inspect failed). */
export function recordFromSummary(summary: ContainerSummary): ContainerRecord | null {
  const name = (summary.Names?.[0] ?? "").replace(/^\//, "");
  if (name === "" || isReplacementName(name, summary.Id)) return null;
  const labels = summary.Labels ?? {};
  const status = summaryStatus(summary);
  const exit = /^Exited \((-?\d+)\)/.exec(summary.Status);
  const health = healthFromStatusText(summary.Status);
  return {
    ...baseRecord(name, summary.Id, summary.Image, labels),
    status,
    running: status === "running",
    health: health ?? "none",
    exit_code: exit ? Number(exit[1]) : null,
  };
}

/** A record from an inspect answer: the full truth at that moment. */
export function recordFromInspect(inspect: ContainerInspect): ContainerRecord | null {
  const name = inspect.Name.replace(/^\//, "");
  if (name === "" || isReplacementName(name, inspect.Id)) return null;
  const labels = inspect.Config?.Labels ?? {};
  const s = inspect.State;
  const status = inspectStatus(s);
  const healthcheck = healthcheckCommand(inspect.Config?.Healthcheck?.Test);
  let health: Health = "none";
  if (healthcheck !== null) {
    const reported = s.Health?.Status;
    health = reported === "healthy" || reported === "unhealthy" ? reported : "starting";
  }
  const finished = dockerTime(s.FinishedAt);
  const policy = inspect.HostConfig?.RestartPolicy?.Name;
  return {
    name,
    id: inspect.Id,
    image: inspect.Config?.Image ?? "",
    status,
    running: status === "running",
    health,
    exit_code: status === "running" || status === "paused" || finished === null ? null : s.ExitCode,
    oom_killed: s.OOMKilled,
    started_at: dockerTime(s.StartedAt),
    finished_at: finished,
    restart_count: inspect.RestartCount,
    ...composeFields(labels),
    labels,
    healthcheck,
    restart_policy: policy === undefined || policy === "" ? "no" : policy,
  };
}

/** What a container event alone says of its container (labels, image): before an inspect answers. */
export function recordFromEvent(event: EngineEvent, name: string = event.name): ContainerRecord {
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(event.attributes)) {
    if (!ENGINE_ATTRIBUTES.has(key)) labels[key] = value;
  }
  return baseRecord(name, event.actorId, event.attributes.image ?? "", labels);
}
