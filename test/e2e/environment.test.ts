// Proves the end-to-end environment itself: the throwaway engine runs containers from the test
// image, mosquitto keeps retained messages, and both can be restarted in place by the helpers.
import { randomUUID } from "node:crypto";
import { connectAsync, type MqttClient } from "mqtt";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import {
  currentPids,
  type DockerApi,
  describeE2E,
  dockerApi,
  type E2EServices,
  e2eServices,
  restartDockerd,
  restartMosquitto,
  waitFor,
} from "./services.js";

interface Received {
  topic: string;
  payload: string;
  retain: boolean;
}

/**
 * Everything a new subscriber to `topic` is handed from the broker's retained store. A marker
 * published by the same client after SUBACK arrives after every retained message, so the answer
 * is complete without waiting for silence.
 */
async function retainedOn(url: string, topic: string, timeoutMs = 5_000): Promise<Received[]> {
  const client = await connectAsync(url, { reconnectPeriod: 0 });
  const marker = `${topic}-marker-${randomUUID()}`;
  const seen: Received[] = [];
  try {
    const markerArrived = new Promise<void>((resolve) => {
      client.on("message", (t, payload, packet) => {
        if (t === marker) resolve();
        else seen.push({ topic: t, payload: payload.toString(), retain: packet.retain });
      });
    });
    await client.subscribeAsync([topic, marker], { qos: 1 });
    await client.publishAsync(marker, "", { qos: 1 });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      markerArrived,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no marker on ${marker} in ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    return seen;
  } finally {
    await client.endAsync(true);
  }
}

describeE2E("e2e environment", () => {
  let ctx: E2EServices;
  let docker: DockerApi;
  const clients: MqttClient[] = [];
  const label = { "dmb.test": "environment" };

  beforeAll(() => {
    ctx = e2eServices();
    docker = dockerApi(ctx);
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.endAsync(true)));
  });

  afterAll(async () => {
    // Only when the engine is up: a failed restart test leaves it down, and teardown cleans anyway.
    if (ctx && (await docker.ping())) await docker.removeAll();
  });

  it("answers /_ping on the throwaway engine's socket", async () => {
    const res = await docker.request("GET", "/_ping");
    expect({ status: res.status, text: res.text }).toEqual({ status: 200, text: "OK" });
  });

  it("runs a container from the test image and reports its exit code", async () => {
    const name = `exit3-${randomUUID().slice(0, 8)}`;
    await docker.run({ name, labels: label, cmd: ["sh", "-c", "echo hello; exit 3"] });

    expect(await docker.waitForExit(name)).toBe(3);
    const inspected = await docker.inspect(name);
    expect(inspected.State.Status).toBe("exited");
    expect(inspected.Config.Labels).toEqual(label);
    expect(inspected.Config.Image).toBe(ctx.image);
  });

  it("reports a passing health check", async () => {
    const name = `healthy-${randomUUID().slice(0, 8)}`;
    await docker.run({
      name,
      cmd: ["sleep", "600"],
      healthCmd: "test -d /bin",
      healthIntervalMs: 200,
    });

    const health = await waitFor(
      async () => {
        const status = (await docker.inspect(name)).State.Health?.Status;
        return status === "starting" ? undefined : status;
      },
      { timeoutMs: 10_000, what: "a health status" },
    );
    expect(health).toBe("healthy");
    await docker.rm(name);
  });

  it("round-trips a retained message through mosquitto", async () => {
    const topic = `dmb-test/${randomUUID()}`;
    const publisher = await connectAsync(ctx.mosquittoUrl, { reconnectPeriod: 0 });
    clients.push(publisher);
    await publisher.publishAsync(topic, "online", { qos: 1, retain: true });

    // A client that subscribes afterwards gets it from the broker's retained store.
    expect(await retainedOn(ctx.mosquittoUrl, topic)).toEqual([
      { topic, payload: "online", retain: true },
    ]);
  });

  it("restarts mosquitto on the same port without its retained messages", async () => {
    const topic = `dmb-test/${randomUUID()}`;
    const publisher = await connectAsync(ctx.mosquittoUrl, { reconnectPeriod: 0 });
    await publisher.publishAsync(topic, "before", { qos: 1, retain: true });
    await publisher.endAsync();
    expect(await retainedOn(ctx.mosquittoUrl, topic)).toEqual([
      { topic, payload: "before", retain: true },
    ]);
    const before = currentPids(ctx).mosquittoPid;

    const pid = await restartMosquitto(ctx);

    expect(pid).not.toBe(before);
    expect(currentPids(ctx).mosquittoPid).toBe(pid);
    expect(await retainedOn(ctx.mosquittoUrl, topic)).toEqual([]);
  });

  it("restarts dockerd with the same socket, keeping stopped containers", async () => {
    const name = `survivor-${randomUUID().slice(0, 8)}`;
    await docker.run({ name, labels: label, cmd: ["sh", "-c", "exit 0"] });
    await docker.waitForExit(name);
    const before = currentPids(ctx).dockerdPid;

    const pid = await restartDockerd(ctx);

    expect(pid).not.toBe(before);
    expect(currentPids(ctx).dockerdPid).toBe(pid);
    expect(await docker.ping()).toBe(true);
    expect((await docker.inspect(name)).State.Status).toBe("exited");
  });

  it("comes back after dockerd is killed, restarting an always-restart container", async () => {
    const name = `crash-${randomUUID().slice(0, 8)}`;
    await docker.run({ name, cmd: ["sleep", "600"], restart: "always" });
    const startedAt = (await docker.inspect(name)).State.StartedAt;

    await restartDockerd(ctx, "SIGKILL");

    const state = await waitFor(
      async () => {
        const { State } = await docker.inspect(name);
        return State.Running && State.StartedAt !== startedAt ? State : undefined;
      },
      { timeoutMs: 15_000, what: `${name} to run again after the crash` },
    );
    expect(state.Running).toBe(true);
  });
});
