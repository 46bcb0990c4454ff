// ContainerModel's safeguards against the engine's timing, with inspect answers the test hands
// over when it chooses: the captured probe-healthy inspect (docker-engine-20.10) with its state
// changed to what the engine would say at that moment.
import { describe, expect, it } from "vitest";
import { type EngineEvent, parseEventLine } from "../../src/docker/events.js";
import { type ContainerInspect, containerInspectSchema } from "../../src/docker/schemas.js";
import { ContainerModel, type ModelChange } from "../../src/state/container-model.js";
import type { ContainerRecord } from "../../src/state/model.js";
import { recordFromInspect } from "../../src/state/records.js";
import { readJsonFixture } from "./fixtures.js";

const CAPTURED = containerInspectSchema.parse(readJsonFixture("api-inspect-probe-healthy.json"));
const ID = CAPTURED.Id;
const NAME = "probe-healthy";
const T0 = 1_800_000_000_000_000_000n;
let clock = T0;

/** The engine's answer: the capture, with this state and policy. */
function answer(
  state: Partial<ContainerInspect["State"]>,
  policy = "always",
  name = NAME,
): ContainerInspect {
  return {
    ...CAPTURED,
    Name: `/${name}`,
    State: { ...CAPTURED.State, ...state },
    HostConfig: { RestartPolicy: { Name: policy } },
  };
}

const RUNNING = { Status: "running", Running: true, Restarting: false, Paused: false };
const FINISHED = "2027-01-15T08:00:00.123456789Z";
const RESTARTING = {
  Status: "restarting",
  Running: true,
  Restarting: true,
  ExitCode: 1,
  FinishedAt: FINISHED,
};
const EXITED = {
  Status: "exited",
  Running: false,
  Restarting: false,
  ExitCode: 1,
  FinishedAt: FINISHED,
};

function event(action: string, attributes: Record<string, string> = {}, name = NAME): EngineEvent {
  clock += 1_000_000n;
  const line = JSON.stringify({
    Type: "container",
    Action: action,
    Actor: { ID, Attributes: { image: "probe/busybox:1", name, ...attributes } },
    scope: "local",
    time: Number(clock / 1_000_000_000n),
  }).replace(/}$/, `,"timeNano":${clock}}`);
  const parsed = parseEventLine(line);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.event;
}

/** A model whose inspect calls wait until the test answers them, in order. */
function harness(refineDelayMs = 0) {
  const asked: { resolve: (answer: ContainerInspect | null) => void }[] = [];
  const changes: ModelChange[] = [];
  const model = new ContainerModel({
    inspect: () => new Promise((resolve) => asked.push({ resolve })),
    onChanges: (c) => changes.push(...c),
    refineDelayMs,
  });
  const answerNext = async (a: ContainerInspect | null) => {
    const next = asked.shift();
    if (!next) throw new Error("no inspect is waiting");
    next.resolve(a);
    await new Promise((r) => setImmediate(r));
  };
  /** What the bridge would publish: the last settled view of the container. */
  const shown = (): ContainerRecord | undefined =>
    changes.findLast(
      (c): c is Extract<ModelChange, { kind: "upsert" }> =>
        c.kind === "upsert" && c.settled && c.record.name === NAME,
    )?.record;
  return { model, asked, changes, answerNext, shown };
}

/** A running container with a restart policy, as the snapshot saw it. */
function runningWithPolicy(h: ReturnType<typeof harness>, policy = "always") {
  const record = recordFromInspect(answer(RUNNING, policy));
  if (!record) throw new Error("no record");
  h.model.applySnapshot([record]);
}

