import { describe, expect, it } from "vitest";
import { type EngineEvent, parseEventLine } from "../../src/docker/events.js";
import {
  type ContainerInspect,
  type ContainerSummary,
  containerInspectSchema,
  containerListSchema,
} from "../../src/docker/schemas.js";
import { engineEventFilters } from "../../src/state/filter.js";
import type { ContainerRecord } from "../../src/state/model.js";
import { reportUnknownStatus } from "../../src/state/records.js";
import {
  applyEvent,
  applyInspect,
  applySnapshot,
  type Change,
  commitChanges,
  isReplacementName,
  type Reduction,
  recordFromInspect,
  recordFromSummary,
} from "../../src/state/reducer.js";
import { eventLines, readJsonFixture } from "./fixtures.js";

const IDS = {
  healthy: "4bf14ca9294b1a5f494d8657e22efd81f1ee49a829cb796c607e5353b29e3da5",
  unhealthy: "b3e6ebe8eed4253777d7541aa8250b7a9fac702f255d4b4692bb0908ad5988df",
  exit3: "d581ff092bebd899011b086ddab0a9502788297b9c607efeeab76bbafac20cae",
  sleeper: "a1ee12a67fe21bd6b74cf72e0e557f8e2edbc05b42f156a72e056c4649b36c49",
  created: "85c03b176c311173f74587b5a999e24fdf68cf809a69854ea8253862f79604c6",
  oom: "00fe5c716450ac30b204a5d1db973cff9dff2fe792808f4cfbf9f1873145a39f",
  restarter: "5d2ddc2261683c5c92e27f39107cf849cb65d126ff7cdd12912960dc8276a86f",
  bridged: "2f4c91601a460d3b474bdc71404081b7c426da7dadf7bee33ba35b8695bed85a",
} as const;

function inspectFixture(name: string): ContainerInspect {
  return containerInspectSchema.parse(readJsonFixture(`api-inspect-${name}.json`));
}

const INSPECTS: ReadonlyMap<string, ContainerInspect> = new Map(
  ["probe-healthy", "probe-unhealthy", "probe-exit3"].map((n) => {
    const inspect = inspectFixture(n);
    return [inspect.Id, inspect];
  }),
);

function summaries(): ContainerSummary[] {
  return containerListSchema.parse(readJsonFixture("api-containers-all.json"));
}

function summaryOf(name: string): ContainerSummary {
  const found = summaries().find((s) => s.Names?.[0] === `/${name}`);
  if (!found) throw new Error(`no ${name} in api-containers-all.json`);
  return found;
}

function parse(line: string): EngineEvent {
  const result = parseEventLine(line);
  if (!result.ok) throw new Error(`${result.reason}: ${result.message}: ${line}`);
  return result.event;
}

interface Step {
  line: number;
  event: EngineEvent;
  reduction: Reduction;
  /** The model after the event (and the inspect it asked for) was applied. */
  after: ReadonlyMap<string, ContainerRecord>;
}

/**
 * Replays a capture as the bridge does: apply, commit, and answer an inspect request at once
 * with the captured inspect of that container where there is one.
 */
function replay(
  file: string,
  options: { from?: number; start?: Map<string, ContainerRecord> } = {},
): Step[] {
  const model = options.start ?? new Map<string, ContainerRecord>();
  const steps: Step[] = [];
  eventLines(file).forEach((line, index) => {
    const lineNo = index + 1;
    if (lineNo < (options.from ?? 1)) return;
    const event = parse(line);
    const reduction = applyEvent(model, event);
    commitChanges(model, reduction.changes);
    // The captured inspect is the container at the end of the capture, not at this event: it
    // stands in for an answer that lags behind the events, of which only what never changes for
    // a container id may be used.
    const answer = reduction.inspect?.need === "hold" && INSPECTS.get(reduction.inspect.id);
    if (answer) commitChanges(model, applyInspect(model, answer, { fresh: false }).changes);
    steps.push({ line: lineNo, event, reduction, after: new Map(model) });
  });
  return steps;
}

function stepAt(steps: readonly Step[], line: number): Step {
  const step = steps.find((s) => s.line === line);
  if (!step) throw new Error(`no step for line ${line}`);
  return step;
}

function recordAt(steps: readonly Step[], line: number, name: string): ContainerRecord | undefined {
  return stepAt(steps, line).after.get(name);
}

/** A container event as the engine would send it, through the real parser. */
function containerEvent(
  action: string,
  id: string,
  name: string,
  timeNano: bigint,
  extra: Record<string, string> = {},
): EngineEvent {
  return parse(
    JSON.stringify({
      Type: "container",
      Action: action,
      Actor: { ID: id, Attributes: { image: "nginx:1", name, ...extra } },
      scope: "local",
      time: Number(timeNano / 1_000_000_000n),
    }).replace(/}$/, `,"timeNano":${timeNano}}`),
  );
}

