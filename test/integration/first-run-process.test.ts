// The built bridge as a person or a supervisor runs it: `npm start` stopped by a signal to the
// process it started, and a socket the bridge's user may not open (a real EACCES: as root, the
// bridge runs as `nobody`, since root ignores file modes).
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { chmod, copyFile, mkdir, mkdtemp, rm } from "node:fs/promises";
import { createConnection, createServer, type Server } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { freePort, startHookedBroker, waitUntil } from "../helpers/resilience-kit.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const NOBODY = 65534;

let build: string | undefined;
const children: ChildProcess[] = [];
let cleanups: (() => Promise<void>)[] = [];

/** Compiles src/ into a temp dir under node_modules (so `mqtt`, `pino`... resolve from it). */
beforeAll(async () => {
  const cache = join(ROOT, "node_modules", ".cache");
  await mkdir(cache, { recursive: true });
  build = await mkdtemp(join(cache, "dmb-first-run-"));
  // package.json: version.ts reads it, and `npm start` runs its scripts.
  await copyFile(join(ROOT, "package.json"), join(build, "package.json"));
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  await promisify(execFile)(
    process.execPath,
    [tsc, "-p", "tsconfig.build.json", "--outDir", join(build, "dist")],
    { cwd: ROOT },
  );
  // Readable by another user, for the EACCES case (mkdtemp makes 0700).
  await chmod(build, 0o755);
  await chmod(cache, 0o755);
}, 120_000);

afterEach(async () => {
  for (const close of cleanups.reverse()) await close();
  cleanups = [];
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.pid) child.kill("SIGKILL");
  if (build) await rm(build, { recursive: true, force: true });
});

function launch(
  command: string,
  args: string[],
  env: Record<string, string>,
  options: { uid?: number } = {},
): { child: ChildProcess; output: () => string } {
  const child = spawn(command, args, {
    cwd: build,
    env: { PATH: process.env.PATH ?? "", HOME: build ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    ...(options.uid !== undefined ? { uid: options.uid, gid: options.uid } : {}),
  });
  children.push(child);
  let output = "";
  child.stdout?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  return { child, output: () => output };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

describe("npm start under a supervisor", () => {
  it("SIGTERM to the process npm start started stops the bridge and frees its port", async () => {
    const port = await freePort();
    const broker = await startHookedBroker();
    cleanups.push(() => broker.close());
    // --ignore-scripts skips only the build step (prestart), already done above.
    const { child, output } = launch("npm", ["start", "--ignore-scripts", "--silent"], {
      DOCKER_HOST: "unix:///nonexistent/docker.sock",
      DOCKER_HOST_ID: "t",
      MQTT_URL: broker.url,
      HTTP_PORT: String(port),
      HTTP_HOST: "127.0.0.1",
    });
    const listening = async () => {
      while (!(await accepts(port))) {
        if (child.exitCode !== null) throw new Error(`exited early:\n${output()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await listening();
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    const [code] = await exited;
    // npm has exited; nothing of the bridge may be left holding the port.
    await new Promise((r) => setTimeout(r, 500));
    expect({ code, stillListening: await accepts(port) }).toEqual({
      code: 0,
      stillListening: false,
    });
    expect(output()).toContain('"msg":"stopped"');
    // No Node warning (a raw stderr line) in the middle of the JSON log.
    expect(output()).not.toMatch(/Warning/);
  });
});

describe("a socket the bridge's user may not open", () => {
  it("says 'permission denied' with the fix, once, and never 'engine lost'", async () => {
    const dir = await mkdtemp(join(build ?? "", "sock-"));
    await chmod(dir, 0o755);
    const path = join(dir, "docker.sock");
    const server: Server = createServer((s) => s.destroy());
    await new Promise<void>((resolve) => server.listen(path, resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    await chmod(path, 0o600);
    const broker = await startHookedBroker();
    cleanups.push(() => broker.close());
    const asRoot = process.getuid?.() === 0;
    const { child, output } = launch(
      process.execPath,
      ["dist/main.js"],
      {
        DOCKER_HOST: `unix://${path}`,
        DOCKER_HOST_ID: "t",
        MQTT_URL: broker.url,
        DOCKER_RECONNECT_MAX_SECONDS: "1",
        LOG_LEVEL: "debug",
      },
      asRoot ? { uid: NOBODY } : {},
    );
    const lines = () =>
      output()
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as { level: number; msg: string; problem?: string });
    await waitUntil(
      "three attempts",
      () =>
        lines().filter((l) => /not reachable/.test(l.msg)).length >= 3 || child.exitCode !== null,
      10_000,
    );
    child.kill("SIGTERM");
    await once(child, "exit");
    const warned = lines().filter((l) => l.level >= 40);
    expect(
      lines().filter((l) => l.msg === "engine still not reachable; retrying").length,
    ).toBeGreaterThan(1);
    expect(lines()[0]?.msg, output()).toBe("docker-mqtt-bridge started");
    expect(output()).not.toMatch(/Warning/);
    expect(warned.map((l) => ({ msg: l.msg, problem: l.problem }))).toEqual([
      {
        msg: "engine not reachable; retrying",
        problem: `permission denied on ${path}: run with the socket's group (group_add: the GID from \`stat -c %g ${path}\`) or go through a read-only socket proxy`,
      },
    ]);
  });
});
