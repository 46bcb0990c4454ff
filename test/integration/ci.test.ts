// What CI reads from a run on two Node versions: scripts/ci-summary.mjs turns vitest's JSON
// reports into one line per run and a closing total, and its last line and exit status must show
// a failure in either run. Also that the Node CI pins is the one the Docker image is built on.
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SUMMARY = join(ROOT, "scripts/ci-summary.mjs");

type Status = "passed" | "failed" | "skipped" | "pending" | "todo";

/** A report in the shape vitest's JSON reporter writes, for files of tests with these statuses. */
function report(files: Record<string, Status[]>, fileErrors: string[] = []) {
  const all = Object.values(files).flat();
  const count = (s: Status) => all.filter((t) => t === s).length;
  const failedFiles = Object.values(files).filter((t) => t.includes("failed")).length;
  const numFailedTestSuites = failedFiles + fileErrors.length;
  return {
    numTotalTests: all.length,
    numPassedTests: count("passed"),
    numFailedTests: count("failed"),
    numPendingTests: count("pending") + count("skipped"),
    numTodoTests: count("todo"),
    numFailedTestSuites,
    success: numFailedTestSuites === 0,
    testResults: [
      ...Object.entries(files).map(([name, tests]) => ({
        name,
        status: tests.includes("failed") ? "failed" : "passed",
        message: "",
        assertionResults: tests.map((status, i) => ({ title: `test ${i}`, status })),
      })),
      ...fileErrors.map((name) => ({
        name,
        status: "failed",
        message: "Cannot find module",
        assertionResults: [],
      })),
    ],
  };
}

let dir = "";
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ci-summary-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(name: string, content: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, JSON.stringify(content));
  return path;
}

function summarise(...args: string[]) {
  const result = spawnSync(process.execPath, [SUMMARY, ...args], { encoding: "utf8" });
  return { status: result.status, lines: result.stdout.trimEnd().split("\n"), err: result.stderr };
}

describe("the CI summary over a run per Node version", () => {
  it("prints a line per run and closes with the total over both", async () => {
    const a = await write("a.json", report({ "x.test.ts": ["passed", "passed", "skipped"] }));
    const b = await write("b.json", report({ "y.test.ts": ["passed", "todo"] }));
    const out = summarise("Node v20.20.2, all suites", a, "0", "Node v24.22.3, unit", b, "0");
    expect(out.lines).toEqual([
      "Node v20.20.2, all suites: 2 passed, 0 failed, 1 skipped",
      "Node v24.22.3, unit: 1 passed, 0 failed, 1 skipped",
      "3 passed, 0 failed, 2 skipped",
    ]);
    expect(out.status).toBe(0);
  });

  it("fails and counts a failure in either run", async () => {
    const a = await write("a.json", report({ "x.test.ts": ["passed"] }));
    const b = await write("b.json", report({ "y.test.ts": ["failed", "passed"] }));
    const second = summarise("20", a, "0", "24", b, "1");
    expect(second.lines.at(-1)).toBe("2 passed, 1 failed, 0 skipped");
    expect(second.status).toBe(1);
    const first = summarise("20", b, "1", "24", a, "0");
    expect(first.lines.at(-1)).toBe("2 passed, 1 failed, 0 skipped");
    expect(first.status).toBe(1);
  });

  it("counts a run that left no report as failed, never as all green", async () => {
    const a = await write("a.json", report({ "x.test.ts": ["passed"] }));
    const out = summarise("20", a, "0", "24", join(dir, "missing.json"), "1");
    expect(out.lines[1]).toMatch(
      /^24: 0 passed, 1 failed, 0 skipped \(no report at .*missing\.json/,
    );
    expect(out.lines.at(-1)).toBe("1 passed, 1 failed, 0 skipped");
    expect(out.status).toBe(1);
  });

  it("counts a test file that failed to load, and errors vitest saw outside any test", async () => {
    const broken = await write("c.json", report({ "x.test.ts": ["passed"] }, ["z.test.ts"]));
    const unhandled = await write("d.json", report({ "y.test.ts": ["passed"] }));
    const out = summarise("20", broken, "1", "24", unhandled, "1");
    expect(out.lines[0]).toBe(
      "20: 1 passed, 1 failed, 0 skipped (1 test file(s) failed outside any test)",
    );
    expect(out.lines[1]).toMatch(/^24: 1 passed, 1 failed, 0 skipped \(vitest exited 1 /);
    expect(out.lines.at(-1)).toBe("2 passed, 2 failed, 0 skipped");
    expect(out.status).toBe(1);
  });

  it("refuses arguments that are not label, report, status triples", () => {
    expect(summarise("only-a-label").status).toBe(2);
  });
});

describe("the Node versions CI tests", () => {
  it("include the Node major the Docker image is built on", async () => {
    const dockerfile = await readFile(join(ROOT, "Dockerfile"), "utf8");
    const install = await readFile(join(ROOT, "scripts/install-node.sh"), "utf8");
    const imageMajor = /^ARG NODE_VERSION=(\d+)/m.exec(dockerfile)?.[1];
    const pinned = /^NODE_VERSION=(\d+)\.\d+\.\d+$/m.exec(install)?.[1];
    expect(imageMajor).toBeDefined();
    expect(pinned).toBe(imageMajor);
  });
});