const T0 = 1_800_000_000_000_000_000n;

function model(...records: ContainerRecord[]): Map<string, ContainerRecord> {
  return new Map(records.map((r) => [r.name, r]));
}

function record(overrides: Partial<ContainerRecord> & { name: string; id: string }) {
  const base: ContainerRecord = {
    name: overrides.name,
    id: overrides.id,
    image: "nginx:1",
    status: "running",
    running: true,
    health: "none",
    exit_code: null,
    oom_killed: false,
    started_at: "2027-01-15T08:00:00.000000001Z",
    finished_at: null,
    restart_count: 0,
    compose_project: null,
    compose_service: null,
    labels: {},
    healthcheck: null,
    restart_policy: "no",
  };
  return { ...base, ...overrides };
}

describe("replaying events-all.raw.jsonl from an empty model", () => {
  const steps = replay("events-all.raw.jsonl");

  it("holds each container it first hears of until the engine answers, once", () => {
    const holds = steps.filter(
      (s) => s.reduction.inspect?.need === "hold" && s.event.action === "create",
    );
    expect(holds.map((s) => s.reduction.inspect)).toEqual([
      { id: IDS.healthy, name: "probe-healthy", need: "hold" },
      { id: IDS.unhealthy, name: "probe-unhealthy", need: "hold" },
      { id: IDS.exit3, name: "probe-exit3", need: "hold" },
      { id: IDS.sleeper, name: "probe-sleeper", need: "hold" },
      { id: IDS.created, name: "probe-created", need: "hold" },
    ]);
  });

  it("asks the engine after every event that does not carry the whole truth", () => {
    const asks = steps
      .filter((s) => s.reduction.inspect && s.event.action !== "create")
      .map(
        (s) =>
          `${s.line} ${s.event.action} ${s.reduction.inspect?.name} ${s.reduction.inspect?.need}`,
      );
    expect(asks).toEqual([
      // Exact start times and restart counts: shown from the event now, refined by the answer.
      "5 start probe-healthy refine",
      "8 start probe-unhealthy refine",
      "12 start probe-exit3 refine",
      // A die of a container known to have no restart policy: exited for certain.
      "13 die probe-exit3 refine",
      "19 start probe-sleeper refine",
      // Paused: the engine changes its health without an event.
      "49 pause probe-healthy refine",
      // Running again, with a health only the engine knows: held until it answers.
      "50 unpause probe-healthy hold",
      // Its restart policy never came from an answer (no captured inspect): restarting or exited?
      "60 die probe-sleeper hold",
      // A stop ends a restart back-off without a die: with the policy unknown, ask.
      "63 stop probe-sleeper hold",
      "66 start probe-sleeper refine",
      "67 restart probe-sleeper refine",
      "70 die probe-renamed hold",
      "75 start probe-renamed refine",
      "84 die probe-renamed hold",
      "87 stop probe-renamed hold",
      "92 die probe-healthy refine",
      "93 die probe-unhealthy refine",
    ]);
  });

  it("probe-exit3 ends exited with exit code 3 and the engine's times", () => {
    expect(recordAt(steps, 13, "probe-exit3")).toEqual({
      name: "probe-exit3",
      id: IDS.exit3,
      image: "probe/busybox:1",
      status: "exited",
      running: false,
      health: "none",
      exit_code: 3,
      oom_killed: false,
      started_at: "2026-11-26T05:55:15.439176493Z",
      finished_at: "2026-11-26T05:55:15.456470971Z",
      restart_count: 0,
      compose_project: null,
      compose_service: null,
      labels: {},
      healthcheck: null,
      restart_policy: "no",
    });
  });

  it("probe-healthy: starting after start, healthy after its first health_status", () => {
    expect(recordAt(steps, 5, "probe-healthy")).toMatchObject({
      status: "running",
      running: true,
      health: "starting",
      healthcheck: "/bin/sh -c true",
      started_at: "2026-11-26T05:55:15.019244867Z",
    });
    expect(recordAt(steps, 26, "probe-healthy")).toEqual({
      name: "probe-healthy",
      id: IDS.healthy,
      image: "probe/busybox:1",
      status: "running",
      running: true,
      health: "healthy",
      exit_code: null,
      oom_killed: false,
      started_at: "2026-11-26T05:55:15.019244867Z",
      finished_at: null,
      restart_count: 0,
      compose_project: null,
      compose_service: null,
      labels: { app: "probe", role: "healthy" },
      healthcheck: "/bin/sh -c true",
      restart_policy: "no",
    });
  });

  it("probe-healthy: paused, then running (its health held for the engine), then healthy again", () => {
    expect(recordAt(steps, 49, "probe-healthy")).toMatchObject({
      status: "paused",
      running: false,
    });
    expect(recordAt(steps, 50, "probe-healthy")).toMatchObject({
      status: "running",
      running: true,
    });
    expect(stepAt(steps, 50).reduction.inspect?.need).toBe("hold");
    expect(recordAt(steps, 59, "probe-healthy")).toMatchObject({
      status: "running",
      running: true,
      health: "healthy",
    });
  });

  it("probe-unhealthy turns unhealthy at its health_status", () => {
    expect(recordAt(steps, 35, "probe-unhealthy")?.health).toBe("starting");
    expect(recordAt(steps, 36, "probe-unhealthy")).toMatchObject({
      status: "running",
      running: true,
      health: "unhealthy",
      healthcheck: "/bin/sh -c false",
      labels: { app: "probe" },
    });
  });

  it("probe-sleeper: kill(15), kill(9), die(137), stop, start, restart", () => {
    expect(stepAt(steps, 51).reduction).toEqual({ changes: [] });
    expect(stepAt(steps, 57).reduction).toEqual({ changes: [] });
    expect(recordAt(steps, 60, "probe-sleeper")).toMatchObject({
      status: "exited",
      running: false,
      exit_code: 137,
      finished_at: "2026-11-26T05:55:20.934002493Z",
    });
    // Its restart policy is unknown (no captured inspect): a stop may end a back-off, ask.
    expect(stepAt(steps, 63).reduction).toEqual({
      changes: [],
      inspect: { id: IDS.sleeper, name: "probe-sleeper", need: "hold" },
    });
    expect(recordAt(steps, 67, "probe-sleeper")).toMatchObject({
      status: "running",
      running: true,
      exit_code: null,
      started_at: "2026-11-26T05:55:21.094982514Z",
    });
  });

  it("rename moves the record to probe-renamed, removing the old name", () => {
    const rename = stepAt(steps, 68);
    const before = recordAt(steps, 67, "probe-sleeper");
    expect(rename.reduction).toEqual({
      changes: [
        { kind: "removed", name: "probe-sleeper", id: IDS.sleeper, reason: "rename" },
        { kind: "upsert", record: { ...before, name: "probe-renamed" } },
      ],
    });
    expect([...rename.after.keys()].sort()).toEqual([
      "probe-exit3",
      "probe-healthy",
      "probe-renamed",
      "probe-unhealthy",
    ]);
  });

  it("probe-renamed: kill(9) changes nothing, die(137) stops it", () => {
    expect(stepAt(steps, 69).reduction).toEqual({ changes: [] });
    expect(recordAt(steps, 70, "probe-renamed")).toMatchObject({
      id: IDS.sleeper,
      status: "exited",
      running: false,
      exit_code: 137,
    });
    expect(recordAt(steps, 84, "probe-renamed")).toMatchObject({
      status: "exited",
      exit_code: 137,
    });
  });

  it("destroy removes each container, with reason destroy, and the model ends empty", () => {
    expect(stepAt(steps, 88).reduction.changes).toEqual([
      { kind: "removed", name: "probe-renamed", id: IDS.sleeper, reason: "destroy" },
    ]);
    expect(stepAt(steps, 89).reduction.changes).toEqual([
      { kind: "removed", name: "probe-exit3", id: IDS.exit3, reason: "destroy" },
    ]);
    expect(stepAt(steps, 99).reduction.changes).toEqual([
      { kind: "removed", name: "probe-created", id: IDS.created, reason: "destroy" },
    ]);
    expect(recordAt(steps, 92, "probe-healthy")).toMatchObject({
      status: "exited",
      exit_code: 137,
    });
    expect(steps.at(-1)?.after.size).toBe(0);
  });

  it("exec_* events (healthcheck probes and docker exec) change nothing", () => {
    const execs = steps.filter((s) => s.event.action.startsWith("exec_"));
    expect(execs).toHaveLength(39);
    for (const s of execs) expect(s.reduction, `line ${s.line}`).toEqual({ changes: [] });
  });

  it("events of other types (network, volume, image) change nothing", () => {
    const others = steps.filter((s) => s.event.type !== "container");
    expect(others.length).toBeGreaterThan(0);
    for (const s of others) expect(s.reduction, `line ${s.line}`).toEqual({ changes: [] });
  });
});

