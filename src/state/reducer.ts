// Pure reducer: snapshot, events and inspect answers in, changes out. No I/O, no clock: every time
// comes from the engine. Events set state rather than count it, so re-applying an event (a replay
// after reconnect) is harmless. Where an event cannot say the whole truth, the reduction asks for
// an inspect; ContainerModel (container-model.ts) decides when an answer may be applied.
import type { EngineEvent } from "../docker/events.js";
import type { ContainerInspect } from "../docker/schemas.js";
import type { ContainerRecord } from "./model.js";
import { isReplacementName, recordFromEvent, recordFromInspect } from "./records.js";

export {
  isReplacementName,
  recordFromEvent,
  recordFromInspect,
  recordFromSummary,
} from "./records.js";

export type ContainerMap = ReadonlyMap<string, ContainerRecord>;

export type Change =
  | { kind: "upsert"; record: ContainerRecord }
  /** The container is gone: destroyed, renamed away, or missing from a fresh snapshot. */
  | { kind: "removed"; name: string; id: string; reason: RemovalReason };

/**
 * destroy: removed by the engine (Docker's `destroy`, Podman's `remove`); vanished: missing from a fresh snapshot (or inspect said 404);
 * rename: renamed by a user; replaced: renamed by Compose on its way out, a new container of that
 * name follows.
 */
export type RemovalReason = "destroy" | "vanished" | "rename" | "replaced";

/**
 * Why an inspect is wanted. `hold`: what the event leaves is not known (a container first heard
 * of, an unpause's health, a die under a restart policy): show nothing new until the engine
 * answers. `refine`: the event's view is right but the engine knows more (exact times, restart
 * count, health after a pause): show it now, then the answer.
 */
export type InspectNeed = "hold" | "refine";

/** What an input does to the model. The map itself is never copied or mutated here. */
export interface Reduction {
  changes: Change[];
  /** Ask the engine about this container. */
  inspect?: { id: string; name: string; need: InspectNeed };
}

