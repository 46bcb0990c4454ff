// Scenario 7: dockerd stops and starts again under a running bridge. Availability shows the outage,
// and afterwards the retained states match the engine: the restart=always container runs again,
// the plain one shows it was stopped.
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  type BridgeUnderTest,
  ourRetained,
  parse,
  startBridge,
  uniqueHostId,
} from "./bridge-kit.js";
import {
  type DockerApi,
  describeE2E,
  dockerApi,
  type E2EServices,
  e2eServices,
  restartDockerd,
  waitFor,
} from "./services.js";

describeE2E("bridge across an engine restart", () => {
  let ctx: E2EServices;
  let docker: DockerApi;
  let bridge: BridgeUnderTest;

  beforeAll(async () => {
    ctx = e2eServices();
    docker = dockerApi(ctx);
    await docker.removeAll();
  });

  afterAll(async () => {
    await bridge?.stop();
    if (ctx && (await docker.ping())) await docker.removeAll();
  });

  it("goes offline, comes back online, and ends with the engine's view", async () => {
    const always = "er-always";
    const plain = "er-plain";
    await docker.run({ name: always, cmd: ["sleep", "600"], restart: "always" });
    await docker.run({ name: plain, cmd: ["sleep", "600"] });
    bridge = await startBridge(ctx, uniqueHostId("engine"), { service: { offlineDelayMs: 50 } });
    const { recorder: rec, topics } = bridge;
    await rec.waitForState(topics.containerState(always), { running: true });
    await rec.waitForState(topics.containerState(plain), { running: true });
    await rec.waitFor("availability online", () => rec.last(topics.availability()) === "online");
    const alwaysBefore = (await docker.inspect(always)).State.StartedAt;
    const from = rec.messages.length;

    await restartDockerd(ctx);
    const restarted = await waitFor(
      async () => {
        const { State } = await docker.inspect(always);
        return State.Running && State.StartedAt !== alwaysBefore ? State : undefined;
      },
      { timeoutMs: 20_000, what: `${always} to run again` },
    );

    const availability = () =>
      rec.messages.slice(from).filter((m) => m.topic === topics.availability());
    await rec.waitFor(
      "availability offline, then online again",
      () => {
        const seen = availability().map((m) => m.payload);
        const offline = seen.indexOf("offline");
        return offline !== -1 && seen.slice(offline).includes("online");
      },
      20_000,
    );
    await rec.waitForState(
      topics.containerState(always),
      { running: true, status: "running", started_at: restarted.StartedAt },
      20_000,
    );
    const plainState = await docker.inspect(plain);
    expect(plainState.State.Running).toBe(false);
    await rec.waitForState(topics.containerState(plain), {
      status: plainState.State.Status,
      running: false,
      exit_code: plainState.State.ExitCode,
    });

    const retained = await ourRetained(ctx.mosquittoUrl, topics);
    expect(retained.get(topics.availability())).toBe("online");
    for (const name of [always, plain]) {
      const { Id, State, RestartCount } = await docker.inspect(name);
      expect(parse(retained.get(topics.containerState(name))), name).toMatchObject({
        id: Id,
        status: State.Status,
        running: State.Running,
        exit_code: State.Running ? null : State.ExitCode,
        restart_count: RestartCount,
        health: "none",
      });
    }
  });
});
