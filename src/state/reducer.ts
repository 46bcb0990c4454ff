// Pure reducer: snapshot and events in, container records and changes out. No I/O, no clock:
// every time comes from the engine. Events set state rather than count it, so re-applying an
// event (a replay after reconnect) is harmless.
import type { EngineEvent } from "../docker/events.js";
import type { ContainerInspect, ContainerSummary } from "../docker/schemas.js";
import {
  type ContainerRecord,
  type ContainerStatus,
  containerStatuses,
  type Health,
} from "./model.js";

export type ContainerMap = ReadonlyMap<string, ContainerRecord>;

export type Change =
  | { kind: "upsert"; record: ContainerRecord }
  /** The container is gone: destroyed, renamed away, or missing from a fresh snapshot. */
  | { kind: "removed"; name: string; id: string; reason: RemovalReason };

/**
 * destroy: removed by the engine; vanished: missing from a fresh snapshot; rename: renamed by a
 * user; replaced: renamed by Compose on its way out, a new container of that name follows.
 */
export type RemovalReason = "destroy" | "vanished" | "rename" | "replaced";

/** What an input does to the model. The map itself is never copied or mutated here. */
export interface Reduction {
  changes: Change[];
  /** Set when the event is about a container the model does not know in full: inspect it. */
  inspect?: { id: string; name: string };
}

const COMPOSE_PROJECT = "com.docker.compose.project";
const COMPOSE_SERVICE = "com.docker.compose.service";

/**
 * Compose renames a container it is about to replace to `<first 12 of its id>_<name>`; such a
 * name is transient and never mirrored.
 */
export function isReplacementName(name: string, id: string): boolean {
  return id.length >= 12 && name.startsWith(`${id.slice(0, 12)}_`);
}

function nanoToIso(timeNano: string): string {
  const ms = Number(BigInt(timeNano) / 1_000_000n);
  const nanos = timeNano.padStart(9, "0").slice(-9);
  return `${new Date(ms).toISOString().slice(0, 19)}.${nanos}Z`;
}

function dockerTime(value: string | undefined): string | null {
  if (!value || value.startsWith("0001-01-01")) return null;
  return value;
}

function asStatus(value: string): ContainerStatus {
  return (containerStatuses as readonly string[]).includes(value)
    ? (value as ContainerStatus)
    : "exited";
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
  };
}

/** A record from a list entry alone (used when inspect failed or is not needed). */
export function recordFromSummary(summary: ContainerSummary): ContainerRecord | null {
  const name = (summary.Names?.[0] ?? "").replace(/^\//, "");
  if (name === "" || isReplacementName(name, summary.Id)) return null;
  const labels = summary.Labels ?? {};
  const status = asStatus(summary.State);
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
  const status = asStatus(s.Status);
  const healthcheck = healthcheckCommand(inspect.Config?.Healthcheck?.Test);
  let health: Health = "none";
  if (healthcheck !== null) {
    const reported = s.Health?.Status;
    health = reported === "healthy" || reported === "unhealthy" ? reported : "starting";
  }
  const finished = dockerTime(s.FinishedAt);
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
  };
}

function sameRecord(a: ContainerRecord, b: ContainerRecord): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

const NOTHING: Reduction = Object.freeze({ changes: [] }) as Reduction;

function withRecord(containers: ContainerMap, record: ContainerRecord): Reduction {
  const before = containers.get(record.name);
  if (before && sameRecord(before, record)) return NOTHING;
  return { changes: [{ kind: "upsert", record }] };
}

function withoutRecord(containers: ContainerMap, name: string, reason: RemovalReason): Reduction {
  const before = containers.get(name);
  if (!before) return NOTHING;
  return { changes: [{ kind: "removed", name, id: before.id, reason }] };
}

/** Applies a reduction's changes to a map the caller owns. */
export function commitChanges(
  containers: Map<string, ContainerRecord>,
  changes: readonly Change[],
): void {
  for (const change of changes) {
    if (change.kind === "upsert") containers.set(change.record.name, change.record);
    else containers.delete(change.name);
  }
}

/**
 * Replaces the model with a fresh snapshot: records not in it are removed ("vanished"), the rest
 * are upserted where they differ.
 */
export function applySnapshot(
  containers: ContainerMap,
  snapshot: readonly ContainerRecord[],
): Reduction {
  const changes: Change[] = [];
  const seen = new Set<string>();
  for (const record of snapshot) {
    if (seen.has(record.name)) continue;
    seen.add(record.name);
    changes.push(...withRecord(containers, record).changes);
  }
  for (const name of containers.keys()) {
    if (!seen.has(name)) changes.push(...withoutRecord(containers, name, "vanished").changes);
  }
  return { changes };
}

