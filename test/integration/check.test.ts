// --check on what the run would use beyond one engine and one broker: every engine of `engines`,
// Portainer and each Docker environment it lists, the embedded broker's port and the HTTP port.
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runCheck } from "../../src/cli/check.js";
import { VERSION } from "../../src/version.js";
import { startTestBroker } from "../helpers/broker.js";
import { FakeEngine } from "../helpers/fake-engine.js";
import { FakePortainer } from "../helpers/fake-portainer.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function check(env: Record<string, string>): Promise<{ status: number; out: string }> {
  let out = "";
  const status = await runCheck(
    [],
    env,
    {
      out: (text) => {
        out += text;
      },
    },
    { timeoutMs: 3000 },
  );
  return { status, out };
}

async function engine(name: string, containers: string[] = []): Promise<FakeEngine> {
  const e = await FakeEngine.start({ name });
  e.seed(containers.map((c) => ({ name: c })));
  cleanups.push(() => e.close());
  return e;
}

/** A port some other program holds, as Mosquitto holds 1883. */
async function takenPort(host = "127.0.0.1"): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  return typeof address === "object" && address ? address.port : 0;
}

async function brokerUrl(): Promise<string> {
  const broker = await startTestBroker();
  cleanups.push(() => broker.close());
  return broker.url;
}

const line = (ok: "ok" | "FAIL", what: string, text: string, width = 7) =>
  `  ${ok.padEnd(5)} ${what.padEnd(width)} ${text}\n`;

