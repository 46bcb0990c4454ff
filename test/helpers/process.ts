// Child processes for the tests that run the built bridge or the TypeScript compiler: a run that
// collects its output (killed after a timeout if one is given), and a private build of the package
// (the repo's dist/ may be in use by another test).
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { cp, mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Collects a child's output; `finished` settles when its streams have closed. */
export function collectOutput(child: ChildProcessWithoutNullStreams): {
  finished: Promise<Finished>;
  stdout: () => string;
} {
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const finished = new Promise<Finished>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { finished, stdout: () => stdout };
}

export interface RunOptions {
  /** Default: this process's. */
  cwd?: string | undefined;
  /** The child's whole environment. Default: this process's. */
  env?: Record<string, string> | undefined;
  /** SIGKILL the child if it has not exited by then. Default: never. */
  timeoutMs?: number | undefined;
}

/** Runs a command to its end and returns what it printed and how it ended. */
export async function runProcess(
  cmd: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<Finished> {
  const child = spawn(cmd, args, { cwd: options.cwd, env: options.env });
  const timer =
    options.timeoutMs === undefined
      ? undefined
      : setTimeout(() => child.kill("SIGKILL"), options.timeoutMs);
  try {
    return await collectOutput(child).finished;
  } finally {
    clearTimeout(timer);
  }
}

export interface PrivateBuild {
  /** Holds package.json, dist/ and a link to the project's node_modules, as installed. */
  dir: string;
  /** The compiler's run: callers assert on it. */
  build: Finished;
}

/**
 * The package as installed, built outside the repo's dist/: a temp dir (name starting `prefix`)
 * with a copy of package.json (its name and exports resolve), the project's node_modules linked,
 * and dist/ compiled from tsconfig.build.json. Without `declarations`, only the emitted program is
 * built: no type check (the type check's business), no .d.ts. No source maps either way.
 */
export async function buildPackage(
  prefix: string,
  options: { declarations?: boolean; timeoutMs?: number | undefined } = {},
): Promise<PrivateBuild> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  try {
    await cp(join(ROOT, "package.json"), join(dir, "package.json"));
    await symlink(join(ROOT, "node_modules"), join(dir, "node_modules"));
    const flags = options.declarations ? [] : ["--noCheck", "--declaration", "false"];
    const build = await runProcess(
      join(ROOT, "node_modules/.bin/tsc"),
      [
        "-p",
        "tsconfig.build.json",
        "--outDir",
        join(dir, "dist"),
        "--sourceMap",
        "false",
        ...flags,
      ],
      { cwd: ROOT, timeoutMs: options.timeoutMs },
    );
    return { dir, build };
  } catch (err: unknown) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