describe("replaying events-net-restart-oom.raw.jsonl", () => {
  const steps = replay("events-net-restart-oom.raw.jsonl");

  it("oom sets oom_killed, and die(137) keeps it", () => {
    expect(recordAt(steps, 36, "probe-oom")).toMatchObject({
      status: "running",
      oom_killed: true,
    });
    expect(recordAt(steps, 37, "probe-oom")).toEqual({
      name: "probe-oom",
      id: IDS.oom,
      image: "probe/busybox:1",
      status: "exited",
      running: false,
      health: "none",
      exit_code: 137,
      oom_killed: true,
      started_at: "2026-11-26T05:55:52.211662171Z",
      finished_at: "2026-11-26T05:55:52.241629551Z",
      restart_count: 0,
      compose_project: null,
      compose_service: null,
      labels: {},
      healthcheck: null,
      // Never inspected in this replay: only an answer tells the policy.
      restart_policy: null,
    });
  });

  it("a restart policy's restarts show as running and exited (1) in turn", () => {
    const states = [20, 21, 24, 25, 28, 29].map((line) => {
      const r = recordAt(steps, line, "probe-restarter");
      return [r?.status, r?.running, r?.exit_code];
    });
    expect(states).toEqual([
      ["running", true, null],
      ["exited", false, 1],
      ["running", true, null],
      ["exited", false, 1],
      ["running", true, null],
      ["exited", false, 1],
    ]);
  });

  it("a container killed by signal 9 exits 137; a duplicate network disconnect does nothing", () => {
    expect(stepAt(steps, 10).reduction).toEqual({ changes: [] });
    expect(stepAt(steps, 11).reduction).toEqual({ changes: [] });
    expect(recordAt(steps, 13, "probe-bridged")).toMatchObject({
      id: IDS.bridged,
      status: "exited",
      exit_code: 137,
    });
  });

  it("commit and exec events change nothing; every container is gone at the end", () => {
    expect(stepAt(steps, 47).reduction).toEqual({ changes: [] });
    expect(stepAt(steps, 9).reduction).toEqual({ changes: [] });
    expect(steps.at(-1)?.after.size).toBe(0);
  });
});

