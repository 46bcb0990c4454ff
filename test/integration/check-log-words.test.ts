// One wording per failure: what --check prints about an engine or a broker is, word for word, the
// `problem` the running bridge logs for the same configuration.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runCheck } from "../../src/cli/check.js";
import { FakeEngine } from "../helpers/fake-engine.js";
import {
  freePort,
  startHookedBroker,
  startServiceInBackground,
} from "../helpers/resilience-kit.js";

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of cleanups.reverse()) await close();
  cleanups = [];
});

/** The text of --check's failed line about `what` ("engine", "broker"). */
async function checkSays(env: Record<string, string>, what: string): Promise<string> {
  let out = "";
  await runCheck([], env, { out: (text) => (out += text) }, { timeoutMs: 3000 });
  const prefix = `  FAIL  ${what} `;
  const line = out.split("\n").find((l) => l.startsWith(prefix));
  if (!line) throw new Error(`no failed ${what} line in:\n${out}`);
  return line.slice(prefix.length).trim();
}

/** The `problem` of the run's first warning or error, for the same environment. */
async function runSays(env: Record<string, string>): Promise<string> {
  const { logs, stop } = startServiceInBackground(env);
  cleanups.push(stop);
  const told = () => logs.lines.find((l) => l.level >= 40 && typeof l.problem === "string");
  await logs.waitFor("a warning with a problem", () => told() !== undefined, 8000);
  return String(told()?.problem);
}

async function broker(options?: Parameters<typeof startHookedBroker>[1]): Promise<string> {
  const b = await startHookedBroker(0, options);
  cleanups.push(() => b.close());
  return b.url;
}

async function engine(): Promise<FakeEngine> {
  const e = await FakeEngine.start();
  cleanups.push(() => e.close());
  return e;
}

describe("--check and the run's log say the same", () => {
  it("about a missing socket", async () => {
    const dir = await mkdtemp(join(tmpdir(), "dmb-words-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const env = { DOCKER_HOST: `unix://${join(dir, "docker.sock")}`, MQTT_URL: await broker() };
    const logged = await runSays(env);
    expect(logged).toMatch(/^no socket at /);
    expect(await checkSays(env, "engine")).toBe(logged);
  });

  it("about an engine over TCP that refuses, naming it as the log does", async () => {
    const env = {
      DOCKER_HOST: `tcp://127.0.0.1:${await freePort()}`,
      DOCKER_HOST_ID: "nas",
      MQTT_URL: await broker(),
    };
    const logged = await runSays(env);
    expect(logged).toMatch(/^connection refused at /);
    expect(await checkSays(env, "engine")).toBe(`nas: ${logged}`);
  });

  it("about an engine of `engines` whose host does not resolve, naming the setting to fix", async () => {
    const env = {
      DOCKER_ENGINES: JSON.stringify([{ id: "far", host: "tcp://nowhere.invalid:2375" }]),
      MQTT_URL: await broker(),
    };
    const logged = await runSays(env);
    expect(logged).toBe(
      "cannot resolve the host of http://nowhere.invalid:2375: check the host of engine far",
    );
    expect(await checkSays(env, "engine")).toBe(`far: ${logged}`);
  });

  it("about a broker that refuses the password", async () => {
    const e = await engine();
    const env = {
      DOCKER_HOST: e.dockerHost,
      DOCKER_HOST_ID: "nas",
      MQTT_URL: await broker({ authenticate: (_c, _u, _p, done) => done(null, false) }),
      MQTT_USERNAME: "bridge",
      MQTT_PASSWORD: "wrong",
    };
    const logged = await runSays(env);
    expect(logged).toMatch(/refused the connection .*: check MQTT_USERNAME and MQTT_PASSWORD/);
    expect(await checkSays(env, "broker")).toBe(logged);
  });
});