describe("--check with several engines", () => {
  it("checks every engine of `engines`, and not the unused default socket", async () => {
    const nas = await engine("nas-vm", ["web"]);
    const pi = await engine("pi-vm", ["db", "cache"]);
    const { status, out } = await check({
      DOCKER_ENGINES: JSON.stringify([
        { id: "nas", host: nas.dockerHost },
        { id: "pi", host: pi.dockerHost },
      ]),
      MQTT_URL: await brokerUrl(),
    });
    const facts = (n: number) => `API 1.41, name "${n === 1 ? "nas-vm" : "pi-vm"}"`;
    expect(out).toContain(
      line(
        "ok",
        "engine",
        `nas at ${nas.dockerHost}: Docker 20.10.24+dfsg1, ${facts(1)}, 1 container; events readable`,
      ),
    );
    expect(out).toContain(
      line(
        "ok",
        "engine",
        `pi at ${pi.dockerHost}: Docker 20.10.24+dfsg1, ${facts(2)}, 2 containers; events readable`,
      ),
    );
    expect(out).not.toContain("/var/run/docker.sock");
    expect(out).toMatch(/\nall checks passed\n$/);
    expect(status).toBe(0);
    for (const e of [nas, pi]) {
      expect(e.requests.map((r) => r.path.replace(/\?.*/, ""))).toContain("/v1.41/events");
    }
  });

  it("names the engine that fails, and still checks the others", async () => {
    const nas = await engine("nas-vm");
    const dir = await mkdtemp(join(tmpdir(), "dmb-check-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const missing = join(dir, "docker.sock");
    const { status, out } = await check({
      DOCKER_ENGINES: JSON.stringify([
        { id: "nas", host: nas.dockerHost },
        { id: "pi", host: `unix://${missing}` },
      ]),
      MQTT_URL: await brokerUrl(),
    });
    expect(status).toBe(1);
    expect(out).toMatch(/ {2}ok {4}engine {2}nas at unix:/);
    expect(out).toContain(
      `  FAIL  engine  pi: no socket at ${missing}: is the Docker Engine running`,
    );
    expect(out).toMatch(/\n1 check failed\n$/);
  });
});

describe("--check with Portainer", () => {
  const KEY = "ptr_check";

  async function portainer() {
    const p = await FakePortainer.start({
      apiKey: KEY,
      environments: [
        { id: 1, name: "local", type: 1, engine: await engine("local-vm", ["web"]) },
        { id: 2, name: "agent-box", type: 2, engine: await engine("agent-vm") },
        { id: 3, name: "kube", type: 5 },
        { id: 4, name: "edge", type: 4 },
      ],
    });
    cleanups.push(() => p.close());
    return p;
  }

  it("lists the environments with the key and checks each Docker one as an engine", async () => {
    const p = await portainer();
    const { status, out } = await check({
      PORTAINER_URL: p.url,
      PORTAINER_API_KEY: KEY,
      PORTAINER_ENVIRONMENTS: "local,agent-box=box",
      MQTT_URL: await brokerUrl(),
    });
    expect(out).toContain(
      line("ok", "portainer", `${p.url}: 3 Docker environments, following 2`, 10),
    );
    expect(out).toContain(
      line(
        "ok",
        "engine",
        `Portainer environment "local" (id 1): Docker 20.10.24+dfsg1, API 1.41, name "local-vm", 1 container; events readable`,
        10,
      ),
    );
    expect(out).toContain(`Portainer environment "agent-box" (id 2): Docker 20.10.24+dfsg1`);
    expect(out).not.toContain('"edge"');
    expect(out).not.toContain("/var/run/docker.sock");
    expect(status).toBe(0);
    expect(p.requests.every((r) => r.keySource === "header" && r.keyValid)).toBe(true);
    expect(p.requests.map((r) => r.path.replace(/\?.*/, ""))).toContain(
      "/api/endpoints/2/docker/v1.41/events",
    );
  });

  it("fails on an environment that cannot be reached, and on a name that matches none", async () => {
    const p = await portainer();
    const { status, out } = await check({
      PORTAINER_URL: p.url,
      PORTAINER_API_KEY: KEY,
      PORTAINER_ENVIRONMENTS: "edge,lcoal",
      MQTT_URL: await brokerUrl(),
    });
    expect(status).toBe(1);
    expect(out).toContain(
      `  FAIL  portainer  ${p.url}: 3 Docker environments, following 1; portainer.environments: "lcoal" matches no Docker environment (there are: 1 "local", 2 "agent-box", 4 "edge")\n`,
    );
    expect(out).toMatch(/ {2}FAIL {2}engine {5}Portainer environment "edge" \(id 4\): /);
    expect(out).toMatch(/\n2 checks failed\n$/);
  });

  it("fails on a refused API key without showing it", async () => {
    const p = await portainer();
    const { status, out } = await check({
      PORTAINER_URL: p.url,
      PORTAINER_API_KEY: "ptr_wrong-key",
      MQTT_URL: await brokerUrl(),
    });
    expect(status).toBe(1);
    expect(out).toContain(
      `  FAIL  portainer  Portainer at ${p.url} refused the API key (401): check portainer.api_key\n`,
    );
    expect(out).not.toContain("ptr_wrong-key");
  });
});

describe("--check on the ports the bridge would listen on", () => {
  it("fails when the embedded broker's port is taken, and says what to do", async () => {
    const e = await engine("vm");
    const port = await takenPort();
    const { status, out } = await check({
      DOCKER_HOST: e.dockerHost,
      MQTT_EMBEDDED_PORT: `${port}`,
    });
    expect(out).toContain(
      line(
        "FAIL",
        "broker",
        `the embedded MQTT broker: port 127.0.0.1:${port} is taken by another program: set MQTT_URL to your broker or choose another mqtt.embedded_port`,
      ),
    );
    expect(status).toBe(1);
  });

  it("passes when the embedded broker's port is free", async () => {
    const e = await engine("vm");
    const { status, out } = await check({ DOCKER_HOST: e.dockerHost, MQTT_EMBEDDED_PORT: "0" });
    expect(out).toContain(
      line("ok", "broker", "no mqtt.url: the embedded broker can listen on 127.0.0.1:0"),
    );
    expect(out).toBe(
      [
        `docker-mqtt-bridge ${VERSION} check`,
        "  ok    config  valid (2 from env)",
        `  ok    engine  ${e.dockerHost}: Docker 20.10.24+dfsg1, API 1.41, name "vm", 0 containers; events readable`,
        "  ok    broker  no mqtt.url: the embedded broker can listen on 127.0.0.1:0",
        "all checks passed",
        "",
      ].join("\n"),
    );
    expect(status).toBe(0);
  });

  it("fails when the HTTP port is taken", async () => {
    const e = await engine("vm");
    const port = await takenPort();
    const { status, out } = await check({
      DOCKER_HOST: e.dockerHost,
      MQTT_URL: await brokerUrl(),
      HTTP_PORT: `${port}`,
      HTTP_HOST: "127.0.0.1",
    });
    expect(out).toContain(
      line(
        "FAIL",
        "http",
        `the HTTP server: port 127.0.0.1:${port} is taken by another program: choose another http.port`,
      ),
    );
    expect(status).toBe(1);
  });
});