describe("re-applying an event (a replay after reconnect)", () => {
  for (const file of ["events-all.raw.jsonl", "events-net-restart-oom.raw.jsonl"]) {
    it(`changes nothing the second time, for every event of ${file}`, () => {
      const state = new Map<string, ContainerRecord>();
      const repeated: string[] = [];
      eventLines(file).forEach((line, index) => {
        const event = parse(line);
        const first = applyEvent(state, event);
        commitChanges(state, first.changes);
        const answer = first.inspect?.need === "hold" && INSPECTS.get(first.inspect.id);
        if (answer) commitChanges(state, applyInspect(state, answer, { fresh: false }).changes);
        const again = applyEvent(state, event);
        if (again.changes.length > 0) {
          repeated.push(`line ${index + 1} ${event.action} ${event.name}`);
        }
      });
      expect(repeated).toEqual([]);
    });
  }

  it("a replayed rename leaves the renamed container as it is", () => {
    const steps = replay("events-all.raw.jsonl");
    const after = new Map(stepAt(steps, 68).after);
    const renamed = after.get("probe-renamed");
    expect(renamed).toMatchObject({ status: "running", running: true });
    const again = applyEvent(after, stepAt(steps, 68).event);
    commitChanges(after, again.changes);
    expect(again.changes).toEqual([]);
    expect(after.get("probe-renamed")).toEqual(renamed);
  });
});

