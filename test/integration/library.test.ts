// The events client as a library user meets it: the captured engine traffic arrives typed, bad
// lines are reported and skipped, subscriptions and iterators start and stop when told, the
// connection status and reconcile hook tell the truth about cuts and gaps, and close() leaves
// nothing running in a process that never loads MQTT.
import { spawn } from "node:child_process";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  type BridgeError,
  type ConnectionStatus,
  type DockerEvent,
  DockerEvents,
  type DockerEventsOptions,
  EVENT_ACTIONS,
} from "../../src/lib/index.js";
import { FakeEngine } from "../helpers/fake-engine.js";
import { readFixtureText } from "../helpers/fake-engine-fixtures.js";
import { buildPackage } from "../helpers/process.js";

interface Session {
  engine: FakeEngine;
  docker: DockerEvents;
  /** Every event delivered, in order. */
  events: DockerEvent[];
  errors: BridgeError[];
  statuses: ConnectionStatus[];
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A fake engine and a connected client recording what a user's handlers would see. */
async function start(options: DockerEventsOptions = {}): Promise<Session> {
  const engine = await FakeEngine.start();
  cleanups.push(() => engine.close());
  const docker = new DockerEvents({
    host: engine.dockerHost,
    reconnect: { baseMs: 20, maxMs: 100 },
    ...options,
  });
  // A second close() is tested on its own below; here it must not mask the test's own outcome.
  cleanups.push(() => docker.close().catch(() => undefined));
  const session: Session = { engine, docker, events: [], errors: [], statuses: [] };
  docker.on((event) => session.events.push(event));
  docker.onError((error) => session.errors.push(error));
  docker.onStatus((status) => session.statuses.push(status));
  await docker.connect();
  // Events reach only streams already open on the engine's side.
  await engine.waitForEventStream({ count: 1 });
  return session;
}

/** A daemon event no other step emits; once it arrives, everything emitted before it has too. */
async function sentinel(s: Session, id: string): Promise<void> {
  s.engine.emitEvent({ Type: "daemon", Action: "reload", Actor: { ID: id } });
  await vi.waitFor(() => expect(s.events.some((e) => e.actorId === id)).toBe(true));
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

/** Rejects if the promise has not settled in time, so a hang fails the test with a message. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface RawLine {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes?: Record<string, string> };
}

describe("the captured engine traffic, typed", () => {
  const expectedCounts: [string, Record<string, number>][] = [
    ["events-all.raw.jsonl", { container: 78, network: 14, volume: 9, image: 8 }],
    ["events-net-restart-oom.raw.jsonl", { container: 28, network: 19, image: 3 }],
  ];

  it.each(expectedCounts)("delivers every event of %s in its typed form", async (file, counts) => {
    const s = await start();
    const lines = (await readFixtureText(file)).split("\n").filter((l) => l.length > 0);
    await s.engine.replayFixture(file);
    await vi.waitFor(() => expect(s.events).toHaveLength(lines.length));
    expect(s.errors).toEqual([]);

    for (const [i, line] of lines.entries()) {
      const raw = JSON.parse(line) as RawLine;
      // The exact digits: JSON.parse itself would round a timeNano past 2^53.
      const digits = /"timeNano":(\d+)/.exec(line)?.[1] ?? "";
      const at = raw.Action.indexOf(": ");
      const action = at === -1 ? raw.Action : raw.Action.slice(0, at);
      const attributes = raw.Actor.Attributes ?? {};
      const event = s.events[i];
      expect(event, line).toEqual({
        type: raw.Type,
        action,
        rawType: raw.Type,
        rawAction: action,
        detail: at === -1 ? "" : raw.Action.slice(at + 2),
        actorId: raw.Actor.ID,
        name: (attributes.name ?? "").replace(/^\//, ""),
        attributes,
        time: new Date(Number(BigInt(digits) / 1_000_000n)),
        timeNano: BigInt(digits),
      });
      expect(event?.timeNano.toString()).toBe(digits);
      // Every action of the captures is one the library knows, so none may come out "unknown".
      const known: readonly string[] = EVENT_ACTIONS[raw.Type as keyof typeof EVENT_ACTIONS];
      expect(known).toContain(event?.action);
    }

    expect(countBy(s.events, (e) => e.type)).toEqual(counts);
    expect(countBy(s.events, (e) => e.type)).toEqual(
      countBy(lines, (l) => (JSON.parse(l) as RawLine).Type),
    );
    const health = s.events.filter((e) => e.type === "container" && e.action === "health_status");
    if (file === "events-all.raw.jsonl") {
      expect(health.map((e) => e.detail)).toEqual(["healthy", "unhealthy", "healthy"]);
      expect(health[0]).toMatchObject({ rawAction: "health_status", name: "probe-healthy" });
      const exec = s.events.find((e) => e.action === "exec_create" && e.detail.includes("true"));
      expect(exec?.detail).toBe("/bin/sh -c true");
    } else {
      expect(s.events.filter((e) => e.action === "oom").map((e) => e.type)).toEqual(["container"]);
    }
  });
});

describe("input that is not a known event", () => {
  it("skips invalid lines with EVENT_INVALID, keeps unknown types and actions, and keeps following", async () => {
    const s = await start();
    // Written as text: a JS number would round timeNano before it reached the wire.
    const times = `"scope":"local","time":1700000000,"timeNano":1700000000123456789`;
    s.engine.emitRaw("{not json at all\n");
    s.engine.emitRaw(`{"Action":"start","Actor":{"ID":"no-type"},${times}}\n`);
    s.engine.emitRaw(
      `{"Type":"quantum","Action":"entangle: spooky","Actor":{"ID":"q1"},${times}}\n`,
    );
    s.engine.emitRaw(
      `{"Type":"container","Action":"teleport: to mars","Actor":{"ID":"c1","Attributes":{"name":"rover"}},${times}}\n`,
    );
    s.engine.run({ name: "after" });
    await vi.waitFor(() =>
      expect(s.events.some((e) => e.name === "after" && e.action === "start")).toBe(true),
    );

    expect(s.errors.map((e) => e.code)).toEqual(["EVENT_INVALID", "EVENT_INVALID"]);
    expect(s.errors[0]?.message).toMatch(/not-json/);
    expect(s.errors[1]?.message).toMatch(/Type/);
    expect(s.docker.stats.eventsInvalid).toBe(2);
    expect(s.docker.connected).toBe(true);

    const time = new Date(1_700_000_000_123);
    expect(s.events[0]).toEqual({
      type: "unknown",
      action: "unknown",
      rawType: "quantum",
      rawAction: "entangle",
      detail: "spooky",
      actorId: "q1",
      name: "",
      attributes: {},
      time,
      timeNano: 1_700_000_000_123_456_789n,
    });
    expect(s.events[1]).toEqual({
      type: "container",
      action: "unknown",
      rawType: "container",
      rawAction: "teleport",
      detail: "to mars",
      actorId: "c1",
      name: "rover",
      attributes: { name: "rover" },
      time,
      timeNano: 1_700_000_000_123_456_789n,
    });
    // The skipped lines became no event; the valid ones after them all arrived, in order.
    expect(s.events.slice(2).map((e) => `${e.type} ${e.action}`)).toEqual([
      "container create",
      "network connect",
      "container start",
    ]);
  });
});

describe("subscriptions", () => {
  it("on(type, fn, action) gets only matching events, until it unsubscribes; subscribe(predicate) and latest(type) too", async () => {
    const s = await start();
    // Names that are not hex: the fake engine also finds containers by id prefix.
    const dies: string[] = [];
    const health: string[] = [];
    const networks: string[] = [];
    const aboutB: string[] = [];
    const stopDies = s.docker.on(
      "container",
      (e) => dies.push(`${e.name} ${e.attributes.exitCode}`),
      "die",
    );
    // The action matches the engine's action without its detail.
    s.docker.on("container", (e) => health.push(`${e.name} ${e.detail}`), "health_status");
    const stopNetworks = s.docker.on("network", (e) => networks.push(e.action));
    s.docker.subscribe(
      (e) => e.name === "qb",
      (e) => aboutB.push(e.action),
    );
    expect(s.docker.latest("container")).toBeUndefined();

    s.engine.run({ name: "qa" });
    s.engine.run({ name: "qb", healthcheck: true });
    s.engine.setHealth("qb", "healthy", { probe: true });
    s.engine.die("qa", 3);
    await sentinel(s, "sentinel-1");
    expect(dies).toEqual(["qa 3"]);
    expect(health).toEqual(["qb healthy"]);
    expect(networks).toEqual(["connect", "connect", "disconnect"]);
    expect(aboutB).toEqual([
      "create",
      "start",
      "exec_create",
      "exec_start",
      "exec_die",
      "health_status",
    ]);
    expect(s.docker.latest("container")).toMatchObject({ name: "qa", action: "die" });
    expect(s.docker.latest("network")).toMatchObject({ action: "disconnect" });
    expect(s.docker.latest("daemon")).toMatchObject({ actorId: "sentinel-1", action: "reload" });
    expect(s.docker.latest("volume")).toBeUndefined();

    stopDies();
    stopNetworks();
    s.engine.die("qb", 1);
    await sentinel(s, "sentinel-2");
    expect(dies).toEqual(["qa 3"]);
    expect(networks).toEqual(["connect", "connect", "disconnect"]);
    expect(aboutB.slice(-1)).toEqual(["die"]);
    expect(s.docker.latest("container")).toMatchObject({ name: "qb", action: "die" });
    expect(s.docker.latest("network")).toMatchObject({ action: "disconnect" });
    expect(s.docker.latest("daemon")).toMatchObject({ actorId: "sentinel-2" });
  });

  it("iterates with for await, and a break ends the iterator", async () => {
    const s = await start();
    const seen: string[] = [];
    const loop = (async () => {
      for await (const e of s.docker) {
        seen.push(`${e.type} ${e.action} ${e.name}`);
        if (e.type === "daemon") break;
      }
    })();
    const containers = s.docker.events((e) => e.type === "container");
    s.engine.run({ name: "one" });
    s.engine.emitEvent({ Type: "daemon", Action: "reload", Actor: { ID: "stop-here" } });
    s.engine.run({ name: "two" });
    await within(5_000, "the for-await loop", loop);
    expect(seen).toEqual([
      "container create one",
      "network connect bridge",
      "container start one",
      "daemon reload ",
    ]);

    // Four container events wait in the second iterator's queue before it is first read.
    await sentinel(s, "all-queued");
    const first: string[] = [];
    for await (const e of containers) {
      first.push(`${e.action} ${e.name}`);
      break;
    }
    expect(first).toEqual(["create one"]);
    // Ended means ended: nothing more comes out, although three more events were waiting.
    await expect(within(1_000, "next() after break", containers.next())).resolves.toEqual({
      done: true,
      value: undefined,
    });
  });

  it("a consumer that falls too far behind loses the oldest events, and hears EVENTS_DROPPED once", async () => {
    const s = await start();
    const errors: string[] = [];
    s.docker.onError((e) => errors.push(e.code));
    const slow = s.docker.events((e) => e.type === "container", { maxQueued: 3 });
    for (const name of ["qa", "qb", "qc"]) s.engine.createContainer({ name });
    await sentinel(s, "queued");
    // Three queued, then two more: the two oldest go.
    s.engine.createContainer({ name: "qd" });
    s.engine.createContainer({ name: "qe" });
    await sentinel(s, "overflowed");
    const got: string[] = [];
    for (let i = 0; i < 3; i++) {
      const next = await within(1_000, "next()", slow.next());
      if (!next.done) got.push(`${next.value.action} ${next.value.name}`);
    }
    expect(got).toEqual(["create qc", "create qd", "create qe"]);
    expect(errors).toEqual(["EVENTS_DROPPED"]);
    // Caught up: the next overflow is reported again, once however far behind it falls.
    for (const name of ["qf", "qg", "qh", "qi", "qj", "qk"]) s.engine.createContainer({ name });
    await sentinel(s, "overflowed-again");
    const next = await within(1_000, "next()", slow.next());
    expect(next.done ? undefined : next.value.name).toBe("qi");
    s.engine.createContainer({ name: "ql" });
    s.engine.createContainer({ name: "qm" });
    await sentinel(s, "still-behind");
    expect(errors).toEqual(["EVENTS_DROPPED", "EVENTS_DROPPED"]);
    await slow.return?.();
  });

  it("close() ends an open iterator", async () => {
    const s = await start();
    const got: string[] = [];
    const loop = (async () => {
      for await (const e of s.docker.events((e) => e.type === "container"))
        got.push(`${e.action} ${e.name}`);
      return "ended";
    })();
    s.engine.run({ name: "x" });
    await vi.waitFor(() => expect(got).toEqual(["create x", "start x"]));
    await s.docker.close();
    await expect(within(2_000, "the loop after close()", loop)).resolves.toBe("ended");
  });

  it("after close(), connected is false", async () => {
    const s = await start();
    expect(s.docker.connected).toBe(true);
    await s.docker.close();
    expect(s.docker.connected).toBe(false);
  });

  it("a second close() is harmless (a SIGTERM handler and a finally block may both call it)", async () => {
    const s = await start();
    await s.docker.close();
    await expect(s.docker.close()).resolves.toBeUndefined();
  });
});

describe("connection status and reconcile", () => {
  it("reports connected, then reconnecting and connected (resumed) after a cut; a short cut is no gap", async () => {
    const s = await start({ model: true });
    expect(s.statuses).toEqual([{ state: "connected", resumed: false, possibleGap: false }]);
    const reconciles: { possibleGap: boolean }[] = [];
    s.docker.onReconcile((info) => reconciles.push(info));
    s.engine.run({ name: "web" });
    await vi.waitFor(() => expect(s.docker.containers.get("web")?.running).toBe(true));

    await s.engine.cutStreams();
    s.engine.stop("web"); // while the client is away: the engine replays it on resume
    await vi.waitFor(() => expect(reconciles).toHaveLength(1));
    expect(reconciles).toEqual([{ possibleGap: false }]);
    expect(s.statuses.slice(1)).toEqual([
      { state: "disconnected", reason: expect.any(String) },
      {
        state: "reconnecting",
        attempt: 1,
        delayMs: expect.any(Number),
        reason: expect.any(String),
      },
      { state: "connected", resumed: true, possibleGap: false },
    ]);
    const reconnecting = s.statuses[2];
    if (reconnecting?.state !== "reconnecting") throw new Error("no reconnecting status");
    // Base 20 ms with jitter: between half and all of it.
    expect(reconnecting.delayMs).toBeGreaterThanOrEqual(10);
    expect(reconnecting.delayMs).toBeLessThanOrEqual(20);
    expect(s.docker.connected).toBe(true);

    await vi.waitFor(() =>
      expect(s.docker.containers.get("web")).toMatchObject({
        status: "exited",
        running: false,
        exit_code: 137,
      }),
    );
    const web = s.events.filter((e) => e.name === "web" && e.type === "container");
    // Resumed from the last event seen: every event once, none lost, none repeated.
    expect(web.map((e) => e.action)).toEqual(["create", "start", "kill", "kill", "die", "stop"]);
  });

  it("a cut before any event was seen still resumes: the events emitted meanwhile arrive, and onReconcile is called", async () => {
    const s = await start({ model: true });
    const reconciles: { possibleGap: boolean }[] = [];
    s.docker.onReconcile((info) => reconciles.push(info));
    await s.engine.cutStreams();
    s.engine.run({ name: "away" }); // the engine still buffers these for a `since` replay
    await vi.waitFor(() => expect(s.engine.openEventStreams).toBe(1));
    await sentinel(s, "after-cut");
    expect(s.docker.containers.get("away")?.running).toBe(true);
    expect(s.events.map((e) => `${e.type} ${e.action} ${e.name}`)).toEqual([
      "container create away",
      "network connect bridge",
      "container start away",
      "daemon reload ",
    ]);
    expect(reconciles).toEqual([{ possibleGap: false }]);
  });

  it("reports a possible gap after more than 256 events were lost, and the live model still holds the truth", async () => {
    const s = await start({ model: true });
    const reconciles: { possibleGap: boolean }[] = [];
    s.docker.onReconcile((info) => reconciles.push(info));
    s.engine.run({ name: "steady" });
    s.engine.run({ name: "doomed", healthcheck: true });
    s.engine.setHealth("doomed", "healthy");
    await vi.waitFor(() => expect(s.docker.containers.get("doomed")?.health).toBe("healthy"));
    expect([...s.docker.containers.keys()].sort()).toEqual(["doomed", "steady"]);

    s.engine.stall();
    s.engine.stop("steady", { exitCode: 0 });
    s.engine.remove("doomed");
    s.engine.run({ name: "born" });
    for (let i = 0; i < 300; i++) {
      s.engine.emitEvent({
        Type: "image",
        Action: "tag",
        Actor: { ID: `sha256:${i}`, Attributes: { name: `filler:${i}` } },
      });
    }
    await s.engine.cutStreams();
    s.engine.resume({ drop: true });

    await vi.waitFor(() => expect(reconciles).toHaveLength(1));
    expect(reconciles).toEqual([{ possibleGap: true }]);
    expect(s.statuses.at(-1)).toEqual({ state: "connected", resumed: true, possibleGap: true });
    // The engine could replay only its last 256 events: the container events are not among them.
    const fillers = s.events.filter((e) => e.type === "image").map((e) => e.name);
    expect(fillers).toEqual(Array.from({ length: 256 }, (_, i) => `filler:${i + 44}`));
    expect(s.events.filter((e) => e.name === "born")).toEqual([]);

    // The fresh snapshot reconciled the model anyway.
    expect([...s.docker.containers.keys()].sort()).toEqual(["born", "steady"]);
    expect(s.docker.containers.get("steady")).toMatchObject({
      status: "exited",
      running: false,
      exit_code: 0,
    });
    expect(s.docker.containers.get("born")).toMatchObject({ status: "running", running: true });

    const snapshot = await s.docker.snapshot();
    expect(snapshot.map((r) => `${r.name} ${r.status}`).sort()).toEqual([
      "born running",
      "steady exited",
    ]);
    expect(new Map(snapshot.map((r) => [r.name, r]))).toEqual(new Map(s.docker.containers));
  });
});

describe("close()", () => {
  let dir = "";

  beforeAll(async () => {
    // A private build, installed as a package would be: the self-reference "docker-mqtt-bridge"
    // resolves through its package.json's exports.
    const built = await buildPackage("dmb-library-");
    dir = built.dir;
    const { build } = built;
    expect(build.code, build.stdout + build.stderr).toBe(0);
    // Records every module the child resolves: ESM through the loader hooks, CommonJS (required
    // by a dependency) from the require cache when the process exits.
    await writeFile(
      join(dir, "record-hooks.mjs"),
      [
        'import { appendFileSync } from "node:fs";',
        "let log;",
        "export function initialize(data) { log = data.log; }",
        "export async function resolve(specifier, context, next) {",
        "  const result = await next(specifier, context);",
        "  appendFileSync(log, result.url + '\\n');",
        "  return result;",
        "}",
      ].join("\n"),
    );
    await writeFile(
      join(dir, "record.mjs"),
      [
        'import { appendFileSync } from "node:fs";',
        'import { createRequire, register } from "node:module";',
        "const log = process.env.RESOLVED_LOG;",
        'register("./record-hooks.mjs", import.meta.url, { data: { log } });',
        "const require = createRequire(import.meta.url);",
        'process.on("exit", () => appendFileSync(log, Object.keys(require.cache).join("\\n")));',
      ].join("\n"),
    );
    // A user's program: no process.exit, so only what close() leaves open can keep it alive.
    await writeFile(
      join(dir, "follow.mjs"),
      [
        'import { DockerEvents } from "docker-mqtt-bridge";',
        "const docker = new DockerEvents();",
        'docker.on("container", (event) => {',
        "  console.log('event', event.action, event.name);",
        '  docker.close().then(() => console.log("closed"), (err) => console.error(err));',
        '}, "start");',
        "await docker.connect();",
        'console.log("connected");',
      ].join("\n"),
    );
    await writeFile(join(dir, "control.mjs"), 'import "mqtt";\n');
  }, 60_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("leaves no timer or socket open: the process exits by itself, and never loaded MQTT", async () => {
    const engine = await FakeEngine.start();
    cleanups.push(() => engine.close());
    const log = join(dir, "resolved-follow.log");
    const child = startChild(["--import", "./record.mjs", "follow.mjs"], {
      DOCKER_HOST: engine.dockerHost,
      RESOLVED_LOG: log,
    });
    cleanups.push(async () => child.kill());
    await within(10_000, "the child connecting", child.line("connected"));
    await engine.waitForEventStream({ count: 1 });
    engine.run({ name: "ping" });
    await within(5_000, "the event in the child", child.line("event start ping"));
    await within(5_000, "close() in the child", child.line("closed"));
    const closedAt = Date.now();
    const exit = await within(3_000, "the child exiting after close()", child.exited);
    expect(exit, child.stderr()).toEqual({ code: 0, signal: null });
    expect(Date.now() - closedAt).toBeLessThan(3_000);
    expect(child.stderr()).toBe("");
    expect(engine.openEventStreams).toBe(0);

    const loaded = (await readFile(log, "utf8")).split("\n");
    // The recorder saw the library and its dependencies, so an MQTT load could not hide.
    expect(loaded.some((u) => u.endsWith("/dist/lib/index.js"))).toBe(true);
    expect(loaded.some((u) => u.includes("/node_modules/undici/"))).toBe(true);
    expect(loaded.filter((u) => u.includes("/node_modules/mqtt/"))).toEqual([]);
  });

  it("the recorder does see MQTT when a program loads it (the check above can fail)", async () => {
    const log = join(dir, "resolved-control.log");
    const child = startChild(["--import", "./record.mjs", "control.mjs"], { RESOLVED_LOG: log });
    cleanups.push(async () => child.kill());
    expect(await within(10_000, "the control child", child.exited)).toEqual({
      code: 0,
      signal: null,
    });
    const loaded = (await readFile(log, "utf8")).split("\n");
    expect(loaded.some((u) => u.includes("/node_modules/mqtt/"))).toBe(true);
  });

  function startChild(args: string[], env: Record<string, string>) {
    const child = spawn(process.execPath, args, {
      cwd: dir,
      env: { PATH: process.env.PATH ?? "", ...env },
    });
    let stdout = "";
    let stderr = "";
    const waiters: { text: string; resolve: () => void }[] = [];
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      const lines = stdout.split("\n");
      for (const w of [...waiters]) {
        if (!lines.includes(w.text)) continue;
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on("exit", (code, signal) => resolve({ code, signal })),
    );
    return {
      exited,
      stderr: () => stderr,
      /** Resolves once the child has printed this exact line. */
      line: (text: string) =>
        new Promise<void>((resolve) => {
          if (stdout.split("\n").includes(text)) resolve();
          else waiters.push({ text, resolve });
        }),
      kill: () => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      },
    };
  }
});
