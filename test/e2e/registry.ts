// A real image registry for the image-update tests: Debian's `docker-registry` (the distribution
// registry) on a free loopback port with filesystem storage in a fresh temp dir, plus the Engine
// API steps that fill it (tag, push, commit). The throwaway dockerd speaks plain HTTP to it
// because it is on 127.0.0.0/8.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { openSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { engineRequest, SEARCH_DIRS, waitFor } from "./daemons.js";
import type { E2EServices } from "./global-setup.js";

export interface TestRegistry {
  /** `127.0.0.1:<port>`: the registry part of image references. */
  host: string;
  dir: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no TCP port");
  return address.port;
}

/** Starts `docker-registry serve` and waits until `/v2/` answers. */
export async function startRegistry(): Promise<TestRegistry> {
  const dir = await mkdtemp("/tmp/dmb-registry-");
  const port = await freePort();
  const config = join(dir, "config.yml");
  await writeFile(
    config,
    [
      "version: 0.1",
      "log:",
      "  level: warn",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${join(dir, "data")}`,
      "  delete:",
      "    enabled: true",
      "http:",
      `  addr: 127.0.0.1:${port}`,
      "",
    ].join("\n"),
  );
  const log = openSync(join(dir, "registry.log"), "a");
  const child: ChildProcess = spawn("docker-registry", ["serve", config], {
    stdio: ["ignore", log, log],
    env: { ...process.env, PATH: [process.env.PATH ?? "", ...SEARCH_DIRS].join(":") },
  });
  const exited = once(child, "exit");
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`docker-registry exited (${child.exitCode})`);
        const res = await fetch(`http://127.0.0.1:${port}/v2/`).catch(() => undefined);
        return res?.status === 200 ? true : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 100, what: "docker-registry to answer /v2/" },
    );
  } catch (err: unknown) {
    await stop();
    throw err;
  }
  return { host: `127.0.0.1:${port}`, dir, stop };
}

/** Whether Debian's docker-registry is installed (scripts/install-test-deps.sh). */
export async function registryAvailable(): Promise<boolean> {
  const child = spawn("docker-registry", ["--version"], { stdio: "ignore" });
  const [code] = (await once(child, "exit").catch(() => [1])) as [number | null];
  return code === 0;
}

function checkStream(what: string, res: { status: number; text: string }): string {
  if (res.status !== 200 && res.status !== 201) {
    throw new Error(`${what} answered ${res.status}: ${res.text.slice(0, 300)}`);
  }
  const lines = res.text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as { error?: string; aux?: { Digest?: string } });
  const failed = lines.find((l) => l.error);
  if (failed) throw new Error(`${what} failed: ${failed.error}`);
  return lines.find((l) => l.aux?.Digest)?.aux?.Digest ?? "";
}

/** `docker tag source repo:tag`. */
export async function tagImage(ctx: E2EServices, source: string, repo: string, tag: string) {
  const query = new URLSearchParams({ repo, tag });
  const res = await engineRequest(
    ctx.dockerSocket,
    "POST",
    `/images/${encodeURIComponent(source)}/tag?${query}`,
  );
  if (res.status !== 201) throw new Error(`tag ${source}: ${res.status} ${res.text}`);
}

/** `docker push repo:tag`; returns the pushed manifest's digest. */
export async function pushImage(ctx: E2EServices, repo: string, tag: string): Promise<string> {
  const auth = Buffer.from("{}").toString("base64url");
  const res = await engineRequest(
    ctx.dockerSocket,
    "POST",
    `/images/${encodeURIComponent(repo)}/push?tag=${encodeURIComponent(tag)}`,
    { headers: { "x-registry-auth": auth }, timeoutMs: 60_000 },
  );
  return checkStream(`push ${repo}:${tag}`, res);
}

/** `docker commit container repo:tag` with labels (and config), so the new image differs from the old. */
export async function commitImage(
  ctx: E2EServices,
  container: string,
  repo: string,
  tag: string,
  labels: Record<string, string>,
  config: Record<string, unknown> = {},
): Promise<string> {
  const query = new URLSearchParams({ container, repo, tag });
  const res = await engineRequest(ctx.dockerSocket, "POST", `/commit?${query}`, {
    json: { Labels: labels, Cmd: ["sh"], Env: ["PATH=/bin"], ...config },
  });
  if (res.status !== 201) throw new Error(`commit ${container}: ${res.status} ${res.text}`);
  return (res.body as { Id: string }).Id;
}

/** An image's RepoDigests. */
export async function repoDigests(ctx: E2EServices, name: string): Promise<string[]> {
  const res = await engineRequest(
    ctx.dockerSocket,
    "GET",
    `/images/${encodeURIComponent(name)}/json`,
  );
  if (res.status !== 200) throw new Error(`inspect image ${name}: ${res.status}`);
  return (res.body as { RepoDigests?: string[] | null }).RepoDigests ?? [];
}