describe("starting from a snapshot built from the captured list and inspects", () => {
  const snapshot = [
    recordFromInspect(inspectFixture("probe-healthy")),
    recordFromInspect(inspectFixture("probe-unhealthy")),
    recordFromInspect(inspectFixture("probe-exit3")),
    recordFromSummary(summaryOf("probe-sleeper")),
  ].filter((r): r is ContainerRecord => r !== null);

  it("builds the records the engine reported", () => {
    expect(snapshot.map((r) => r.name)).toEqual([
      "probe-healthy",
      "probe-unhealthy",
      "probe-exit3",
      "probe-sleeper",
    ]);
    expect(snapshot[0]).toEqual({
      name: "probe-healthy",
      id: IDS.healthy,
      image: "probe/busybox:1",
      status: "running",
      running: true,
      health: "healthy",
      exit_code: null,
      oom_killed: false,
      started_at: "2026-11-26T05:55:15.017321357Z",
      finished_at: null,
      restart_count: 0,
      compose_project: null,
      compose_service: null,
      labels: { app: "probe", role: "healthy" },
      healthcheck: "/bin/sh -c true",
      restart_policy: "no",
    });
    expect(snapshot[1]).toMatchObject({ health: "unhealthy", healthcheck: "/bin/sh -c false" });
    expect(snapshot[2]).toEqual({
      name: "probe-exit3",
      id: IDS.exit3,
      image: "probe/busybox:1",
      status: "exited",
      running: false,
      health: "none",
      exit_code: 3,
      oom_killed: false,
      started_at: "2026-11-26T05:55:15.436503457Z",
      finished_at: "2026-11-26T05:55:15.437970999Z",
      restart_count: 0,
      compose_project: null,
      compose_service: null,
      labels: {},
      healthcheck: null,
      restart_policy: "no",
    });
  });

  it("then follows the events that came after it (pause on)", () => {
    const start = new Map<string, ContainerRecord>();
    const first = applySnapshot(start, snapshot);
    expect(first.changes.map((c) => c.kind)).toEqual(["upsert", "upsert", "upsert", "upsert"]);
    commitChanges(start, first.changes);
    const steps = replay("events-all.raw.jsonl", { from: 49, start });
    // Of the containers it knows from the snapshot, only what events cannot say is held back:
    // the health an unpause comes back with, and a die whose restart policy is unknown.
    expect(
      steps.flatMap((s) =>
        s.reduction.inspect?.need === "hold" ? [`${s.line} ${s.reduction.inspect.name}`] : [],
      ),
    ).toEqual([
      "50 probe-healthy",
      // The sleeper came from a list entry alone (no captured inspect): its policy is unknown.
      "60 probe-sleeper",
      "63 probe-sleeper",
      "70 probe-renamed",
      "84 probe-renamed",
      "87 probe-renamed",
      "98 probe-created",
    ]);
    expect(recordAt(steps, 49, "probe-healthy")).toMatchObject({
      status: "paused",
      running: false,
    });
    expect(recordAt(steps, 50, "probe-healthy")).toMatchObject({
      status: "running",
      running: true,
    });
    expect(recordAt(steps, 59, "probe-healthy")?.health).toBe("healthy");
    expect(recordAt(steps, 60, "probe-sleeper")).toMatchObject({
      status: "exited",
      exit_code: 137,
    });
    expect(stepAt(steps, 68).reduction.changes[0]).toEqual({
      kind: "removed",
      name: "probe-sleeper",
      id: IDS.sleeper,
      reason: "rename",
    });
    expect(recordAt(steps, 68, "probe-renamed")).toMatchObject({ id: IDS.sleeper, running: true });
    expect(recordAt(steps, 68, "probe-sleeper")).toBeUndefined();
    expect(steps.at(-1)?.after.size).toBe(0);
  });

  it("a fresh snapshot equal to the model changes nothing", () => {
    expect(applySnapshot(model(...snapshot), snapshot)).toEqual({ changes: [] });
  });

  it("a fresh snapshot marks records missing from it as vanished", () => {
    const [healthy, unhealthy, exit3, sleeper] = snapshot;
    if (!healthy || !unhealthy || !exit3 || !sleeper) throw new Error("snapshot incomplete");
    const now = [
      { ...healthy, status: "exited" as const, running: false, exit_code: 137 },
      sleeper,
    ];
    expect(applySnapshot(model(...snapshot), now)).toEqual({
      changes: [
        { kind: "upsert", record: now[0] },
        { kind: "removed", name: "probe-unhealthy", id: IDS.unhealthy, reason: "vanished" },
        { kind: "removed", name: "probe-exit3", id: IDS.exit3, reason: "vanished" },
      ],
    });
  });
});

describe("recordFromSummary", () => {
  it("reads exit codes and health from the status text of a 20.10 list", () => {
    const records = summaries().map(recordFromSummary);
    expect(records.map((r) => [r?.name, r?.status, r?.running, r?.health, r?.exit_code])).toEqual([
      ["probe-sleeper", "running", true, "none", null],
      ["probe-exit3", "exited", false, "none", 3],
      ["probe-unhealthy", "running", true, "unhealthy", null],
      ["probe-healthy", "running", true, "healthy", null],
    ]);
    expect(recordFromSummary(summaryOf("probe-healthy"))).toEqual({
      name: "probe-healthy",
      id: IDS.healthy,
      image: "probe/busybox:1",
      status: "running",
      running: true,
      health: "healthy",
      exit_code: null,
      oom_killed: false,
      started_at: null,
      finished_at: null,
      restart_count: 0,
      compose_project: null,
      compose_service: null,
      labels: { app: "probe", role: "healthy" },
      healthcheck: null,
      restart_policy: null,
    });
  });

  const summary = (State: string, Status: string, extra: Partial<ContainerSummary> = {}) => ({
    Id: "f".repeat(64),
    Names: ["/web"],
    Image: "nginx:1",
    Labels: {},
    State,
    Status,
    ...extra,
  });

  it("reads other status texts the engine writes", () => {
    expect(recordFromSummary(summary("exited", "Exited (137) 2 hours ago"))?.exit_code).toBe(137);
    expect(recordFromSummary(summary("exited", "Exited (0) 1 second ago"))?.exit_code).toBe(0);
    expect(recordFromSummary(summary("running", "Up 3 seconds (health: starting)"))?.health).toBe(
      "starting",
    );
    expect(recordFromSummary(summary("paused", "Up 2 minutes (Paused)"))).toMatchObject({
      status: "paused",
      running: false,
      exit_code: null,
    });
    expect(recordFromSummary(summary("created", "Created"))).toMatchObject({
      status: "created",
      running: false,
      exit_code: null,
      health: "none",
    });
  });

  it("reads Compose labels", () => {
    const labels = { "com.docker.compose.project": "app", "com.docker.compose.service": "web" };
    expect(recordFromSummary(summary("running", "Up 1 second", { Labels: labels }))).toMatchObject({
      compose_project: "app",
      compose_service: "web",
      labels,
    });
  });

  it("gives no record for a nameless container or a Compose replacement name", () => {
    expect(recordFromSummary(summary("running", "Up", { Names: [] }))).toBeNull();
    expect(recordFromSummary(summary("running", "Up", { Names: null }))).toBeNull();
    expect(
      recordFromSummary(summary("exited", "Exited (0)", { Names: ["/ffffffffffff_web"] })),
    ).toBeNull();
  });
});