/** Applies an inspect answer for one container (after create, start, or an unknown id). */
export function applyInspect(containers: ContainerMap, inspect: ContainerInspect): Reduction {
  const record = recordFromInspect(inspect);
  if (!record) return NOTHING;
  const current = containers.get(record.name);
  // An answer about a container that has since been replaced under the same name is stale.
  if (current && current.id !== record.id) return NOTHING;
  // So is one naming a container by a name it had before a rename the model already applied.
  if (!current) {
    for (const other of containers.values()) if (other.id === record.id) return NOTHING;
  }
  if (current) {
    // Keep what events already told us more precisely (times to the nanosecond, health after
    // the inspect was sent); take what only inspect knows.
    return withRecord(containers, {
      ...current,
      image: record.image || current.image,
      restart_count: record.restart_count,
      healthcheck: record.healthcheck,
      health:
        record.healthcheck === null
          ? "none"
          : current.health === "none"
            ? record.health
            : current.health,
      labels: record.labels,
      ...composeFields(record.labels),
    });
  }
  return withRecord(containers, record);
}

/** What a container event alone says of its container (labels, image): before an inspect answers. */
export function recordFromEvent(event: EngineEvent, name: string = event.name): ContainerRecord {
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(event.attributes)) {
    if (!["name", "image", "exitCode", "signal", "oldName", "execID"].includes(key))
      labels[key] = value;
  }
  return baseRecord(name, event.actorId, event.attributes.image ?? "", labels);
}

/** Applies one engine event. Events of other types, and exec noise, change nothing. */
export function applyEvent(containers: ContainerMap, event: EngineEvent): Reduction {
  if (event.type !== "container" || event.actorId === "") return NOTHING;
  const name = event.name;
  if (name === "") return NOTHING;

  if (event.action === "rename") {
    // Already applied (a replay after a reconnect): the container has this name now.
    if (containers.get(name)?.id === event.actorId) return NOTHING;
    const oldName = (event.attributes.oldName ?? "").replace(/^\//, "");
    const old = containers.get(oldName);
    const known = old !== undefined && old.id === event.actorId;
    const replaced = isReplacementName(name, event.actorId);
    const reason = replaced ? "replaced" : "rename";
    const removed = known ? withoutRecord(containers, oldName, reason).changes : [];
    if (replaced) return { changes: removed };
    const base = known ? old : recordFromEvent(event, name);
    const changes = [...removed, { kind: "upsert", record: { ...base, name } } as const];
    return known ? { changes } : { changes, inspect: { id: event.actorId, name } };
  }

  if (isReplacementName(name, event.actorId)) return NOTHING;
  const current = containers.get(name);

  if (event.action === "destroy") {
    if (!current || current.id !== event.actorId) return NOTHING;
    return withoutRecord(containers, name, "destroy");
  }

  // A container the model does not know (or a new one under a known name): start from the event.
  let record: ContainerRecord;
  let inspect: Reduction["inspect"];
  if (!current || current.id !== event.actorId) {
    if (current && event.action !== "create") {
      // An event for an older container of this name (replay across a reconnect): stale.
      return NOTHING;
    }
    record = recordFromEvent(event, name);
    inspect = { id: event.actorId, name };
  } else {
    record = current;
  }

  // Only start and die carry a time of ours; exec noise need not pay for the conversion.
  switch (event.action) {
    case "create":
      break;
    case "start":
      record = {
        ...record,
        status: "running",
        running: true,
        started_at: nanoToIso(event.timeNano),
        exit_code: null,
        oom_killed: false,
        health: record.healthcheck !== null ? "starting" : record.health,
      };
      break;
    case "restart":
      record = { ...record, status: "running", running: true };
      break;
    case "die": {
      const code = Number.parseInt(event.attributes.exitCode ?? "", 10);
      record = {
        ...record,
        status: "exited",
        running: false,
        finished_at: nanoToIso(event.timeNano),
        exit_code: Number.isFinite(code) ? code : record.exit_code,
      };
      break;
    }
    case "oom":
      record = { ...record, oom_killed: true };
      break;
    case "pause":
      record = { ...record, status: "paused", running: false };
      break;
    case "unpause":
      record = {
        ...record,
        status: "running",
        running: true,
        // The engine resets health on unpause; a fresh health_status follows.
        health: record.healthcheck !== null ? "starting" : record.health,
      };
      break;
    case "health_status": {
      const detail = event.detail.trim();
      if (detail === "healthy" || detail === "unhealthy" || detail === "starting") {
        record = { ...record, health: detail };
      }
      break;
    }
    default:
      // kill, stop, attach, exec_*, top, resize, update, commit...: no state of ours changes.
      // For a container we do not know, they tell us nothing reliable: ask for an inspect.
      return inspect ? { changes: [], inspect } : NOTHING;
  }
  const result = withRecord(containers, record);
  return inspect ? { ...result, inspect } : result;
}
