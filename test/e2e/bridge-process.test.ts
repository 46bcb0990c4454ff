// Scenario 9: the built bridge as a real process. Killed with SIGKILL, the broker publishes its
// last will (`offline`, retained); stopped with SIGTERM, it exits 0 within seconds leaving
// `offline`. Built once, into a temp dir, so the project's dist/ is left alone.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { copyFile, mkdir, mkdtemp, rm } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Recorder } from "../helpers/recorder.js";
import { bridgeEnv, ourRetained, topicsFor, uniqueHostId } from "./bridge-kit.js";
import {
  type DockerApi,
  describeE2E,
  dockerApi,
  type E2EServices,
  e2eServices,
  waitFor,
} from "./services.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** Compiles src/ into a temp dir under node_modules (so `mqtt`, `pino`... resolve from it). */
async function buildBridge(): Promise<{ dir: string; main: string }> {
  const cache = join(ROOT, "node_modules", ".cache");
  await mkdir(cache, { recursive: true });
  const dir = await mkdtemp(join(cache, "dmb-e2e-build-"));
  // version.ts reads ../package.json relative to the compiled file.
  await copyFile(join(ROOT, "package.json"), join(dir, "package.json"));
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  const outDir = join(dir, "dist");
  await promisify(execFile)(
    process.execPath,
    [tsc, "-p", "tsconfig.build.json", "--outDir", outDir],
    {
      cwd: ROOT,
    },
  );
  return { dir, main: join(outDir, "main.js") };
}

describeE2E("bridge as a process: last will and clean stop", () => {
  let ctx: E2EServices;
  let docker: DockerApi;
  let build: { dir: string; main: string } | undefined;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    ctx = e2eServices();
    docker = dockerApi(ctx);
    await docker.removeAll();
    await docker.run({ name: "proc-web", cmd: ["sleep", "600"] });
    build = await buildBridge();
  }, 120_000);

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.pid) child.kill("SIGKILL");
    if (build) await rm(build.dir, { recursive: true, force: true });
    if (ctx && (await docker.ping())) await docker.removeAll();
  });

  /** Spawns `node dist/main.js` and waits until the broker shows it online with its container. */
  async function spawnBridge(
    hostId: string,
  ): Promise<{ child: ChildProcess; output: () => string }> {
    if (!build) throw new Error("no build");
    const topics = topicsFor(hostId);
    const rec = await Recorder.connect(ctx.mosquittoUrl, [`docker/${hostId}/#`]);
    const env = { PATH: process.env.PATH ?? "", ...bridgeEnv(ctx, hostId, { LOG_LEVEL: "warn" }) };
    const child = spawn(process.execPath, [build.main], { env, stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    let output = "";
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    try {
      await rec.waitFor(
        "the spawned bridge online with its container",
        () =>
          rec.last(topics.availability()) === "online" &&
          rec.lastJson(topics.containerState("proc-web"))?.running === true,
        15_000,
      );
    } catch (err: unknown) {
      throw new Error(`${(err as Error).message}\nbridge output:\n${output}`);
    } finally {
      await rec.close();
    }
    return { child, output: () => output };
  }

  async function retainedAvailability(hostId: string): Promise<string | undefined> {
    const topics = topicsFor(hostId);
    return (await ourRetained(ctx.mosquittoUrl, topics)).get(topics.availability());
  }

  it("leaves its last will, `offline` retained, when killed with SIGKILL", async () => {
    const hostId = uniqueHostId("sigkill");
    const { child } = await spawnBridge(hostId);
    const exited = once(child, "exit");

    child.kill("SIGKILL");
    const [, signal] = await exited;
    expect(signal).toBe("SIGKILL");

    // Only the broker can publish now: what shows up is the will.
    await waitFor(async () => (await retainedAvailability(hostId)) === "offline", {
      timeoutMs: 10_000,
      intervalMs: 100,
      what: "the last will on the availability topic",
    });
  });

  it("exits 0 within a few seconds on SIGTERM, leaving `offline`", async () => {
    const hostId = uniqueHostId("sigterm");
    const { child, output } = await spawnBridge(hostId);
    const exited = once(child, "exit");
    const sentAt = Date.now();

    child.kill("SIGTERM");
    const [code] = await exited;
    // Exit 0, and no error or fatal log line (pino levels 50 and 60) on the way out.
    expect({ code, errors: output().match(/"level":[56]0.*/g) ?? [] }).toEqual({
      code: 0,
      errors: [],
    });
    expect(Date.now() - sentAt).toBeLessThan(5_000);
    expect(await retainedAvailability(hostId)).toBe("offline");
  });
});