describe("events about containers the model does not know in full", () => {
  const A = "a".repeat(64);
  const B = "b".repeat(64);

  it("an event for an unknown container starts a record and asks for an inspect", () => {
    const reduction = applyEvent(new Map(), containerEvent("start", A, "web", T0));
    expect(reduction).toEqual({
      changes: [
        {
          kind: "upsert",
          record: {
            name: "web",
            id: A,
            image: "nginx:1",
            status: "running",
            running: true,
            health: "none",
            exit_code: null,
            oom_killed: false,
            started_at: "2027-01-15T08:00:00.000000000Z",
            finished_at: null,
            restart_count: 0,
            compose_project: null,
            compose_service: null,
            labels: {},
            healthcheck: null,
            restart_policy: null,
          },
        },
      ],
      inspect: { id: A, name: "web", need: "hold" },
    });
  });

  it("an exec or kill event for an unknown container asks for an inspect without a change", () => {
    expect(applyEvent(new Map(), containerEvent("exec_create: true", A, "web", T0))).toEqual({
      changes: [],
      inspect: { id: A, name: "web", need: "hold" },
    });
    expect(applyEvent(new Map(), containerEvent("kill", A, "web", T0, { signal: "9" }))).toEqual({
      changes: [],
      inspect: { id: A, name: "web", need: "hold" },
    });
  });

  it("keeps the labels from the event's attributes, without the engine's own attributes", () => {
    const reduction = applyEvent(
      new Map(),
      containerEvent("die", A, "web", T0, {
        exitCode: "2",
        "com.docker.compose.project": "app",
        "com.docker.compose.service": "web",
        tier: "front",
      }),
    );
    expect(reduction.changes).toEqual([
      {
        kind: "upsert",
        record: expect.objectContaining({
          status: "exited",
          exit_code: 2,
          finished_at: "2027-01-15T08:00:00.000000000Z",
          compose_project: "app",
          compose_service: "web",
          labels: {
            "com.docker.compose.project": "app",
            "com.docker.compose.service": "web",
            tier: "front",
          },
        }),
      },
    ]);
  });

  it("a destroy for an unknown container changes nothing and asks for nothing", () => {
    expect(applyEvent(new Map(), containerEvent("destroy", A, "web", T0))).toEqual({
      changes: [],
    });
  });

  it("ignores a destroy whose id differs from the record's (stale)", () => {
    const state = model(record({ name: "web", id: B }));
    expect(applyEvent(state, containerEvent("destroy", A, "web", T0))).toEqual({ changes: [] });
  });

  it("ignores a non-create event of an older container with the same name (stale)", () => {
    const state = model(record({ name: "web", id: B }));
    expect(applyEvent(state, containerEvent("die", A, "web", T0, { exitCode: "1" }))).toEqual({
      changes: [],
    });
  });

  it("a create under a known name with a new id replaces the record and asks for an inspect", () => {
    const state = model(record({ name: "web", id: A, status: "exited", running: false }));
    const reduction = applyEvent(state, containerEvent("create", B, "web", T0));
    expect(reduction.inspect).toEqual({ id: B, name: "web", need: "hold" });
    expect(reduction.changes).toEqual([
      {
        kind: "upsert",
        record: expect.objectContaining({ name: "web", id: B, status: "created", running: false }),
      },
    ]);
  });

  it("a health_status with an unknown detail changes nothing", () => {
    const state = model(record({ name: "web", id: A, health: "healthy", healthcheck: "true" }));
    expect(applyEvent(state, containerEvent("health_status: weird", A, "web", T0))).toEqual({
      changes: [],
    });
  });

  it("an event without an actor id or name changes nothing", () => {
    expect(applyEvent(new Map(), containerEvent("start", "", "web", T0))).toEqual({ changes: [] });
    expect(applyEvent(new Map(), containerEvent("start", A, "", T0))).toEqual({ changes: [] });
  });
});

