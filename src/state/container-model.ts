// The container model of one engine, for the bridge and the library alike: the reducer applied
// to snapshots and events, and the engine asked (inspect) wherever an event cannot say the whole
// truth, with the safeguards that keep a late answer from undoing what newer events said:
// - a destroyed (or vanished) container id is remembered, bounded, and never brought back;
// - an answer is applied in full only if no event about its container arrived after it was
//   asked for, and (when the event's view only needed refining) if it shows the status the
//   events reached: an answer can also run ahead of events still on their way. Otherwise only
//   what never changes for an id is taken, and the engine is asked again;
// - one question per container in flight.
import type { Logger } from "pino";
import type { EngineEvent } from "../docker/events.js";
import type { ContainerInspect } from "../docker/schemas.js";
import { describeError } from "../errors.js";
import type { ContainerRecord } from "./model.js";
import { recordFromInspect, reportUnknownStatus } from "./records.js";
import {
  applyEvent,
  applyInspect,
  applySnapshot,
  type Change,
  changesState,
  commitChanges,
  type RemovalReason,
} from "./reducer.js";

/** A change as the model reports it; `settled` is false while the engine's answer is awaited. */
export type ModelChange =
  | { kind: "upsert"; record: ContainerRecord; settled: boolean }
  | { kind: "removed"; name: string; id: string; reason: RemovalReason };

export interface ContainerModelDeps {
  /** Inspects a container; null when the engine no longer has it. */
  inspect: (id: string) => Promise<ContainerInspect | null>;
  /** Every change, in order, after it is applied. */
  onChanges?: (changes: readonly ModelChange[]) => void;
  log?: Logger;
  /** How many destroyed ids are remembered (default 4096). */
  tombstones?: number;
  /**
   * How long a refinement (the engine's exact times after a start or die) waits, so a burst of
   * events is not slowed by the answers; one question per container for the whole wait
   * (default 250 ms; 0 asks at once).
   */
  refineDelayMs?: number;
}

/** Answers in a row that are already stale on arrival before the model settles for what it has. */
const MAX_STALE_ANSWERS = 8;

export class ContainerModel {
  readonly #d: ContainerModelDeps;
  readonly #records = new Map<string, ContainerRecord>();
  /** The name each id has in `#records`: answers come by id. */
  readonly #names = new Map<string, string>();
  /** Ids the engine destroyed or no longer lists, oldest first. */
  readonly #gone = new Set<string>();
  /** Per id: the sequence number of the last input that told something of its state. */
  readonly #lastSaid = new Map<string, number>();
  #seq = 0;
  /** Ids asked about, with how many stale answers came in a row. */
  readonly #asking = new Map<string, number>();
  /** Ids whose state is not published until the engine answers. */
  readonly #awaiting = new Set<string>();
  /** Refinements waiting to be asked, by id. */
  readonly #refines = new Map<string, NodeJS.Timeout>();
  #stopped = false;
  /** Engine statuses already reported as unknown. */
  readonly #unknownStatuses = new Set<string>();

  constructor(deps: ContainerModelDeps) {
    this.#d = deps;
  }

  /** The model, by container name. */
  get records(): ReadonlyMap<string, ContainerRecord> {
    return this.#records;
  }

  /** False while the engine's answer about this container is awaited. */
  isSettled(id: string): boolean {
    return !this.#awaiting.has(id);
  }

  /** Whether the engine has destroyed this id (or no longer listed it). */
  isGone(id: string): boolean {
    return this.#gone.has(id);
  }

