// What a newcomer reads in the log on the most common first-run failures: the cause and the fix
// once, in the words --check uses, then quiet (debug) until something changes; "started" first.
import { mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { diagnoseEngine } from "../../src/docker/diagnose.js";
import { DockerError } from "../../src/errors.js";
import { FakeEngine } from "../helpers/fake-engine.js";
import {
  freePort,
  type LogCapture,
  type LogLine,
  startHookedBroker,
  startServiceInBackground,
  waitUntil,
} from "../helpers/resilience-kit.js";

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of cleanups.reverse()) await close();
  cleanups = [];
});

/** Starts the service in-process; returns at once, whether or not the engine ever answers. */
function start(env: Record<string, string>) {
  const started = startServiceInBackground(env);
  cleanups.push(started.stop);
  return started;
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "dmb-first-run-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function broker() {
  const b = await startHookedBroker();
  cleanups.push(() => b.close());
  return b;
}

const atLeastWarn = (logs: LogCapture) => logs.lines.filter((l) => l.level >= 40);
const brief = (l: LogLine) => ({ level: l.level, msg: l.msg, problem: l.problem });

describe("no socket at the configured path", () => {
  it("starts, says so once with --check's words, stays quiet, and tells when the engine answers", async () => {
    const dir = await tempDir();
    const socket = join(dir, "docker.sock");
    const mqtt = await broker();
    const { logs, service } = start({ DOCKER_HOST: `unix://${socket}`, MQTT_URL: mqtt.url });
    await logs.waitFor("three failed attempts", () => logs.find(/engine/).length >= 3, 5000);

    expect(logs.lines[0]?.msg).toBe("docker-mqtt-bridge started");
    const problem = `no socket at ${socket}: is the Docker Engine running, and is the socket mounted here (-v /var/run/docker.sock:/var/run/docker.sock:ro)?`;
    expect(atLeastWarn(logs).map(brief)).toEqual([
      { level: 40, msg: "engine not reachable; retrying", problem },
    ]);
    expect(logs.text()).not.toContain("host.id");

    // The engine comes up at that path: one line says so, and it is followed.
    const engine = await FakeEngine.start();
    cleanups.push(() => engine.close());
    engine.run({ name: "web" });
    await symlink(engine.socketPath ?? "", socket);
    await logs.waitFor("engine followed", () => logs.find(/following engine events/).length === 1);
    expect(logs.find(/engine answered/).map((l) => l.host)).toEqual(["vm"]);
    expect(service()?.bridge.containers.size).toBe(1);
    expect(atLeastWarn(logs)).toHaveLength(1);
  });

  it("with host.id set, says 'not reachable' (never 'lost') once, however often it retries", async () => {
    const dir = await tempDir();
    const socket = join(dir, "docker.sock");
    const mqtt = await broker();
    const { logs } = start({
      DOCKER_HOST: `unix://${socket}`,
      DOCKER_HOST_ID: "nas",
      MQTT_URL: mqtt.url,
    });
    await logs.waitFor("four failed attempts", () => logs.find(/engine/).length >= 4, 5000);
    expect(logs.lines[0]?.msg).toBe("docker-mqtt-bridge started");
    expect(atLeastWarn(logs).map(brief)).toEqual([
      {
        level: 40,
        msg: "engine not reachable; retrying",
        problem: expect.stringMatching(/^no socket at /),
      },
    ]);
  });
});

describe("an engine that was followed goes away", () => {
  it("says 'lost' once, the new cause once, then nothing until it is followed again", async () => {
    const engine = await FakeEngine.start();
    cleanups.push(() => engine.close());
    engine.run({ name: "web" });
    const mqtt = await broker();
    const { logs } = start({
      DOCKER_HOST: engine.dockerHost,
      DOCKER_HOST_ID: "nas",
      MQTT_URL: mqtt.url,
    });
    await logs.waitFor("followed", () => logs.find(/following engine events/).length === 1);
    await engine.refuseConnections(true);
    await engine.cutStreams();
    await logs.waitFor("five retries", () => logs.find(/still not reachable/).length >= 5, 8000);
    expect(atLeastWarn(logs).map((l) => l.msg)).toEqual([
      "engine lost; reconnecting",
      "engine not reachable; retrying",
    ]);
    await engine.refuseConnections(false);
    await logs.waitFor("followed again", () => logs.find(/following engine events/).length === 2);
    expect(atLeastWarn(logs)).toHaveLength(2);
  });
});