describe("a Compose replacement (docker compose up after a change)", () => {
  const OLD = `1234567890ab${"c".repeat(52)}`;
  const NEW = "d".repeat(64);
  const TEMP = "1234567890ab_app-web-1";
  const labels = { "com.docker.compose.project": "app", "com.docker.compose.service": "web" };

  it("recognises the temporary name", () => {
    expect(isReplacementName(TEMP, OLD)).toBe(true);
    expect(isReplacementName("app-web-1", OLD)).toBe(false);
    expect(isReplacementName(TEMP, NEW)).toBe(false);
    expect(isReplacementName("abc_web", "abc")).toBe(false);
  });

  it("removes the old record as replaced, never mirrors the temporary name, keeps the new one", () => {
    const state = model(
      record({
        name: "app-web-1",
        id: OLD,
        labels,
        compose_project: "app",
        compose_service: "web",
      }),
    );
    const changes: Change[] = [];
    const apply = (event: EngineEvent) => {
      const r = applyEvent(state, event);
      commitChanges(state, r.changes);
      changes.push(...r.changes);
      return r;
    };
    apply(containerEvent("kill", OLD, "app-web-1", T0, { ...labels, signal: "15" }));
    apply(containerEvent("die", OLD, "app-web-1", T0 + 1n, { ...labels, exitCode: "0" }));
    apply(containerEvent("stop", OLD, "app-web-1", T0 + 2n, labels));
    const rename = apply(
      containerEvent("rename", OLD, TEMP, T0 + 3n, { ...labels, oldName: "/app-web-1" }),
    );
    expect(rename).toEqual({
      changes: [{ kind: "removed", name: "app-web-1", id: OLD, reason: "replaced" }],
    });
    expect([...state.keys()]).toEqual([]);
    apply(containerEvent("create", NEW, "app-web-1", T0 + 4n, labels));
    apply(containerEvent("start", NEW, "app-web-1", T0 + 5n, labels));
    const destroyOld = apply(containerEvent("destroy", OLD, TEMP, T0 + 6n, labels));
    expect(destroyOld).toEqual({ changes: [] });
    expect([...state.keys()]).toEqual(["app-web-1"]);
    expect(state.get("app-web-1")).toMatchObject({
      id: NEW,
      status: "running",
      compose_project: "app",
    });
    expect(changes.some((c) => (c.kind === "upsert" ? c.record.name : c.name) === TEMP)).toBe(
      false,
    );
  });

  it("a rename to a temporary name of a container it never knew changes nothing", () => {
    expect(
      applyEvent(new Map(), containerEvent("rename", OLD, TEMP, T0, { oldName: "/app-web-1" })),
    ).toEqual({ changes: [] });
  });
});

describe("applyInspect", () => {
  const healthy = inspectFixture("probe-healthy");

  it("adds a container it does not know, in full", () => {
    expect(applyInspect(new Map(), healthy)).toEqual({
      changes: [{ kind: "upsert", record: recordFromInspect(healthy) }],
    });
  });

  it("a stale answer gives only what never changes for a container id", () => {
    const fromEvents = record({
      name: "probe-healthy",
      id: IDS.healthy,
      image: "probe/busybox:1",
      started_at: "2026-11-26T05:55:15.019244867Z",
      health: "starting",
      restart_policy: null,
    });
    const reduction = applyInspect(
      model(fromEvents),
      { ...healthy, RestartCount: 2 },
      { fresh: false },
    );
    expect(reduction).toEqual({
      changes: [
        {
          kind: "upsert",
          record: {
            ...fromEvents,
            healthcheck: "/bin/sh -c true",
            restart_policy: "no",
            labels: { app: "probe", role: "healthy" },
          },
        },
      ],
    });
  });

  it("a fresh answer is the engine's truth: it replaces what events said, times included", () => {
    const fromEvents = record({
      name: "probe-healthy",
      id: IDS.healthy,
      image: "probe/busybox:1",
      // The event's time is when the engine logged the start, not the StartedAt it recorded.
      started_at: "2026-11-26T05:55:15.019244867Z",
      health: "starting",
    });
    const reduction = applyInspect(model(fromEvents), { ...healthy, RestartCount: 2 });
    expect(reduction.changes).toEqual([
      { kind: "upsert", record: { ...recordFromInspect(healthy), restart_count: 2 } },
    ]);
    expect(reduction.changes[0]).toMatchObject({
      record: { started_at: "2026-11-26T05:55:15.017321357Z", health: "healthy" },
    });
  });

  it("ignores an answer about a container since replaced under the same name", () => {
    const replacement = record({ name: "probe-healthy", id: "e".repeat(64) });
    expect(applyInspect(model(replacement), healthy)).toEqual({ changes: [] });
  });

  it("ignores an answer naming a container by the name it had before a rename", () => {
    // The inspect asked for at `start` can be answered after the `rename` event was applied.
    const steps = replay("events-all.raw.jsonl");
    const state = new Map(stepAt(steps, 68).after);
    const answeredBeforeRename = containerInspectSchema.parse({
      Id: IDS.sleeper,
      Name: "/probe-sleeper",
      RestartCount: 0,
      State: { Status: "running", Running: true, StartedAt: "2026-11-26T05:55:21.093Z" },
      Config: { Image: "probe/busybox:1", Labels: {} },
    });
    const reduction = applyInspect(state, answeredBeforeRename);
    commitChanges(state, reduction.changes);
    expect(reduction.changes).toEqual([]);
    expect(state.has("probe-sleeper")).toBe(false);
  });

  it("ignores an answer for a Compose replacement name", () => {
    const temp = { ...healthy, Name: `/${IDS.healthy.slice(0, 12)}_probe-healthy` };
    expect(applyInspect(new Map(), temp)).toEqual({ changes: [] });
  });

  it("an identical answer twice changes nothing the second time", () => {
    const state = new Map<string, ContainerRecord>();
    commitChanges(state, applyInspect(state, healthy).changes);
    expect(applyInspect(state, healthy)).toEqual({ changes: [] });
  });
});

