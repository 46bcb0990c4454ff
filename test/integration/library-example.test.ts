// The README's library example, used the way a user would: compiled with a strict NodeNext
// tsconfig against the package as installed (its exports and its declaration files), then run
// against a fake engine until a container turns unhealthy and SIGTERM stops it.
import { spawn } from "node:child_process";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { FakeEngine } from "../helpers/fake-engine.js";
import { buildPackage, collectOutput, runProcess } from "../helpers/process.js";

const ROOT = process.cwd();
const TSC = join(ROOT, "node_modules/.bin/tsc");

/** The code between the README's example markers, without its fence. */
function exampleFrom(readme: string): string {
  const m = /<!-- example:start -->\s*```ts\n([\s\S]*?)```\s*<!-- example:end -->/.exec(readme);
  if (!m?.[1]) throw new Error("README.md: no ```ts block between the example markers");
  return m[1];
}

/** What a user would put in a strict project's tsconfig. */
function userTsconfig(files: string[]): string {
  return JSON.stringify({
    compilerOptions: {
      target: "ES2023",
      lib: ["ES2023"],
      module: "NodeNext",
      moduleResolution: "NodeNext",
      strict: true,
      noUncheckedIndexedAccess: true,
      exactOptionalPropertyTypes: true,
      verbatimModuleSyntax: true,
      types: ["node"],
      // As most projects set it (this repo too): checking every dependency's declarations costs
      // seconds and tests them, not this package; the misuse test shows the types still bind.
      skipLibCheck: true,
      rootDir: ".",
      outDir: "out",
    },
    files,
  });
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

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("the README example", () => {
  let dir = "";

  beforeAll(async () => {
    // The package as installed: its package.json (name, exports), the library built next to it
    // (not into the repo's dist/, which another test builds), and its dependencies.
    const built = await buildPackage("dmb-example-", { declarations: true });
    dir = built.dir;
    const { build } = built;
    expect(build.code, build.stdout + build.stderr).toBe(0);
    const readme = await readFile(join(ROOT, "README.md"), "utf8");
    await writeFile(join(dir, "example.ts"), exampleFrom(readme));
    await writeFile(join(dir, "tsconfig.json"), userTsconfig(["example.ts"]));
  }, 60_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("compiles with strict NodeNext settings against the package's exports and types", async () => {
    const tsc = await runProcess(TSC, ["-p", join(dir, "tsconfig.json")], { cwd: dir });
    // tsc reports type errors on stdout.
    expect(tsc.stdout + tsc.stderr).toBe("");
    expect(tsc.code).toBe(0);
    const emitted = await readFile(join(dir, "out/example.js"), "utf8");
    expect(emitted).toMatch(/from "docker-mqtt-bridge"/);
  });

  it("has types with teeth: a misuse the union rules out does not compile", async () => {
    // Without this, an `any` leaking from the declarations would let the example pass regardless.
    await writeFile(
      join(dir, "misuse.ts"),
      [
        'import { DockerEvents } from "docker-mqtt-bridge";',
        "const docker = new DockerEvents();",
        'docker.on("container", (event) => {',
        '  if (event.action === "pull") console.log(event.name);',
        "});",
        'const ms: number = docker.latest("image")?.timeNano ?? 0;',
        "console.log(ms);",
      ].join("\n"),
    );
    await writeFile(join(dir, "tsconfig.misuse.json"), userTsconfig(["misuse.ts"]));
    const tsc = await runProcess(TSC, ["-p", join(dir, "tsconfig.misuse.json"), "--noEmit"], {
      cwd: dir,
    });
    expect(tsc.code).not.toBe(0);
    // "pull" is an image action, not a container one; timeNano is a bigint, not a number.
    expect(tsc.stdout).toMatch(/misuse\.ts\(4,\d+\): error TS2367/);
    expect(tsc.stdout).toMatch(/misuse\.ts\(6,\d+\): error TS2322/);
  });

  it("prints the line when a container turns unhealthy, and exits 0 on SIGTERM", async () => {
    const engine = await FakeEngine.start();
    cleanups.push(() => engine.close());
    const child = spawn(process.execPath, [join(dir, "out/example.js")], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? "", DOCKER_HOST: engine.dockerHost },
    });
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
    const out = collectOutput(child);
    const lines = () =>
      out
        .stdout()
        .split("\n")
        .filter((l) => l.length > 0);
    const printed = (line: string, what: string) =>
      waitUntil(10_000, what, () => lines().includes(line));

    await printed("docker: connected", "the example connecting");
    await engine.waitForEventStream({ count: 1 });
    engine.run({ name: "web", healthcheck: true });
    engine.setHealth("web", "healthy", { probe: true });
    engine.setHealth("web", "unhealthy", { probe: true });
    const turned = engine.history.at(-1);
    expect(turned?.Action).toBe("health_status: unhealthy");
    const at = new Date(Number((turned?.timeNano ?? 0n) / 1_000_000n)).toISOString();
    await printed(`web turned unhealthy at ${at}`, "the unhealthy line");

    child.kill("SIGTERM");
    const result = await within(5_000, "the example exiting after SIGTERM", out.finished);
    expect(result.stderr).toBe("");
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 0, signal: null });
    expect(lines()).toEqual(["docker: connected", `web turned unhealthy at ${at}`]);
    expect(engine.openEventStreams).toBe(0);
  });
});

/** Polls a condition every 10 ms; rejects naming what was awaited if it is still false in time. */
async function waitUntil(ms: number, what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not seen after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