function nanoToIso(timeNano: string): string {
  const ms = Number(BigInt(timeNano) / 1_000_000n);
  const nanos = timeNano.padStart(9, "0").slice(-9);
  return `${new Date(ms).toISOString().slice(0, 19)}.${nanos}Z`;
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

/**
 * Applies an inspect answer. `fresh`: no event about the container arrived after the request was
 * sent, so the answer is the engine's truth, newer than anything the events said, and replaces the
 * record. A stale answer gives only what never changes for a container id (image, labels,
 * healthcheck, restart policy); its state may be older than the events applied since.
 */
export function applyInspect(
  containers: ContainerMap,
  inspect: ContainerInspect,
  options: { fresh: boolean } = { fresh: true },
): Reduction {
  const record = recordFromInspect(inspect);
  if (!record) return NOTHING;
  const current = containers.get(record.name);
  // An answer about a container that has since been replaced under the same name is stale.
  if (current && current.id !== record.id) return NOTHING;
  // So is one naming a container by a name it had before a rename the model already applied.
  if (!current) {
    for (const other of containers.values()) if (other.id === record.id) return NOTHING;
    return withRecord(containers, record);
  }
  if (options.fresh) return withRecord(containers, record);
  return withRecord(containers, {
    ...current,
    image: record.image || current.image,
    labels: record.labels,
    compose_project: record.compose_project,
    compose_service: record.compose_service,
    healthcheck: record.healthcheck,
    restart_policy: record.restart_policy,
    health:
      record.healthcheck === null
        ? "none"
        : current.health === "none"
          ? record.health
          : current.health,
  });
}

/** What a die leaves: exited, unless a restart policy may have the engine restarting it. */
function dieNeed(record: ContainerRecord): InspectNeed {
  return record.restart_policy === "no" ? "refine" : "hold";
}

/** Applies one engine event. Events of other types, and exec noise, change nothing. */
export function applyEvent(containers: ContainerMap, event: EngineEvent): Reduction {
  if (event.type !== "container" || event.actorId === "") return NOTHING;
  const name = event.name;
  if (name === "") return NOTHING;
  const id = event.actorId;

  if (event.action === "rename") {
    // Already applied (a replay after a reconnect): the container has this name now.
    if (containers.get(name)?.id === id) return NOTHING;
    // Podman's rename names only the new name: the old one is the one its id has in the model.
    const oldName = (event.attributes.oldName ?? "").replace(/^\//, "") || nameOfId(containers, id);
    const old = containers.get(oldName);
    const known = old !== undefined && old.id === id;
    const replaced = isReplacementName(name, id);
    const reason = replaced ? "replaced" : "rename";
    const removed = known ? withoutRecord(containers, oldName, reason).changes : [];
    if (replaced) return { changes: removed };
    const base = known ? old : recordFromEvent(event, name);
    const changes = [...removed, { kind: "upsert", record: { ...base, name } } as const];
    return known ? { changes } : { changes, inspect: { id, name, need: "hold" } };
  }

  if (isReplacementName(name, id)) return NOTHING;
  const current = containers.get(name);

  // Podman says `remove` where Docker says `destroy`.
  if (event.action === "destroy" || event.action === "remove") {
    if (!current || current.id !== id) return NOTHING;
    return withoutRecord(containers, name, "destroy");
  }

  // A container the model does not know (or a new one under a known name): start from the event,
  // and hold it until the engine says the rest (its healthcheck, its real state).
  let record: ContainerRecord;
  let need: InspectNeed | undefined;
  if (!current || current.id !== id) {
    if (current && event.action !== "create") {
      // An event for an older container of this name (replay across a reconnect): stale.
      return NOTHING;
    }
    record = recordFromEvent(event, name);
    need = "hold";
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
      // The engine's exact start time and its restart count.
      need ??= "refine";
      break;
    case "restart":
      record = { ...record, status: "running", running: true };
      need ??= "refine";
      break;
    case "die": {
      const code = Number.parseInt(event.attributes.exitCode ?? "", 10);
      need ??= dieNeed(record);
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
    case "stop":
      // Usually after a die that said it all; but a stop during a restart policy's back-off is the
      // only event the engine sends (restarting -> exited), and then only the engine can say.
      need ??= record.status === "restarting" ? "hold" : dieNeed(record);
      if (need === "refine") return NOTHING;
      break;
    case "update":
      // `docker update` may change the restart policy, which decides what a die means.
      need ??= "refine";
      break;
    case "pause":
      // The engine changes health while a container is paused without an event of its own.
      record = { ...record, status: "paused", running: false };
      need ??= "refine";
      break;
    case "unpause":
      // Running for certain; the health it comes back with only the engine knows.
      record = { ...record, status: "running", running: true };
      need ??= record.healthcheck !== null ? "hold" : "refine";
      break;
    case "health_status": {
      const detail = event.detail.trim();
      if (detail === "healthy" || detail === "unhealthy" || detail === "starting") {
        record = { ...record, health: detail };
      } else if (detail === "") {
        // Podman's health_status has no `: <status>`; its top-level HealthStatus is the status
        // from before the probe. Only the engine's inspect, after the event, says the new one.
        need ??= "refine";
      }
      break;
    }
    default:
      // kill, attach, exec_*, top, resize, commit...: no state of ours changes.
      // For a container we do not know, they tell us nothing reliable: ask for an inspect.
      return need ? { changes: [], inspect: { id, name, need } } : NOTHING;
  }
  const result = withRecord(containers, record);
  return need ? { ...result, inspect: { id, name, need } } : result;
}

/** The name under which the model holds container `id`, or "". */
function nameOfId(containers: ContainerMap, id: string): string {
  for (const record of containers.values()) if (record.id === id) return record.name;
  return "";
}

/** Whether an event can change what the model says of its container (exec noise cannot). */
export function changesState(event: EngineEvent): boolean {
  return event.type === "container" && STATE_ACTIONS.has(event.action);
}

/** Container actions that change what the model says of a container. */
const STATE_ACTIONS = new Set([
  "create",
  "start",
  "restart",
  "die",
  "oom",
  "pause",
  "unpause",
  "health_status",
  "rename",
  "destroy",
  // Podman's destroy.
  "remove",
  "update",
]);

/**
 * Every container action applyEvent reacts to: the engine-side event filter always lets these
 * through, whatever the user asks to see on the events topics (a `stop` may end a restart
 * back-off; a `kill` of a container not known yet asks the engine about it).
 */
export const MODEL_ACTIONS: readonly string[] = [...STATE_ACTIONS, "stop", "kill"];
