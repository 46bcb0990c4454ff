// Proves the fake Docker Engine against the real 20.10 captures: same headers, documents, event
// sequences and replay/filter semantics, plus the fault controls integration tests rely on.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { Agent, type Dispatcher, request } from "undici";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeEngine, type FakeEngineOptions } from "../helpers/fake-engine.js";
import { EventFilter, parseFilterArgs } from "../helpers/fake-engine-events.js";
import { FIXTURE_DIR } from "../helpers/fake-engine-fixtures.js";

type Json = Record<string, unknown>;
interface WireEvent {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  [key: string]: unknown;
}

async function fixtureJson(name: string): Promise<unknown> {
  return JSON.parse(await readFile(`${FIXTURE_DIR}${name}`, "utf8"));
}

async function fixtureLines(name: string): Promise<string[]> {
  return (await readFile(`${FIXTURE_DIR}${name}`, "utf8")).split("\n").filter((l) => l !== "");
}

/** Collects the lines of one /events response as they arrive. */
class EventReader {
  readonly lines: string[] = [];
  partial = "";
  outcome: "open" | "end" | "error" = "open";
  #wake: Array<() => void> = [];

  constructor(readonly response: Dispatcher.ResponseData) {
    response.body.setEncoding("utf8");
    response.body.on("data", (chunk: string) => {
      const parts = (this.partial + chunk).split("\n");
      this.partial = parts.pop() ?? "";
      this.lines.push(...parts);
      this.#notify();
    });
    response.body.on("end", () => this.#finish("end"));
    response.body.on("error", () => this.#finish("error"));
  }

  get events(): WireEvent[] {
    return this.lines.map((l) => JSON.parse(l) as WireEvent);
  }

  async waitForLines(n: number): Promise<string[]> {
    while (this.lines.length < n) {
      if (this.outcome !== "open")
        throw new Error(`stream ${this.outcome} at ${this.lines.length}`);
      await new Promise<void>((resolve) => this.#wake.push(resolve));
    }
    return this.lines.slice(0, n);
  }

  async closed(): Promise<"end" | "error"> {
    while (this.outcome === "open") await new Promise<void>((r) => this.#wake.push(r));
    return this.outcome;
  }

  #finish(outcome: "end" | "error"): void {
    if (this.outcome === "open") this.outcome = outcome;
    this.#notify();
  }

  #notify(): void {
    for (const wake of this.#wake.splice(0)) wake();
  }
}

let engine: FakeEngine;
let agent: Agent;
const readers: EventReader[] = [];

async function startEngine(options: FakeEngineOptions = {}): Promise<void> {
  engine = await FakeEngine.start(options);
  const socketPath = engine.socketPath;
  agent = socketPath ? new Agent({ connect: { socketPath } }) : new Agent();
}

async function get(path: string, method: "GET" | "HEAD" = "GET") {
  const res = await request(`${engine.url}${path}`, { dispatcher: agent, method });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text };
}

async function getJson(path: string): Promise<{ status: number; body: unknown }> {
  const res = await get(path);
  return { status: res.status, body: JSON.parse(res.text) };
}

async function openEvents(query = ""): Promise<EventReader> {
  const res = await request(`${engine.url}/v1.41/events${query}`, { dispatcher: agent });
  const reader = new EventReader(res);
  readers.push(reader);
  return reader;
}

function q(params: Record<string, string | Record<string, string[]>>): string {
  const entries = Object.entries(params).map(([k, v]): [string, string] => [
    k,
    typeof v === "string" ? v : JSON.stringify(v),
  ]);
  return `?${new URLSearchParams(entries).toString()}`;
}

/** An event without times and with ids replaced, to compare fake and capture exactly. */
function normalize(ev: WireEvent, ids: Map<string, string>): unknown {
  const { time: _t, timeNano: _n, ...rest } = ev;
  const name = (id: string): string => {
    if (!ids.has(id)) ids.set(id, `<id${ids.size}>`);
    return ids.get(id) ?? id;
  };
  const attrs = { ...ev.Actor.Attributes };
  if (attrs.execID) attrs.execID = "<exec>";
  if (attrs.container) attrs.container = name(attrs.container);
  const id = ev.Type === "container" ? name(ev.Actor.ID) : ev.Actor.ID;
  return { ...rest, ...(rest.id ? { id } : {}), Actor: { ID: id, Attributes: attrs } };
}

/** The capture's events that concern one container (its own, plus network/volume ones). */
async function capturedFor(file: string, name: string): Promise<WireEvent[]> {
  const events = (await fixtureLines(file)).map((l) => JSON.parse(l) as WireEvent);
  const id = events.find((e) => e.Type === "container" && e.Actor.Attributes.name === name)?.Actor
    .ID;
  return events.filter((e) => e.Actor.ID === id || e.Actor.Attributes.container === id);
}

async function expectSameAsCapture(file: string, name: string, act: () => void): Promise<void> {
  const expected = await capturedFor(file, name);
  const reader = await openEvents();
  act();
  await reader.waitForLines(expected.length);
  const ids = new Map<string, string>();
  const want = expected.map((e) => normalize(e, ids));
  const fakeIds = new Map<string, string>();
  expect(reader.events.map((e) => normalize(e, fakeIds))).toEqual(want);
  // Same key order on the wire as the real engine's json.Encoder.
  expect(reader.events.map((e) => Object.keys(e))).toEqual(expected.map((e) => Object.keys(e)));
}

beforeEach(async () => {
  await startEngine();
});

afterEach(async () => {
  for (const reader of readers.splice(0)) reader.response.body.destroy();
  await agent.destroy();
  await engine.close();
});

describe("fake engine: plain endpoints", () => {
  it("answers /_ping like 20.10, GET and HEAD, unversioned and versioned", async () => {
    const ping = await get("/_ping");
    expect(ping.status).toBe(200);
    expect(ping.text).toBe("OK");
    expect(ping.headers["api-version"]).toBe("1.41");
    expect(ping.headers.server).toBe("Docker/20.10.24+dfsg1 (linux)");
    expect(ping.headers.ostype).toBe("linux");
    expect(ping.headers["docker-experimental"]).toBe("false");
    const head = await get("/v1.41/_ping", "HEAD");
    expect([head.status, head.text]).toEqual([200, ""]);
  });

  it("refuses a version above its maximum exactly like the real engine", async () => {
    const res = await get("/v1.43/containers/json");
    expect(res.status).toBe(400);
    expect(res.text).toBe(
      '{"message":"client version 1.43 is too new. Maximum supported API version is 1.41"}\n',
    );
    expect((await get("/v1.24/_ping")).status).toBe(200);
  });

  it("serves the captured /version and an /info whose Name and ID can change", async () => {
    expect((await getJson("/version")).body).toEqual(await fixtureJson("api-version.json"));
    const info = (await getJson("/v1.41/info")).body as Json;
    expect(Object.keys(info)).toEqual(Object.keys((await fixtureJson("api-info.json")) as Json));
    expect([info.Name, info.ID]).toEqual([
      "vm",
      "PI6R:APPI:4KP2:TWMS:X2BG:3QEW:CQSW:TUNA:XCXS:HB4Z:4MYX:NW4H",
    ]);
    engine.setIdentity({ name: "other", id: "NEW-ENGINE" });
    const after = (await getJson("/info")).body as Json;
    expect([after.Name, after.ID]).toEqual(["other", "NEW-ENGINE"]);
  });

  it("lists and inspects the captured snapshot exactly as captured", async () => {
    engine.loadFixtureSnapshot({ rebase: false });
    const list = (await getJson("/v1.41/containers/json?all=1")).body as Json[];
    const captured = (await fixtureJson("api-containers-all.json")) as Json[];
    expect(list.map(({ Status: _, ...rest }) => rest)).toEqual(
      captured.map(({ Status: _, ...rest }) => rest),
    );
    for (const name of ["probe-exit3", "probe-healthy", "probe-unhealthy"]) {
      const inspect = await getJson(`/v1.41/containers/${name}/json`);
      expect(inspect.body).toEqual(await fixtureJson(`api-inspect-${name}.json`));
    }
    const running = (await getJson("/containers/json")).body as Json[];
    expect(running.map((c) => c.Names)).toEqual([
      ["/probe-sleeper"],
      ["/probe-unhealthy"],
      ["/probe-healthy"],
    ]);
  });

  it("rebases the snapshot to now, so Status reads like the capture", async () => {
    engine.loadFixtureSnapshot();
    const list = (await getJson("/containers/json?all=1")).body as Json[];
    const captured = (await fixtureJson("api-containers-all.json")) as Json[];
    expect(list.map((c) => c.Status)).toEqual(captured.map((c) => c.Status));
  });

  it("renders model containers with the captured field sets, Health only with a healthcheck", async () => {
    engine.run({ name: "web", labels: { app: "x" }, healthcheck: true });
    engine.run({ name: "plain" });
    const healthy = (await fixtureJson("api-inspect-probe-healthy.json")) as Json;
    const exit3 = (await fixtureJson("api-inspect-probe-exit3.json")) as Json;
    const web = (await getJson("/containers/web/json")).body as Json;
    const plain = (await getJson("/containers/plain/json")).body as Json;
    const keys = (o: unknown): string[] => Object.keys(o as Json);
    expect(keys(web)).toEqual(keys(healthy));
    expect(keys(web.State)).toEqual(keys(healthy.State));
    expect(keys(web.Config)).toEqual(keys(healthy.Config));
    expect((web.State as Json).Health).toEqual({ Status: "starting", FailingStreak: 0, Log: null });
    expect(keys(plain.State)).toEqual(keys(exit3.State));
    expect(keys(plain.Config)).toEqual(keys(exit3.Config));
    expect(web.Name).toBe("/web");
    const list = (await getJson("/containers/json?all=1")).body as Json[];
    const capturedKeys = keys(((await fixtureJson("api-containers-all.json")) as Json[])[0]);
    expect(list.map(keys)).toEqual([capturedKeys, capturedKeys]);
    expect(list.map((c) => [c.Names, c.State, c.Status])).toEqual([
      [["/plain"], "running", "Up Less than a second"],
      [["/web"], "running", "Up Less than a second (health: starting)"],
    ]);
    const byPrefix = (await getJson(`/containers/${String(web.Id).slice(0, 12)}/json`))
      .body as Json;
    expect(byPrefix.Id).toBe(web.Id);
  });

  it("answers 404 with the engine's message for an unknown container", async () => {
    const res = await get("/v1.41/containers/nope/json");
    expect([res.status, res.text]).toEqual([404, '{"message":"No such container: nope"}\n']);
  });
});

describe("fake engine: events match the captures", () => {
  it("sends chunked JSON lines with the captured headers", async () => {
    const reader = await openEvents();
    const headers = await fixtureLines("events-all.headers.txt");
    for (const line of headers.slice(1)) {
      const [name, value] = line.replace(/\r$/, "").split(": ");
      if (name === "Date" || name === undefined) continue;
      expect(reader.response.headers[name.toLowerCase()]).toBe(value);
    }
    engine.createContainer({ name: "c1" });
    const [line] = await reader.waitForLines(1);
    const nanos = /"time":(\d+),"timeNano":(\d{19})}$/.exec(line ?? "");
    expect(nanos?.[1]).toBe(nanos?.[2]?.slice(0, 10));
  });

  it("run+die(3) is probe-exit3's sequence", async () => {
    await expectSameAsCapture("events-all.raw.jsonl", "probe-exit3", () => {
      engine.run({
        name: "probe-exit3",
        network: "none",
        attach: true,
        cmd: ["sh", "-c", "exit 3"],
      });
      engine.die("probe-exit3", 3);
      engine.remove("probe-exit3");
    });
    const inspect = (await getJson("/containers/probe-exit3/json")).status;
    expect(inspect).toBe(404);
  });

  it("run, exec, restart, rename, kill, start, stop, rm is probe-sleeper's sequence", async () => {
    await expectSameAsCapture("events-all.raw.jsonl", "probe-sleeper", () => {
      const volumes = [{ name: "probe-vol", destination: "/data" }];
      engine.run({ name: "probe-sleeper", network: "none", volumes });
      engine.exec("probe-sleeper", "sh -c echo hi > /data/x");
      engine.restart("probe-sleeper");
      engine.rename("probe-sleeper", "probe-renamed");
      engine.kill("probe-renamed");
      engine.start("probe-renamed");
      engine.stop("probe-renamed");
      engine.remove("probe-renamed");
    });
  });

  it("healthchecks, pause and unpause are probe-healthy's sequence", async () => {
    await expectSameAsCapture("events-all.raw.jsonl", "probe-healthy", () => {
      const labels = { app: "probe", role: "healthy" };
      engine.run({ name: "probe-healthy", network: "none", labels, healthcheck: true });
      engine.setHealth("probe-healthy", "healthy", { probe: true });
      for (let i = 0; i < 3; i++) engine.healthProbe("probe-healthy");
      engine.pause("probe-healthy");
      engine.unpause("probe-healthy");
      engine.setHealth("probe-healthy", "healthy", { probe: true });
      engine.healthProbe("probe-healthy");
      engine.remove("probe-healthy");
    });
  });

  it("a failing healthcheck is probe-unhealthy's sequence", async () => {
    await expectSameAsCapture("events-all.raw.jsonl", "probe-unhealthy", () => {
      const healthcheck = { Test: ["CMD-SHELL", "false"], Interval: 1e9, Retries: 2 };
      engine.run({
        name: "probe-unhealthy",
        network: "none",
        labels: { app: "probe" },
        healthcheck,
      });
      engine.healthProbe("probe-unhealthy", { exitCode: 1 });
      engine.setHealth("probe-unhealthy", "unhealthy", { probe: true });
      for (let i = 0; i < 4; i++) engine.healthProbe("probe-unhealthy");
      engine.remove("probe-unhealthy");
    });
    expect(engine.history.filter((e) => e.Action === "exec_create: /bin/sh -c false")).toHaveLength(
      6,
    );
  });

  it("restart policy and OOM are probe-restarter's and probe-oom's sequences", async () => {
    let seen: unknown[] = [];
    await expectSameAsCapture("events-net-restart-oom.raw.jsonl", "probe-restarter", () => {
      engine.run({ name: "probe-restarter", network: "none" });
      engine.die("probe-restarter", 1, { autoRestart: true });
      engine.die("probe-restarter", 1, { autoRestart: true });
      engine.die("probe-restarter", 1);
      const c = engine.container("probe-restarter");
      seen = [c?.restartCount, c?.running, c?.exitCode];
      engine.remove("probe-restarter");
    });
    expect(seen).toEqual([2, false, 1]);
    await expectSameAsCapture("events-net-restart-oom.raw.jsonl", "probe-oom", () => {
      engine.run({ name: "probe-oom", network: "none", attach: true });
      engine.oom("probe-oom");
      seen = [engine.container("probe-oom")?.oomKilled];
      engine.remove("probe-oom");
    });
    expect(seen).toEqual([true]);
  });

  it("filters like moby: the captures' filtered streams follow from the unfiltered one", async () => {
    const all = await fixtureLines("events-all.raw.jsonl");
    const pick = (filters: Record<string, string[]>): string[] => {
      const filter = new EventFilter(parseFilterArgs(JSON.stringify(filters)));
      return all.filter((l) =>
        filter.includes({ ...(JSON.parse(l) as WireEvent), scope: "local", time: 0, timeNano: 0n }),
      );
    };
    const container = await fixtureLines("events-filter-container.raw.jsonl");
    expect(pick({ type: ["container"] })).toEqual(container);
    const healthDie = await fixtureLines("events-replay-filter-health-die.raw.jsonl");
    expect(pick({ type: ["container"], event: ["health_status", "die"] })).toEqual(healthDie);
  });

  it("filters a live stream by type, event, container and label", async () => {
    const byType = await openEvents(q({ filters: { type: ["container"] } }));
    const byEvent = await openEvents(q({ filters: { event: ["health_status"] } }));
    const byName = await openEvents(q({ filters: { container: ["zulu"] } }));
    const byLabel = await openEvents(q({ filters: { label: ["app=web"] } }));
    engine.run({ name: "a", labels: { app: "web" }, healthcheck: true });
    engine.run({ name: "zulu" });
    engine.setHealth("a", "healthy");
    await byType.waitForLines(5);
    expect(byType.events.map((e) => e.Action)).toEqual([
      "create",
      "start",
      "create",
      "start",
      "health_status: healthy",
    ]);
    expect((await byEvent.waitForLines(1)).length).toBe(1);
    expect(byEvent.events[0]?.Actor.Attributes.name).toBe("a");
    await byName.waitForLines(2);
    expect(byName.events.map((e) => e.Action)).toEqual(["create", "start"]);
    await byLabel.waitForLines(3);
    expect(byLabel.events.every((e) => e.Actor.Attributes.name === "a")).toBe(true);
  });
});

describe("fake engine: replay ring", () => {
  it("replays only the last 256 events for an old since, then goes live", async () => {
    const since = engine.timestamp();
    engine.run({ name: "busy" });
    for (let i = 0; i < 99; i++) engine.exec("busy", `echo ${i}`);
    expect(engine.history).toHaveLength(300);
    const reader = await openEvents(q({ since }));
    await reader.waitForLines(256);
    const sent = engine.history.slice(-256).map((e) => e.Action);
    expect(reader.events.map((e) => e.Action)).toEqual(sent);
    engine.stop("busy", { exitCode: 0 });
    await reader.waitForLines(260);
    expect(reader.events.slice(256).map((e) => e.Action)).toEqual([
      "kill",
      "die",
      "disconnect",
      "stop",
    ]);
  });

  it("ends the stream at until, and rejects since after until", async () => {
    const since = engine.timestamp();
    engine.run({ name: "x" });
    const until = engine.timestamp();
    engine.stop("x", { exitCode: 0 });
    const reader = await openEvents(q({ since, until }));
    expect(await reader.closed()).toBe("end");
    expect(reader.events.map((e) => e.Action)).toEqual(["create", "connect", "start"]);
    const bad = await get(`/events${q({ since: until, until: since })}`);
    expect(bad.status).toBe(400);
  });
});

describe("fake engine: faults", () => {
  it("cuts streams mid-line", async () => {
    const reader = await openEvents();
    expect(engine.openEventStreams).toBe(1);
    engine.createContainer({ name: "one" });
    await reader.waitForLines(1);
    await engine.cutStreams({ midLine: true });
    expect(await reader.closed()).toBe("error");
    expect(reader.partial).toMatch(/^\{"status":"die"/);
    expect(engine.openEventStreams).toBe(0);
  });

  it("can end streams properly instead", async () => {
    const reader = await openEvents();
    await engine.cutStreams({ graceful: true });
    expect(await reader.closed()).toBe("end");
  });

  it("writes raw garbage verbatim", async () => {
    const reader = await openEvents();
    engine.emitRaw('garbage\n{"half":');
    engine.emitRaw("1}\n");
    expect(await reader.waitForLines(2)).toEqual(["garbage", '{"half":1}']);
  });

  it("stalls and resumes, or drops what was stalled", async () => {
    const reader = await openEvents();
    engine.stall();
    engine.createContainer({ name: "held" });
    expect((await get("/_ping")).text).toBe("OK");
    expect(reader.lines).toEqual([]);
    engine.resume();
    await reader.waitForLines(1);
    engine.stall();
    engine.remove("held");
    engine.resume({ drop: true });
    engine.createContainer({ name: "after" });
    await reader.waitForLines(2);
    expect(reader.events.map((e) => `${e.Action} ${e.Actor.Attributes.name}`)).toEqual([
      "create held",
      "create after",
    ]);
    expect(engine.bufferedEvents.map((e) => e.Action)).toEqual(["create", "destroy", "create"]);
  });

  it("fails the next matching requests with the given status", async () => {
    engine.failNext("/containers/json", 500, 2);
    expect((await get("/v1.41/containers/json")).status).toBe(500);
    expect((await get("/containers/json")).status).toBe(500);
    expect((await get("/containers/json")).status).toBe(200);
  });

  it("refuses connections and comes back on the same socket path", async () => {
    const path = engine.socketPath;
    await engine.refuseConnections(true);
    await expect(get("/_ping")).rejects.toThrow();
    await engine.refuseConnections(false);
    expect(engine.socketPath).toBe(path);
    expect((await get("/_ping")).text).toBe("OK");
  });

  it("holds /_ping while pingStall is on", async () => {
    engine.pingStall = true;
    let answered = false;
    const ping = get("/_ping").then((r) => {
      answered = true;
      return r;
    });
    expect((await getJson("/version")).status).toBe(200);
    expect(answered).toBe(false);
    engine.pingStall = false;
    expect((await ping).text).toBe("OK");
  });

  it("records requests and reports new /events streams", async () => {
    const waiting = engine.waitForEventStream();
    await openEvents(q({ since: "0" }));
    expect((await waiting).since).toBe("0");
    expect(await engine.waitForEventStream({ count: 1 })).toMatchObject({ since: "0" });
    expect(engine.requests.at(-1)).toMatchObject({ method: "GET", path: "/v1.41/events?since=0" });
  });

  it("replays a capture file verbatim into open streams", async () => {
    const reader = await openEvents();
    const expected = await fixtureLines("events-replay-filter-health-die.raw.jsonl");
    await engine.replayFixture("events-replay-filter-health-die.raw.jsonl", { paceMs: 1 });
    expect(await reader.waitForLines(expected.length)).toEqual(expected);
    expect(engine.bufferedEvents).toHaveLength(0);
  });

  it("close() destroys streams and removes the temp dir", async () => {
    const reader = await openEvents();
    const dir = engine.tempDir;
    await engine.close();
    expect(await reader.closed()).toBe("error");
    expect(dir && existsSync(dir)).toBe(false);
  });
});

describe("fake engine over TCP", () => {
  it("listens on 127.0.0.1 port 0 and comes back on the same port", async () => {
    await agent.destroy();
    await engine.close();
    await startEngine({ tcp: true, fixtureSnapshot: true });
    expect(engine.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(engine.socketPath).toBeUndefined();
    expect(((await getJson("/containers/json?all=1")).body as Json[]).length).toBe(4);
    await engine.refuseConnections(true);
    await expect(get("/_ping")).rejects.toThrow();
    await engine.refuseConnections(false);
    expect((await get("/_ping")).text).toBe("OK");
  });
});

/** Container events in the model's history from index `from` on, as "action" strings. */
function actionsSince(from: number, name?: string): string[] {
  return engine.history
    .slice(from)
    .filter((e) => e.Type === "container" && (!name || e.Actor.Attributes.name === name))
    .map((e) => e.Action);
}

async function inspectState(name: string): Promise<{ status: number; State: Json; body: Json }> {
  const res = await getJson(`/v1.41/containers/${name}/json`);
  const body = res.body as Json;
  return { status: res.status, State: (body.State ?? {}) as Json, body };
}

/** Resolves with the order in which the labelled requests were answered. */
async function answerOrder(requests: Record<string, Promise<unknown>>): Promise<string[]> {
  const order: string[] = [];
  await Promise.all(Object.entries(requests).map(([label, p]) => p.then(() => order.push(label))));
  return order;
}

describe("fake engine: late inspect answers and a slow link", () => {
  it("delays every inspect answer, or one container's, and the late answer shows the request-time state", async () => {
    const webId = engine.run({ name: "web" });
    engine.run({ name: "db" });
    const undo = engine.delayInspect({ ms: 300 });
    const t0 = performance.now();
    expect((await inspectState("db")).State.Status).toBe("running");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    undo();
    engine.delayInspect({ id: webId.slice(0, 12), ms: 300 });
    const late = inspectState("web");
    const order = answerOrder({ web: late, db: inspectState("db"), list: get("/containers/json") });
    await new Promise((r) => setTimeout(r, 50));
    engine.stop("web");
    expect((await order).at(-1)).toBe("web");
    // The daemon read the container before the stop: the late answer still says running.
    expect((await late).State).toMatchObject({ Status: "running", Running: true });
    engine.delayInspect({ name: "web", ms: 0 });
    expect((await inspectState("web")).State).toMatchObject({ Status: "exited", ExitCode: 137 });
  });

  it("setLatency slows ping, version, info, list and inspect, not the open event stream", async () => {
    engine.run({ name: "web" });
    const reader = await openEvents();
    engine.setLatency(200);
    for (const path of [
      "/_ping",
      "/version",
      "/v1.41/info",
      "/containers/json",
      "/containers/web/json",
    ]) {
      const t0 = performance.now();
      expect((await get(path)).status).toBe(200);
      expect(performance.now() - t0, path).toBeGreaterThanOrEqual(190);
    }
    const event = reader.waitForLines(1);
    const ping = get("/_ping");
    engine.stop("web");
    expect(await answerOrder({ event, ping })).toEqual(["event", "ping"]);
    engine.setLatency(0);
    engine.delayEndpoint("/containers/json", 300);
    expect(await answerOrder({ list: get("/containers/json"), ping: get("/_ping") })).toEqual([
      "ping",
      "list",
    ]);
  });

  it("a held inspect, released after the container's destroy, shows the container as it was read", async () => {
    engine.run({ name: "web", healthcheck: true });
    const reader = await openEvents();
    const release = engine.holdInspect("web");
    let answered = false;
    const late = inspectState("web").then((r) => {
      answered = true;
      return r;
    });
    await release.held();
    engine.remove("web");
    await reader.waitForLines(4); // kill, die, network disconnect, destroy: all delivered
    expect(reader.events.at(-1)?.Action).toBe("destroy");
    expect((await inspectState("db-other")).status).toBe(404); // other requests are not held
    expect(answered).toBe(false);
    release();
    const answer = await late;
    expect(answer.status).toBe(200);
    expect(answer.body.Name).toBe("/web");
    expect(answer.State).toMatchObject({ Status: "running", Running: true, ExitCode: 0 });
    expect(release.count).toBe(1);
    expect((await inspectState("web")).status).toBe(404);
  });

  it("a release-time hold answers 404 for a container destroyed meanwhile, the new state otherwise", async () => {
    engine.run({ name: "web" });
    engine.run({ name: "db" });
    const release = engine.holdInspect(undefined, { answer: "release-time" });
    const web = inspectState("web");
    const db = inspectState("db");
    await release.held(2);
    engine.remove("web");
    engine.stop("db");
    release();
    const gone = await web;
    expect([gone.status, gone.body]).toEqual([404, { message: "No such container: web" }]);
    expect((await db).State).toMatchObject({ Status: "exited", Running: false });
    // Released holds no longer catch requests.
    expect((await inspectState("db")).status).toBe(200);
  });
});

describe("fake engine: restart policies (moby restartmanager, daemon/monitor.go)", () => {
  it("on-failure:2 is probe-restarter's captured sequence, and ends exited with RestartCount 2", async () => {
    let seen: unknown[] = [];
    await expectSameAsCapture("events-net-restart-oom.raw.jsonl", "probe-restarter", () => {
      const name = "probe-restarter";
      engine.run({ name, network: "none", restartPolicy: "on-failure:2" });
      for (let i = 0; i < 2; i++) {
        engine.die(name, 1);
        seen.push(engine.container(name)?.restarting);
        engine.completeRestart(name);
      }
      engine.die(name, 1);
      const c = engine.container(name);
      seen = [...seen, c?.restartCount, c?.running, c?.restarting, c?.exitCode];
      engine.remove(name);
    });
    // scenario-net.log: `inspect -f {{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}` = 2 exited 1
    expect(seen).toEqual([true, true, 2, false, false, 1]);
  });

  it("inspect, the list and /info say restarting during the back-off, running after it", async () => {
    engine.run({ name: "web", restartPolicy: "always", healthcheck: true });
    engine.runHealthcheck("web", { exitCode: 0 });
    const mark = engine.history.length;
    engine.die("web", 3);
    const during = await inspectState("web");
    expect(during.State).toMatchObject({
      Status: "restarting",
      Running: true,
      Paused: false,
      Restarting: true,
      Pid: 0,
      ExitCode: 3,
    });
    expect(during.body.RestartCount).toBe(1);
    expect((during.State.Health as Json).Status).toBe("unhealthy");
    expect(during.body.HostConfig).toMatchObject({
      RestartPolicy: { Name: "always", MaximumRetryCount: 0 },
    });
    const list = (await getJson("/containers/json")).body as Json[];
    expect(list.map((c) => [c.State, String(c.Status).replace(/\) .*/, ")")])).toEqual([
      ["restarting", "Restarting (3)"],
    ]);
    expect((await getJson("/info")).body).toMatchObject({
      ContainersRunning: 0,
      ContainersStopped: 1,
    });
    expect(engine.restartBackoff("web")).toBe(100);
    expect(actionsSince(mark)).toEqual(["die"]);
    engine.completeRestart("web");
    expect(actionsSince(mark)).toEqual(["die", "start"]);
    const after = await inspectState("web");
    expect(after.State).toMatchObject({ Status: "running", Restarting: false, ExitCode: 0 });
    expect((after.State.Health as Json).Status).toBe("starting");
    expect(after.body.RestartCount).toBe(1);
    engine.die("web", 3);
    expect([engine.restartBackoff("web"), engine.container("web")?.restartCount]).toEqual([200, 2]);
  });

  it("the back-off doubles up to one minute; on-failure ignores exit 0, always and unless-stopped do not", async () => {
    engine.run({ name: "loop", restartPolicy: "on-failure" });
    const backoffs: Array<number | undefined> = [];
    for (let i = 0; i < 12; i++) {
      engine.die("loop", 1);
      backoffs.push(engine.restartBackoff("loop"));
      engine.completeRestart("loop");
    }
    expect(backoffs).toEqual([
      100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000,
    ]);
    for (const policy of ["on-failure", "always", "unless-stopped"] as const) {
      engine.run({ name: policy, restartPolicy: policy });
      engine.die(policy, 0);
    }
    const states = (await getJson("/containers/json?all=1")).body as Json[];
    expect(Object.fromEntries(states.map((c) => [c.Names, c.State]))).toEqual({
      "/unless-stopped": "restarting",
      "/always": "restarting",
      "/on-failure": "exited",
      "/loop": "running",
    });
  });

  it("stop in the back-off emits only stop; kill and rm -f emit nothing but destroy; start resets RestartCount", async () => {
    engine.run({ name: "web", restartPolicy: "always" });
    engine.die("web", 1);
    let mark = engine.history.length;
    engine.stop("web");
    expect(actionsSince(mark)).toEqual(["stop"]);
    const stopped = await inspectState("web");
    expect(stopped.State).toMatchObject({ Status: "exited", Restarting: false, ExitCode: 1 });
    expect(stopped.body.RestartCount).toBe(1);
    engine.start("web");
    expect((await inspectState("web")).body.RestartCount).toBe(0);
    // A stopped `always` container does not come back by itself: stop cancelled the policy.
    engine.stop("web", { exitCode: 0 });
    expect(engine.container("web")).toMatchObject({ running: false, restarting: false });
    engine.start("web");
    engine.die("web", 1);
    mark = engine.history.length;
    engine.kill("web");
    expect(actionsSince(mark)).toEqual([]);
    expect((await inspectState("web")).State.Status).toBe("exited");
    engine.start("web");
    engine.kill("web", "HUP", { survive: true });
    engine.die("web", 0);
    expect((await inspectState("web")).State.Status).toBe("exited");
    engine.start("web");
    engine.die("web", 1);
    mark = engine.history.length;
    engine.remove("web");
    expect(actionsSince(mark)).toEqual(["destroy"]);
    engine.run({ name: "again", restartPolicy: "unless-stopped" });
    engine.die("again", 1);
    expect(() => engine.pause("again")).toThrow(/restarting/);
    mark = engine.history.length;
    engine.restart("again");
    expect(actionsSince(mark)).toEqual(["stop", "start", "restart"]);
  });
});

describe("fake engine: moby's pause-health rule (daemon/health.go, pause.go, unpause.go)", () => {
  it("probes by moby's rules reproduce probe-healthy's captured sequence, pause and unpause included", async () => {
    await expectSameAsCapture("events-all.raw.jsonl", "probe-healthy", () => {
      const name = "probe-healthy";
      const labels = { app: "probe", role: "healthy" };
      engine.run({ name, network: "none", labels, healthcheck: true });
      for (let i = 0; i < 4; i++) engine.runHealthcheck(name, { exitCode: 0 });
      engine.pause(name);
      engine.unpause(name);
      for (let i = 0; i < 2; i++) engine.runHealthcheck(name, { exitCode: 0 });
      engine.remove(name);
    });
  });

  it("pause turns health unhealthy without an event; unpause keeps it; a later change emits", async () => {
    engine.run({ name: "web", healthcheck: true });
    expect(engine.runHealthcheck("web", { exitCode: 0 })).toBe("healthy");
    let mark = engine.history.length;
    engine.pause("web");
    expect(actionsSince(mark)).toEqual(["pause"]);
    const paused = await inspectState("web");
    expect(paused.State).toMatchObject({ Status: "paused", Paused: true });
    expect(paused.State.Health).toMatchObject({ Status: "unhealthy", FailingStreak: 0 });
    const list = (await getJson("/containers/json")).body as Json[];
    expect(list[0]?.Status).toMatch(/^Up .* \(Paused\)$/);
    expect(() => engine.runHealthcheck("web")).toThrow(/no health monitor/);
    engine.unpause("web");
    expect(actionsSince(mark)).toEqual(["pause", "unpause"]);
    expect(((await inspectState("web")).State.Health as Json).Status).toBe("unhealthy");
    mark = engine.history.length;
    engine.runHealthcheck("web", { exitCode: 0 });
    expect(actionsSince(mark)).toEqual([
      "exec_create: /bin/sh -c true",
      "exec_start: /bin/sh -c true",
      "exec_die",
      "health_status: healthy",
    ]);
  });

  it("a failing container stays unhealthy through pause and unpause, and failing probes emit nothing", async () => {
    const healthcheck = { Test: ["CMD-SHELL", "false"], Interval: 1e9, Retries: 2 };
    engine.run({ name: "web", healthcheck });
    const mark = engine.history.length;
    engine.runHealthcheck("web", { exitCode: 1 });
    engine.runHealthcheck("web", { exitCode: 1 });
    expect(actionsSince(mark).filter((a) => a.startsWith("health_status"))).toEqual([
      "health_status: unhealthy",
    ]);
    engine.pause("web");
    engine.unpause("web");
    const after = engine.history.length;
    engine.runHealthcheck("web", { exitCode: 1 });
    expect(actionsSince(after)).not.toContain("health_status: unhealthy");
    const health = (await inspectState("web")).State.Health as Json;
    expect(health).toMatchObject({ Status: "unhealthy", FailingStreak: 3 });
    expect((health.Log as Json[]).map((l) => l.ExitCode)).toEqual([1, 1, 1]);
  });

  it("a container paused during its start period loses it: the next failure counts", async () => {
    const healthcheck = { Test: ["CMD-SHELL", "false"], Retries: 1, StartPeriod: 60e9 };
    engine.run({ name: "web", healthcheck });
    expect(engine.runHealthcheck("web", { exitCode: 1 })).toBe("starting");
    expect(engine.container("web")?.health?.failingStreak).toBe(0);
    engine.pause("web");
    engine.unpause("web");
    const mark = engine.history.length;
    expect(engine.runHealthcheck("web", { exitCode: 1 })).toBe("unhealthy");
    expect(engine.container("web")?.health?.failingStreak).toBe(1);
    expect(actionsSince(mark)).toHaveLength(3); // the probe's exec triple only
  });
});