  stop(): void {
    this.#stopped = true;
    for (const timer of this.#refines.values()) clearTimeout(timer);
    this.#refines.clear();
  }

  /** A complete snapshot: newer than every answer still in flight. */
  applySnapshot(records: readonly ContainerRecord[]): void {
    const fresh = records.filter((r) => !this.#gone.has(r.id));
    const seq = ++this.#seq;
    // Held records the snapshot settles: shown even where the snapshot equals what was held.
    const settled: string[] = [];
    for (const record of fresh) {
      this.#lastSaid.set(record.id, seq);
      if (this.#awaiting.delete(record.id)) settled.push(record.id);
    }
    this.#commit(applySnapshot(this.#records, fresh).changes, settled);
  }

  applyEvent(event: EngineEvent): void {
    if (event.type !== "container") return;
    const id = event.actorId;
    if (this.#gone.has(id)) return;
    const reduction = applyEvent(this.#records, event);
    const ask = reduction.inspect;
    // Any event that asks the engine says something of the state, as do the state actions: an
    // answer already on its way is older than it.
    if (ask || changesState(event)) this.#lastSaid.set(id, ++this.#seq);
    if (ask?.need === "hold") this.#awaiting.add(id);
    this.#commit(reduction.changes);
    // A destroy is final even for a container the model no longer holds under that name (Compose
    // destroys the one it replaced under its temporary name). Podman calls it `remove`.
    if (event.action === "destroy" || event.action === "remove") this.#bury(id);
    if (ask?.need === "hold") this.#ask(id);
    else if (ask) this.#refineLater(id);
  }

  #refineLater(id: string): void {
    const delay = this.#d.refineDelayMs ?? 250;
    if (delay <= 0) {
      this.#ask(id);
      return;
    }
    if (this.#stopped || this.#refines.has(id)) return;
    const timer = setTimeout(() => {
      this.#refines.delete(id);
      if (!this.#gone.has(id)) this.#ask(id);
    }, delay);
    timer.unref?.();
    this.#refines.set(id, timer);
  }

  #commit(changes: readonly Change[], settle: readonly string[] = []): void {
    commitChanges(this.#records, changes);
    const out: ModelChange[] = [];
    for (const change of changes) {
      if (change.kind === "upsert") {
        this.#names.set(change.record.id, change.record.name);
        out.push({ ...change, settled: !this.#awaiting.has(change.record.id) });
        continue;
      }
      // A rename removes the old name before its upsert sets the new one.
      if (this.#names.get(change.id) === change.name) this.#names.delete(change.id);
      // Gone for good unless a user renamed it, or Compose did on its way to replacing it.
      if (change.reason === "destroy" || change.reason === "vanished") this.#bury(change.id);
      out.push(change);
    }
    // A settled container whose answer changed nothing still has its held state to show.
    for (const id of settle) {
      if (out.some((c) => c.kind === "upsert" && c.record.id === id)) continue;
      const record = this.#byId(id);
      if (record) out.push({ kind: "upsert", record, settled: true });
    }
    if (out.length > 0) this.#d.onChanges?.(out);
  }

  #bury(id: string): void {
    clearTimeout(this.#refines.get(id));
    this.#refines.delete(id);
    this.#gone.add(id);
    this.#names.delete(id);
    this.#lastSaid.delete(id);
    this.#awaiting.delete(id);
    const max = this.#d.tombstones ?? 4096;
    for (const old of this.#gone) {
      if (this.#gone.size <= max) break;
      this.#gone.delete(old);
    }
  }

  #byId(id: string): ContainerRecord | undefined {
    const name = this.#names.get(id);
    const record = name === undefined ? undefined : this.#records.get(name);
    // A name another container has taken since (a create replacing a record) is not this id's.
    return record?.id === id ? record : undefined;
  }

  #ask(id: string): void {
    // A hold asks now; a refinement waiting for its turn is then not needed.
    clearTimeout(this.#refines.get(id));
    this.#refines.delete(id);
    // Already asked: that answer will be stale (this event came after it) and asks again.
    if (this.#stopped || this.#asking.has(id)) return;
    this.#asking.set(id, 0);
    this.#request(id);
  }

  #request(id: string): void {
    const askedAt = this.#seq;
    this.#d.inspect(id).then(
      (inspect) => this.#answered(id, askedAt, inspect),
      (err: unknown) => this.#failed(id, err),
    );
  }

  #answered(id: string, askedAt: number, inspect: ContainerInspect | null): void {
    if (this.#stopped) return;
    if (this.#gone.has(id)) {
      this.#asking.delete(id);
      return;
    }
    const record = this.#byId(id);
    if (inspect === null || !record) {
      this.#asking.delete(id);
      // The engine no longer has it: its destroy event is on its way, or was never sent to us.
      if (inspect === null && record) {
        this.#commit([{ kind: "removed", name: record.name, id, reason: "vanished" }]);
      }
      return;
    }
    reportUnknownStatus(inspect, this.#unknownStatuses, this.#d.log);
    const truth = recordFromInspect(inspect);
    if (!truth) {
      // Named as Compose names a container it is replacing: the rename event follows.
      this.#asking.delete(id);
      return;
    }
    const awaited = this.#awaiting.has(id);
    // Older than an event applied since; or, when only a refinement was asked for, ahead of
    // events still on their way (a status the stream has not reached yet).
    const behind = truth.name !== record.name || (this.#lastSaid.get(id) ?? 0) > askedAt;
    // No event announces `restarting` (a restart policy's back-off): it is never ahead of them.
    const ahead = !awaited && truth.status !== record.status && truth.status !== "restarting";
    if (!behind && !ahead) {
      this.#asking.delete(id);
      this.#awaiting.delete(id);
      this.#commit(
        applyInspect(this.#records, inspect, { fresh: true }).changes,
        awaited ? [id] : [],
      );
      return;
    }
    // Keep what never changes for the container, and ask again.
    if (truth.name === record.name) {
      this.#commit(applyInspect(this.#records, inspect, { fresh: false }).changes);
    }
    const stale = (this.#asking.get(id) ?? 0) + 1;
    if (stale < MAX_STALE_ANSWERS) {
      this.#asking.set(id, stale);
      this.#request(id);
      return;
    }
    this.#d.log?.debug({ container: record.name, answers: stale }, "inspect answers keep lagging");
    this.#settle(id);
  }

  #failed(id: string, err: unknown): void {
    if (this.#stopped) return;
    this.#d.log?.warn(
      { container: this.#byId(id)?.name ?? id.slice(0, 12), err: describeError(err) },
      "inspect failed; showing what the events said",
    );
    this.#settle(id);
  }

  /** Stops waiting for the engine: what the events said is shown. */
  #settle(id: string): void {
    this.#asking.delete(id);
    if (this.#awaiting.delete(id)) this.#commit([], [id]);
  }
}
