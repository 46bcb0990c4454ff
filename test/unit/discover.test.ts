// Where the engine is when DOCKER_HOST is unset: the usual sockets in order (rootful Docker,
// rootless Docker, rootful Podman, rootless Podman), the first that answers, and a log line
// saying which one was used, or every one tried when none answers.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/loader.js";
import { candidateSockets, discoverDockerHost, socketAnswers } from "../../src/docker/discover.js";
import { engineAddresses, resolveAddresses } from "../../src/runtime/connections.js";
import { createLogger } from "../../src/runtime/log.js";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "discover-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function listen(path: string): Promise<Server> {
  const server = createServer((socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(path, resolve));
  cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
  return server;
}

function logCapture() {
  let text = "";
  const out = new Writable({
    write(chunk, _encoding, done) {
      text += String(chunk);
      done();
    },
  });
  return {
    log: createLogger("info", out, "json"),
    lines: () =>
      text
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l)),
  };
}

describe("candidateSockets", () => {
  it("rootful Docker, rootless Docker, rootful Podman, rootless Podman, in that order", () => {
    expect(candidateSockets({ XDG_RUNTIME_DIR: "/run/user/1000/" })).toEqual([
      "/var/run/docker.sock",
      "/run/user/1000/docker.sock",
      "/run/podman/podman.sock",
      "/run/user/1000/podman/podman.sock",
    ]);
  });

  it("without XDG_RUNTIME_DIR, only the rootful sockets", () => {
    expect(candidateSockets({})).toEqual(["/var/run/docker.sock", "/run/podman/podman.sock"]);
  });
});

describe("discoverDockerHost", () => {
  it("takes the first that answers and says what it tried up to it", async () => {
    const asked: string[] = [];
    const answering = new Set(["/run/podman/podman.sock", "/run/user/7/podman/podman.sock"]);
    const found = await discoverDockerHost({
      env: { XDG_RUNTIME_DIR: "/run/user/7" },
      probe: async (path) => {
        asked.push(path);
        return answering.has(path);
      },
    });
    expect(found).toEqual({
      host: "unix:///run/podman/podman.sock",
      found: true,
      tried: ["/var/run/docker.sock", "/run/user/7/docker.sock", "/run/podman/podman.sock"],
    });
    expect(asked).toEqual(found.tried);
  });

  it("none answers: the first, not found, every one tried", async () => {
    const found = await discoverDockerHost({ env: {}, probe: async () => false });
    expect(found).toEqual({
      host: "unix:///var/run/docker.sock",
      found: false,
      tried: ["/var/run/docker.sock", "/run/podman/podman.sock"],
    });
  });
});

describe("socketAnswers", () => {
  it("true for a listening socket; false for a stale socket file or no file", async () => {
    const dir = await tempDir();
    await listen(join(dir, "live.sock"));
    const stale = join(dir, "stale.sock");
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(stale, resolve));
    // Closed without unlinking, as a killed engine leaves its socket file behind.
    server.unref();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await writeFile(join(dir, "plain"), "");
    expect(await socketAnswers(join(dir, "live.sock"))).toBe(true);
    expect(await socketAnswers(stale)).toBe(false);
    expect(await socketAnswers(join(dir, "plain"))).toBe(false);
    expect(await socketAnswers(join(dir, "missing.sock"))).toBe(false);
  });
});

describe("resolveAddresses", () => {
  it("with DOCKER_HOST unset, the rootless socket that answers is used and logged", async () => {
    const runtimeDir = await tempDir();
    await listen(join(runtimeDir, "docker.sock"));
    const env = { XDG_RUNTIME_DIR: runtimeDir };
    const { config } = loadConfig({ argv: [], env });
    expect(config.docker.host).toBe("");
    const { log, lines } = logCapture();
    // The real probe; /var/run/docker.sock is passed over as if absent, whatever this machine has.
    const discover = (e: NodeJS.ProcessEnv) =>
      discoverDockerHost({
        env: e,
        probe: (path) =>
          path === "/var/run/docker.sock" ? Promise.resolve(false) : socketAnswers(path),
      });
    const [address] = await resolveAddresses(engineAddresses(config), { env, log, discover });
    expect(address?.host).toBe(`unix://${runtimeDir}/docker.sock`);
    expect(lines()).toEqual([
      expect.objectContaining({
        level: 30,
        engine: `unix://${runtimeDir}/docker.sock`,
        tried: ["unix:///var/run/docker.sock", `unix://${runtimeDir}/docker.sock`],
        msg: "DOCKER_HOST not set: using the first socket that answers",
      }),
    ]);
  });

  it("none answers: a warning naming every socket tried, and the first is waited for", async () => {
    const { log, lines } = logCapture();
    const { config } = loadConfig({ argv: [], env: {} });
    const discover = (e: NodeJS.ProcessEnv) =>
      discoverDockerHost({ env: e, probe: async () => false });
    const env = { XDG_RUNTIME_DIR: "/run/user/5" };
    const [address] = await resolveAddresses(engineAddresses(config), { env, log, discover });
    expect(address?.host).toBe("unix:///var/run/docker.sock");
    expect(lines()).toEqual([
      expect.objectContaining({
        level: 40,
        tried: [
          "unix:///var/run/docker.sock",
          "unix:///run/user/5/docker.sock",
          "unix:///run/podman/podman.sock",
          "unix:///run/user/5/podman/podman.sock",
        ],
      }),
    ]);
  });

  it("an address given is used as given, and nothing is probed", async () => {
    const { config } = loadConfig({ argv: [], env: { DOCKER_HOST: "tcp://engine:2375" } });
    const discover = () => Promise.reject(new Error("must not probe"));
    const addresses = await resolveAddresses(engineAddresses(config), { env: {}, discover });
    expect(addresses.map((a) => a.host)).toEqual(["tcp://engine:2375"]);
  });
});