describe("an engine that answers but fails the snapshot", () => {
  it("is 'not reachable' once with the cause, not 'lost' at every retry", async () => {
    const engine = await FakeEngine.start();
    cleanups.push(() => engine.close());
    engine.run({ name: "web" });
    engine.failNext("/containers/json", 500, 3);
    const mqtt = await broker();
    const { logs } = start({
      DOCKER_HOST: engine.dockerHost,
      DOCKER_HOST_ID: "nas",
      MQTT_URL: mqtt.url,
    });
    await logs.waitFor("followed", () => logs.find(/following engine events/).length === 1);
    expect(atLeastWarn(logs).map((l) => ({ msg: l.msg, problem: l.problem }))).toEqual([
      { msg: "engine not reachable; retrying", problem: expect.stringMatching(/500/) },
    ]);
  });
});

describe("the broker refuses", () => {
  it("a wrong password: one line with the cause and the fix, no subscribe noise", async () => {
    const engine = await FakeEngine.start();
    cleanups.push(() => engine.close());
    const mqtt = await startHookedBroker(0, {
      authenticate: (_client, _user, _password, done) => done(null, false),
    });
    cleanups.push(() => mqtt.close());
    const { logs } = start({
      DOCKER_HOST: engine.dockerHost,
      DOCKER_HOST_ID: "nas",
      MQTT_URL: mqtt.url,
      MQTT_USERNAME: "bridge",
      MQTT_PASSWORD: "wrong",
    });
    await waitUntil("three attempts", () => mqtt.connects >= 3, 8000);
    await logs.waitFor("engine followed", () => logs.find(/following engine events/).length > 0);
    expect(atLeastWarn(logs).map(brief)).toEqual([
      {
        level: 50,
        msg: "MQTT connection failed",
        problem: expect.stringMatching(
          /^mqtt:\/\/127\.0\.0\.1:\d+ refused the connection \(.*\): check MQTT_USERNAME and MQTT_PASSWORD/,
        ),
      },
    ]);
  });

  it("a closed port: one line with the cause and the fix", async () => {
    const engine = await FakeEngine.start();
    cleanups.push(() => engine.close());
    const port = await freePort();
    const { logs } = start({
      DOCKER_HOST: engine.dockerHost,
      DOCKER_HOST_ID: "nas",
      MQTT_URL: `mqtt://127.0.0.1:${port}`,
    });
    await logs.waitFor("three attempts", () => logs.find(/MQTT connection/).length >= 3, 8000);
    expect(atLeastWarn(logs).map(brief)).toEqual([
      {
        level: 50,
        msg: "MQTT connection failed",
        problem: `connection refused at mqtt://127.0.0.1:${port}: is the broker running and reachable from here?`,
      },
    ]);
  });
});

describe("permission denied on the socket", () => {
  // Root ignores file modes, so the real EACCES is produced by a process running as another user
  // (first-run-process.test.ts); here the mapping from the error the client raises.
  it("is explained with --check's words", () => {
    const cause = Object.assign(new Error("connect EACCES /run/docker.sock"), { code: "EACCES" });
    const err = new DockerError("DOCKER_UNREACHABLE", "cannot reach the engine", { cause });
    expect(diagnoseEngine(err, "unix:///run/docker.sock").text).toBe(
      "permission denied on /run/docker.sock: run with the socket's group (group_add: the GID from `stat -c %g /run/docker.sock`) or go through a read-only socket proxy",
    );
  });
});
