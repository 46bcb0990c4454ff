// The bridge on a real Podman 4.3 service (its Docker-compatible API), driven through that API and
// the podman command line, asserted as Home Assistant and automations see it on a real mosquitto.
// The kit is the dockerd suite's (test/e2e/); global-setup.ts here starts Podman instead.
import { afterAll, beforeAll, expect, inject, it } from "vitest";
import {
  type BridgeUnderTest,
  deviceTopic,
  ourRetained,
  parse,
  startBridge,
  uniqueHostId,
  waitForCleared,
  waitForEvent,
} from "../e2e/bridge-kit.js";
import {
  type DockerApi,
  describeE2E,
  dockerApi,
  type E2EServices,
  e2eServices,
  startDockerd,
  stopDockerd,
  waitFor,
} from "../e2e/services.js";
import { runPodman } from "./global-setup.js";

describeE2E("bridge on Podman", () => {
  let ctx: E2EServices;
  let docker: DockerApi;
  let bridge: BridgeUnderTest;
  const podman = (...args: string[]) => runPodman(inject("podmanCli"), args);

  beforeAll(async () => {
    ctx = e2eServices();
    docker = dockerApi(ctx);
    await docker.removeAll();
    // Before the bridge: what its start-up snapshot must show.
    await docker.run({ name: "pm-web", cmd: ["sleep", "600"] });
    await docker.run({ name: "pm-exit3", cmd: ["sh", "-c", "exit 3"] });
    await docker.waitForExit("pm-exit3");
    await docker.run({ name: "pm-health", cmd: ["sleep", "600"], healthCmd: "test -e /tmp/ok" });
    await podman("exec", "pm-health", "touch", "/tmp/ok");
    // No systemd here: Podman's healthchecks run only when asked.
    await podman("healthcheck", "run", "pm-health");
    bridge = await startBridge(ctx, uniqueHostId("podman"), { service: { offlineDelayMs: 50 } });
  });

  afterAll(async () => {
    await bridge?.stop();
    if (ctx) await docker.removeAll();
  });

  it("start-up snapshot: running, exited with its code, healthy, and the host's engine", async () => {
    const { recorder: rec, topics } = bridge;
    await rec.waitForState(topics.containerState("pm-web"), { status: "running", running: true });
    await rec.waitForState(topics.containerState("pm-exit3"), { status: "exited", exit_code: 3 });
    await rec.waitForState(topics.containerState("pm-health"), { health: "healthy" });
    await rec.waitFor("availability online", () => rec.last(topics.availability()) === "online");
    // The host's state is a state message: it follows availability, which always goes first.
    await rec.waitFor("host state", () => rec.last(topics.hostState()) !== undefined);
    const host = parse(rec.last(topics.hostState()));
    expect(host).toMatchObject({ engine_version: "4.3.1", api_version: "1.41" });
    expect(host.engine_id).toMatch(/^podman-[0-9a-f]{32}$/);
    expect(rec.last(deviceTopic(topics, "pm-web"))).toContain('"name":"pm-web"');
  });

  it("stop, start and kill", async () => {
    const { recorder: rec, topics } = bridge;
    const state = topics.containerState("pm-web");
    let from = rec.messages.length;
    await docker.stop("pm-web", 0);
    await rec.waitForState(state, { status: "exited", running: false, exit_code: 137 });
    await waitForEvent(rec, topics, "cleanup", "pm-web", from);
    from = rec.messages.length;
    await docker.start("pm-web");
    await rec.waitForState(state, { status: "running", running: true, exit_code: null });
    await waitForEvent(rec, topics, "init", "pm-web", from);
    await docker.kill("pm-web");
    await rec.waitForState(state, { status: "exited", running: false, exit_code: 137 });
    await docker.start("pm-web");
    await rec.waitForState(state, { status: "running" });
  });

  it("health, driven with `podman healthcheck run`, both ways", async () => {
    const { recorder: rec, topics } = bridge;
    const state = topics.containerState("pm-health");
    await podman("exec", "pm-health", "rm", "/tmp/ok");
    await podman("healthcheck", "run", "pm-health").catch(() => "unhealthy: exit status 1");
    await rec.waitForState(state, { health: "unhealthy" });
    await podman("exec", "pm-health", "touch", "/tmp/ok");
    await podman("healthcheck", "run", "pm-health");
    await rec.waitForState(state, { health: "healthy" });
  });

  it("rename moves the entities; remove clears them", async () => {
    const { recorder: rec, topics } = bridge;
    const from = rec.messages.length;
    await docker.rename("pm-exit3", "pm-renamed");
    await rec.waitForState(topics.containerState("pm-renamed"), { exit_code: 3 });
    await waitForCleared(rec, deviceTopic(topics, "pm-exit3"), from);
    await docker.rm("pm-renamed");
    await waitForEvent(rec, topics, "remove", "pm-renamed", from);
    await waitForCleared(rec, deviceTopic(topics, "pm-renamed"), from);
    await waitForCleared(rec, topics.containerState("pm-renamed"), from);
  });

  it("recreate (podman rm, then run under the same name) keeps the device", async () => {
    const { recorder: rec, topics } = bridge;
    await docker.run({ name: "pm-again", cmd: ["sleep", "600"] });
    await rec.waitForState(topics.containerState("pm-again"), { running: true });
    const device = deviceTopic(topics, "pm-again");
    const from = rec.messages.length;
    await podman("rm", "--force", "pm-again");
    const id = (
      await podman("run", "-d", "--network=none", "--name=pm-again", ctx.image, "sleep", "600")
    ).trim();
    await rec.waitForState(topics.containerState("pm-again"), { id, running: true });
    expect(rec.messages.slice(from).filter((m) => m.topic === device && m.payload === "")).toEqual(
      [],
    );
  });

  it("a restart of the service: offline, back online, the stop made meanwhile shown", async () => {
    const { recorder: rec, topics } = bridge;
    const engineId = parse(rec.last(topics.hostState())).engine_id;
    const from = rec.messages.length;
    await stopDockerd(ctx);
    await rec.waitFor("availability offline", () =>
      rec.messages
        .slice(from)
        .some((m) => m.topic === topics.availability() && m.payload === "offline"),
    );
    // Podman needs no service to stop a container.
    await podman("stop", "--time=0", "pm-web");
    await startDockerd(ctx);
    await waitFor(() => rec.last(topics.availability()) === "online", {
      timeoutMs: 20_000,
      what: "availability online again",
    });
    await rec.waitForState(
      topics.containerState("pm-web"),
      { status: "exited", running: false },
      20_000,
    );
    // The service's /info ID is new (NOTES.md); the bridge's engine id is not.
    expect(parse(rec.last(topics.hostState())).engine_id).toBe(engineId);
    const retained = await ourRetained(ctx.mosquittoUrl, topics);
    const inspect = await docker.inspect("pm-web");
    expect(parse(retained.get(topics.containerState("pm-web")))).toMatchObject({
      id: inspect.Id,
      status: inspect.State.Status,
      exit_code: inspect.State.ExitCode,
    });
  });
});
