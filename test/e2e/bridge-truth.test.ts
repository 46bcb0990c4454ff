// Issue #12 on the real engine: what Home Assistant is shown equals `docker inspect`, whatever the
// timing: short `--rm` jobs leave nothing behind, health survives pause/unpause as the engine keeps
// it, a restart policy's back-off shows `restarting`, and a reconnect that changes nothing sends
// no state message. The reconnect is a real cut: the bridge reaches dockerd through a unix-socket
// relay whose connections the test destroys.
import { mkdtemp, rm } from "node:fs/promises";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  type BridgeUnderTest,
  barrier,
  ourRetained,
  parse,
  since,
  startBridge,
  uniqueHostId,
} from "./bridge-kit.js";
import {
  type DockerApi,
  describeE2E,
  dockerApi,
  type E2EServices,
  e2eServices,
  waitFor,
} from "./services.js";

/** A unix socket that relays to dockerd's, and can cut every connection through it. */
async function socketRelay(
  target: string,
): Promise<{ path: string; cut(): void; close(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "dmb-relay-"));
  const path = join(dir, "docker.sock");
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection(target);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    path,
    cut() {
      for (const s of sockets) s.destroy();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const statusesOf = (bridge: BridgeUnderTest, name: string, from = 0) =>
  since(bridge.recorder, from, bridge.topics.containerState(name))
    .filter((m) => m.payload !== "")
    .map((m) => parse(m.payload));

describeE2E("the bridge shows what docker inspect shows", () => {
  let ctx: E2EServices;
  let docker: DockerApi;
  let bridge: BridgeUnderTest;
  let relay: Awaited<ReturnType<typeof socketRelay>>;

  beforeAll(async () => {
    ctx = e2eServices();
    docker = dockerApi(ctx);
    await docker.removeAll();
    relay = await socketRelay(ctx.dockerSocket);
    bridge = await startBridge(ctx, uniqueHostId("truth"), {
      env: { DOCKER_HOST: `unix://${relay.path}` },
    });
    await docker.run({ name: "truth-anchor", cmd: ["sleep", "3600"] });
    await bridge.recorder.waitForState(bridge.topics.containerState("truth-anchor"), {
      running: true,
    });
  });

  afterAll(async () => {
    await bridge?.stop();
    await relay?.close();
    if (ctx && (await docker.ping())) await docker.removeAll();
  });

  it("twenty `docker run --rm` jobs in quick succession leave no retained topic behind", async () => {
    const names = Array.from({ length: 20 }, (_, i) => `truth-job-${i}`);
    for (const name of names) {
      await docker.run({ name, cmd: ["true"], autoRemove: true });
    }
    await waitFor(
      async () => {
        const res = await docker.request("GET", "/containers/json?all=1");
        const left = (res.body as { Names: string[] }[]).filter((c) =>
          c.Names.some((n) => n.startsWith("/truth-job-")),
        );
        return left.length === 0 ? true : undefined;
      },
      { timeoutMs: 20_000, what: "the engine to remove every job" },
    );
    // Past the removal grace (1 s here), with time for any late inspect answer.
    await new Promise((r) => setTimeout(r, 2500));
    await barrier(docker, bridge.recorder, bridge.topics, "truth-anchor");
    const retained = await ourRetained(ctx.mosquittoUrl, bridge.topics);
    expect([...retained.keys()].filter((t) => t.includes("truth-job"))).toEqual([]);
    for (const name of names) expect(bridge.service.bridge.containers.has(name)).toBe(false);
  }, 60_000);

  it("an unhealthy container paused and unpaused still shows unhealthy, as inspect does", async () => {
    const name = "truth-sick";
    const topic = bridge.topics.containerState(name);
    await docker.run({ name, cmd: ["sleep", "3600"], healthCmd: "exit 1", healthIntervalMs: 500 });
    await bridge.recorder.waitForState(topic, { health: "unhealthy" }, 15_000);
    const from = bridge.recorder.messages.length;
    await docker.pause(name);
    await docker.unpause(name);
    await bridge.recorder.waitForState(topic, { status: "running" });
    // Two more probes, both failing: the engine keeps it unhealthy and sends no event.
    await new Promise((r) => setTimeout(r, 1200));
    await barrier(docker, bridge.recorder, bridge.topics, name);
    const inspect = await docker.inspect(name);
    expect(inspect.State.Health?.Status).toBe("unhealthy");
    expect(parse(bridge.recorder.last(topic))).toMatchObject({
      status: "running",
      health: "unhealthy",
    });
    expect(statusesOf(bridge, name, from).map((s) => s.health)).not.toContain("starting");
  }, 30_000);

  it("a `--restart always` container that exits every second shows restarting when inspect does", async () => {
    const name = "truth-loop";
    const topic = bridge.topics.containerState(name);
    await docker.run({ name, cmd: ["sh", "-c", "sleep 1; exit 1"], restart: "always" });
    await bridge.recorder.waitForState(topic, { status: "restarting" }, 15_000);
    await bridge.recorder.waitForState(topic, { status: "running" }, 15_000);
    await bridge.recorder.waitForState(topic, { status: "restarting" }, 15_000);
    const counts = statusesOf(bridge, name).map((s) => s.restart_count as number);
    expect(Math.max(...counts)).toBeGreaterThanOrEqual(2);
    // Never `exited` while the engine itself said restarting.
    expect(statusesOf(bridge, name).map((s) => s.status)).not.toContain("exited");
    await docker.stop(name, 1);
    await bridge.recorder.waitForState(topic, { status: "exited" }, 15_000);
    const inspect = await docker.inspect(name);
    expect(parse(bridge.recorder.last(topic))).toMatchObject({
      status: inspect.State.Status,
      restart_count: inspect.RestartCount,
    });
  }, 40_000);

  it("a reconnect with no change in between publishes no state message", async () => {
    await docker.run({
      name: "truth-calm",
      cmd: ["sleep", "3600"],
      healthCmd: "true",
      healthIntervalMs: 500,
    });
    await docker.run({ name: "truth-done", cmd: ["sh", "-c", "exit 4"] });
    const rec = bridge.recorder;
    await rec.waitForState(
      bridge.topics.containerState("truth-calm"),
      { health: "healthy" },
      15_000,
    );
    await rec.waitForState(bridge.topics.containerState("truth-done"), { exit_code: 4 }, 15_000);
    await docker.rm("truth-loop");
    await docker.rm("truth-sick");
    await new Promise((r) => setTimeout(r, 2000)); // removals done, answers in
    await barrier(docker, rec, bridge.topics, "truth-anchor");
    const stateTopics = () =>
      rec.messages.filter(
        (m) => m.topic.startsWith(`docker/${bridge.hostId}/`) && m.topic.endsWith("/state"),
      );
    const before = stateTopics().length;
    const reconnects = bridge.service.watcher.stats.reconnects;
    relay.cut();
    await waitFor(
      async () =>
        bridge.service.watcher.stats.reconnects > reconnects && bridge.service.watcher.connected
          ? true
          : undefined,
      { timeoutMs: 15_000, what: "the bridge to reconnect" },
    );
    await new Promise((r) => setTimeout(r, 1000));
    await barrier(docker, rec, bridge.topics, "truth-anchor");
    expect(
      stateTopics()
        .slice(before)
        .map((m) => m.topic),
    ).toEqual([]);
  }, 40_000);
});