describe("ContainerModel", () => {
  it("a stop that arrives before the answer to a die shows exited, not the answer's restarting", async () => {
    const h = harness();
    runningWithPolicy(h);
    h.model.applyEvent(event("die", { exitCode: "1" }));
    expect(h.asked).toHaveLength(1); // the engine may be restarting it: held
    h.model.applyEvent(event("stop"));
    // The answer was computed during the back-off; the stop came after it.
    await h.answerNext(answer(RESTARTING));
    expect(h.shown()?.status).toBe("running"); // still held: that answer is older than the stop
    await h.answerNext(answer(EXITED));
    expect(h.shown()).toMatchObject({ status: "exited", running: false, exit_code: 1 });
    expect(h.asked).toHaveLength(0);
  });

  it("a snapshot that equals a held record still shows it (the hold ends)", async () => {
    const h = harness();
    runningWithPolicy(h);
    h.model.applyEvent(event("die", { exitCode: "1" }));
    expect(h.model.isSettled(ID)).toBe(false);
    // A reconnect: the snapshot says what the held record says.
    const exited = recordFromInspect(answer(EXITED));
    if (!exited) throw new Error("no record");
    const held = h.model.records.get(NAME);
    h.model.applySnapshot([{ ...exited, finished_at: held?.finished_at ?? null }]);
    expect(h.model.isSettled(ID)).toBe(true);
    expect(h.shown()?.status).toBe("exited");
  });

  it("an answer saying restarting is applied after a die believed final (no event announces it)", async () => {
    const h = harness();
    runningWithPolicy(h, "no");
    // `docker update --restart=always` happened without the model hearing of it.
    h.model.applyEvent(event("die", { exitCode: "1" }));
    expect(h.shown()?.status).toBe("exited"); // shown at once: the policy said no restart
    await h.answerNext(answer(RESTARTING));
    expect(h.shown()).toMatchObject({ status: "restarting", restart_policy: "always" });
  });

  it("an update asks the engine, so a changed restart policy is known before the next die", async () => {
    const h = harness();
    runningWithPolicy(h, "no");
    h.model.applyEvent(event("update"));
    await h.answerNext(answer(RUNNING, "always"));
    expect(h.model.records.get(NAME)?.restart_policy).toBe("always");
    h.model.applyEvent(event("die", { exitCode: "1" }));
    expect(h.model.isSettled(ID)).toBe(false);
  });

  it("an answer ahead of events still on their way is not shown until they arrive", async () => {
    const h = harness();
    runningWithPolicy(h, "no");
    h.model.applyEvent(event("pause"));
    // The engine answers after a die the stream has not delivered yet.
    await h.answerNext(answer({ ...EXITED, ExitCode: 3 }, "no"));
    expect(h.shown()?.status).toBe("paused");
    h.model.applyEvent(event("die", { exitCode: "3" }));
    expect(h.shown()).toMatchObject({ status: "exited", exit_code: 3 });
  });

  it("a destroy under Compose's temporary name buries the id: a late answer never returns", async () => {
    const h = harness();
    runningWithPolicy(h, "always");
    h.model.applyEvent(event("die", { exitCode: "0" }));
    const temp = `${ID.slice(0, 12)}_${NAME}`;
    h.model.applyEvent(event("rename", { oldName: `/${NAME}` }, temp));
    h.model.applyEvent(event("destroy", {}, temp));
    expect(h.model.isGone(ID)).toBe(true);
    await h.answerNext(answer(RUNNING));
    expect(h.model.records.size).toBe(0);
  });

  it("a late answer after a destroy is dropped", async () => {
    const h = harness();
    h.model.applyEvent(event("create"));
    h.model.applyEvent(event("start"));
    h.model.applyEvent(event("destroy"));
    await h.answerNext(answer(RUNNING));
    expect(h.model.records.size).toBe(0);
    expect(h.changes.filter((c) => c.kind === "upsert" && c.settled)).toEqual([]);
  });

  it("asks once per container for a burst's refinements, after the wait, and a hold at once", async () => {
    const h = harness(40);
    runningWithPolicy(h, "no");
    h.model.applyEvent(event("die", { exitCode: "0" }));
    h.model.applyEvent(event("start"));
    h.model.applyEvent(event("pause"));
    expect(h.asked).toHaveLength(0); // the burst goes first
    await new Promise((r) => setTimeout(r, 80));
    expect(h.asked).toHaveLength(1);
    await h.answerNext(answer({ Status: "paused", Running: true, Paused: true }, "no"));
    expect(h.shown()?.status).toBe("paused");
    // An unpause of a container with a healthcheck is a hold: asked at once.
    h.model.applyEvent(event("unpause"));
    expect(h.asked).toHaveLength(1);
    h.model.stop();
  });
});