describe("a status this bridge does not know (another engine's)", () => {
  const healthy = inspectFixture("probe-healthy");
  const withState = (state: Partial<ContainerInspect["State"]>): ContainerInspect => ({
    ...healthy,
    State: { ...healthy.State, ...state },
  });

  it("is read from the answer's state flags, never assumed exited", () => {
    const read = (state: Partial<ContainerInspect["State"]>) =>
      recordFromInspect(withState({ Status: "stopping", ...state }))?.status;
    expect(read({ Running: true, Paused: false, Restarting: false })).toBe("running");
    expect(read({ Running: true, Paused: true })).toBe("paused");
    expect(read({ Running: true, Restarting: true })).toBe("restarting");
    expect(read({ Running: false, Dead: true })).toBe("dead");
    expect(read({ Running: false, StartedAt: "0001-01-01T00:00:00Z" })).toBe("created");
    expect(read({ Running: false, StartedAt: "2026-11-26T05:55:15.019244867Z" })).toBe("exited");
  });

  it("is logged as an error once per value, naming the container and what was read", () => {
    const lines: { fields: Record<string, unknown>; msg: string }[] = [];
    const log = {
      error: (fields: object, msg: string) => lines.push({ fields: { ...fields }, msg }),
    };
    const seen = new Set<string>();
    reportUnknownStatus(withState({ Status: "stopping", Running: true }), seen, log);
    reportUnknownStatus(withState({ Status: "stopping", Running: false }), seen, log);
    reportUnknownStatus(withState({ Status: "running", Running: true }), seen, log);
    expect(lines).toEqual([
      {
        fields: { container: "probe-healthy", status: "stopping", read: "running" },
        msg: "the engine reported a container status this bridge does not know; read from its state flags",
      },
    ]);
  });
});

describe("the engine-side event filter", () => {
  // Every container action the engine sends (PROTOCOLS.md), health_status with its detail.
  const ACTIONS = [
    "attach",
    "commit",
    "copy",
    "create",
    "destroy",
    "detach",
    "die",
    "exec_create",
    "exec_detach",
    "exec_start",
    "exec_die",
    "export",
    "health_status: unhealthy",
    "kill",
    "oom",
    "pause",
    "rename",
    "resize",
    "restart",
    "start",
    "stop",
    "top",
    "unpause",
    "update",
    "prune",
  ];

  it("lets through every action the model reacts to, whatever the user asks to see", () => {
    const filters = engineEventFilters({ types: ["container"], actions: ["die"] });
    const known = record({
      name: "web",
      id: "f".repeat(64),
      status: "restarting",
      restart_policy: null,
    });
    const reacting = ACTIONS.filter((action) => {
      const e = containerEvent(action, known.id, "web", T0 + 1n, {
        oldName: "/old",
        exitCode: "1",
      });
      const r = applyEvent(model(known), e);
      return r.changes.length > 0 || r.inspect !== undefined;
    }).map((a) => a.split(": ")[0]);
    expect(reacting.length).toBeGreaterThan(5);
    for (const action of reacting) expect(filters.event).toContain(action);
  });
});
