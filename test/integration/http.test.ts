// The operator's HTTP interface over real sockets: liveness, readiness that follows the engine, and
// Prometheus metrics whose counts match what the fake engine sent and the broker received.
import { Writable } from "node:stream";
import { request } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/loader.js";
import { createLogger } from "../../src/runtime/log.js";
import { type Service, startService } from "../../src/runtime/service.js";
import { startTestBroker } from "../helpers/broker.js";
import { FakeEngine } from "../helpers/fake-engine.js";
import { type Harness, startHarness } from "../helpers/harness.js";

const HTTP = { http: { host: "127.0.0.1", port: 0 } };

let h: Harness | undefined;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await h?.close();
  h = undefined;
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function httpOf(service: Service): string {
  if (!service.http) throw new Error("the service has no HTTP server");
  return service.http.url;
}

async function get(url: string): Promise<{ status: number; type: string; body: string }> {
  const res = await request(url);
  return {
    status: res.statusCode,
    type: String(res.headers["content-type"]),
    body: await res.body.text(),
  };
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The value of one sample in Prometheus text format, or undefined when it is absent. */
function sample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries(
      [...(m[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe("/healthz and errors", () => {
  it("answers while the process lives, and says what exists", async () => {
    h = await startHarness({ service: HTTP });
    const base = httpOf(h.service);
    expect(await get(`${base}/healthz`)).toEqual({
      status: 200,
      type: "text/plain; charset=utf-8",
      body: "ok\n",
    });
    expect((await get(`${base}/nope`)).status).toBe(404);
    const post = await request(`${base}/healthz`, { method: "POST" });
    await post.body.dump();
    expect(post.statusCode).toBe(405);
    expect(post.headers.allow).toBe("GET, HEAD");
  });

  it("is off unless asked for", async () => {
    h = await startHarness();
    expect(h.service.http).toBeUndefined();
  });
});

describe("/readyz", () => {
  it("is 503 until the engine answers, then 200 with per-engine detail", async () => {
    h = await startHarness({
      service: HTTP,
      before: (engine) => engine.refuseConnections(true),
    });
    const base = httpOf(h.service);
    await until("the broker connection", async () => h?.service.publisher.connected === true);
    const down = await get(`${base}/readyz`);
    expect(down.status).toBe(503);
    expect(down.type).toBe("application/json");
    expect(JSON.parse(down.body)).toEqual({
      ready: false,
      broker: { url: h.broker.url, connected: true },
      engines: [
        {
          host: "test",
          endpoint: h.engine.dockerHost,
          connected: false,
          containers: 0,
          last_event_age_seconds: null,
        },
      ],
      reason: "not connected: engine test",
    });

    h.engine.seed([{ name: "web", state: "running" }]);
    await h.engine.refuseConnections(false);
    await until("/readyz 200", async () => (await get(`${base}/readyz`)).status === 200);
    const up = JSON.parse((await get(`${base}/readyz`)).body);
    expect(up).toMatchObject({
      ready: true,
      broker: { connected: true },
      engines: [{ host: "test", connected: true, containers: 1 }],
    });
    expect(up.reason).toBeUndefined();

    // Losing the broker makes it unready again.
    await h.broker.close();
    await until("/readyz 503", async () => (await get(`${base}/readyz`)).status === 503);
    expect(JSON.parse((await get(`${base}/readyz`)).body).reason).toBe(
      "not connected: the MQTT broker",
    );
  });
});

describe("/metrics", () => {
  it("counts events by type, publishes by kind, containers by state", async () => {
    h = await startHarness({ service: HTTP });
    const { engine, recorder: rec, topics } = h;
    await engine.waitForEventStream();
    const before = engine.history.length;
    engine.run({ name: "web", healthcheck: true });
    engine.run({ name: "db" });
    engine.stop("db");
    await rec.waitForState(topics.containerState("db"), { status: "exited" });
    await rec.waitForState(topics.containerState("web"), { status: "running" });
    await h.service.publisher.drain(5000);

    const sent = engine.history.slice(before);
    const byType = (type: string) => sent.filter((e) => e.Type === type).length;
    const res = await get(`${httpOf(h.service)}/metrics`);
    expect(res.status).toBe(200);
    expect(res.type).toContain("text/plain");
    const text = res.body;
    const m = (name: string, labels?: Record<string, string>) =>
      sample(text, `docker_mqtt_bridge_${name}`, labels);

    expect(byType("container")).toBeGreaterThan(0);
    expect(m("events_received_total", { host: "test", type: "container" })).toBe(
      byType("container"),
    );
    expect(m("events_received_total", { host: "test", type: "network" })).toBe(byType("network"));
    expect(m("events_invalid_total", { host: "test" })).toBe(0);
    expect(m("containers", { host: "test", state: "running" })).toBe(1);
    expect(m("containers", { host: "test", state: "exited" })).toBe(1);
    expect(m("containers", { host: "test", state: "paused" })).toBe(0);
    expect(m("engine_connected", { host: "test" })).toBe(1);
    expect(m("mqtt_connected")).toBe(1);
    expect(m("engine_reconnects_total", { host: "test" })).toBe(0);
    expect(m("mqtt_reconnects_total")).toBe(0);

    // What the broker passed on to a subscriber, classified by kind, is what the metrics count.
    const published = h.service.publisher.stats.published;
    await rec.waitFor(`${published} messages`, () => rec.messages.length === published);
    const kindOf = (topic: string) =>
      topic === topics.availability()
        ? "availability"
        : topic.endsWith("/config")
          ? "discovery"
          : topic.includes("/events/") || topic.endsWith("/event")
            ? "event"
            : "state";
    const received = (kind: string) => rec.messages.filter((r) => kindOf(r.topic) === kind).length;
    for (const kind of ["availability", "discovery", "state", "event"]) {
      expect({ kind, count: m("mqtt_publishes_total", { kind }) }).toEqual({
        kind,
        count: received(kind),
      });
    }
    const eventMessages = received("event");
    expect(eventMessages).toBeGreaterThanOrEqual(h.service.bridge.stats.eventsPublished);
    expect(m("mqtt_publish_failures_total", { kind: "event" })).toBeUndefined();
    expect(m("event_publish_latency_seconds_count")).toBe(eventMessages);
    expect(m("event_publish_latency_seconds_bucket", { le: "+Inf" })).toBe(eventMessages);
    const age = m("last_event_age_seconds", { host: "test" });
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(10);
    expect(text).toContain('docker_mqtt_bridge_info{version="');
    expect(sample(text, "process_resident_memory_bytes")).toBeGreaterThan(0);
  });

  it("keeps each service's counts apart (no global registry)", async () => {
    h = await startHarness({ service: HTTP });
    await h.engine.waitForEventStream();
    h.engine.run({ name: "solo" });
    await h.recorder.waitForState(h.topics.containerState("solo"), { status: "running" });
    const first = (await get(`${httpOf(h.service)}/metrics`)).body;
    await h.stopBridge();
    await h.restartBridge();
    const second = (await get(`${httpOf(h.service)}/metrics`)).body;
    expect(
      sample(first, "docker_mqtt_bridge_events_received_total", { type: "container" }),
    ).toBeGreaterThan(0);
    expect(
      sample(second, "docker_mqtt_bridge_events_received_total", { type: "container" }),
    ).toBeUndefined();
  });
});

describe("periodic summary", () => {
  it("logs the counters at debug level", async () => {
    const engine = await FakeEngine.start();
    cleanups.push(() => engine.close());
    const broker = await startTestBroker();
    cleanups.push(() => broker.close());
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    const { config } = loadConfig({
      argv: [],
      env: { DOCKER_HOST: engine.dockerHost, MQTT_URL: broker.url, DOCKER_HOST_ID: "sum" },
    });
    const service = await startService(config, createLogger("debug", sink), {
      summaryIntervalMs: 30,
      offlineDelayMs: 100,
      cleanupSettleMs: 100,
    });
    cleanups.push(() => service.stop());
    await until("a summary line", async () => lines.some((l) => l.msg === "summary"));
    const summary = lines.find((l) => l.msg === "summary");
    expect(summary?.level).toBe(20);
    expect(summary).toMatchObject({
      engine: { eventsReceived: expect.any(Number), reconnects: 0 },
      mqtt: { published: expect.any(Number), publishFailures: 0 },
      bridge: { containers: expect.any(Number) },
    });
  });
});
