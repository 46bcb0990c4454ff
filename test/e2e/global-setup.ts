// Vitest global set-up for the end-to-end tests: starts a throwaway dockerd and mosquitto in a fresh
// temp dir, imports a busybox test image, provides their addresses, and on teardown stops both by
// PID and removes every mount and file it made. The process primitives are in daemons.ts.
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import {
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  symlink,
  writeFile,
} from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import type { TestProject } from "vitest/node";
import { z } from "zod";
import {
  CHILD_PATH,
  cmdlineOf,
  engineRequest,
  isAlive,
  launchDockerd,
  launchMosquitto,
  pingEngine,
  readState,
  SEARCH_DIRS,
  type ServiceState,
  stateFileOf,
  stopPid,
  updateState,
} from "./daemons.js";

export type { EngineResponse, ServiceState, WaitOptions } from "./daemons.js";

const execFileAsync = promisify(execFile);

export const TEST_IMAGE = "dmb-test/busybox:1";
/** Short on purpose: containerd's unix sockets live under the exec-root, and sun_path holds 108 bytes. */
const DIR_PREFIX = "/tmp/dmb-";

export interface E2EUnavailable {
  available: false;
  reason: string;
}

export interface E2EServices {
  available: true;
  dataDir: string;
  dockerSocket: string;
  dockerHost: string;
  /** PID at start-up; after a restart the current one is in `stateFile` (see services.ts). */
  dockerdPid: number;
  dockerdArgv: string[];
  storageDriver: string;
  mosquittoPort: number;
  mosquittoUrl: string;
  mosquittoPid: number;
  mosquittoArgv: string[];
  image: string;
  stateFile: string;
}

export type E2EContext = E2EUnavailable | E2EServices;

declare module "vitest" {
  export interface ProvidedContext {
    e2e: E2EContext;
  }
}

export function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(":").filter(Boolean), ...SEARCH_DIRS];
  for (const dir of dirs) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A dynamically linked busybox would not run in an image without a libc. */
export function isStaticElf(path: string): boolean {
  const elf = readFileSync(path);
  // Only ELF64 little-endian is read; for anything else, don't guess.
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) return true;
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    if (elf.readUInt32LE(phoff + i * phentsize) === 3) return false; // PT_INTERP
  }
  return true;
}

export async function freePort(): Promise<number> {
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

export async function prepareRootfs(dataDir: string, busybox: string): Promise<string> {
  const rootfs = join(dataDir, "rootfs");
  await Promise.all(["bin", "etc", "tmp"].map((d) => mkdir(join(rootfs, d), { recursive: true })));
  await copyFile(busybox, join(rootfs, "bin", "busybox"));
  const { stdout } = await execFileAsync(busybox, ["--list"]);
  const applets = stdout.split("\n").filter((a) => a !== "" && a !== "busybox" && !a.includes("/"));
  await Promise.all(applets.map((a) => symlink("busybox", join(rootfs, "bin", a))));
  return rootfs;
}

async function importTestImage(socketPath: string, rootfs: string): Promise<void> {
  const [repo, tag] = TEST_IMAGE.split(":");
  const query = new URLSearchParams({ fromSrc: "-", repo: repo ?? "", tag: tag ?? "" });
  query.append("changes", 'CMD ["sh"]');
  query.append("changes", "ENV PATH=/bin");
  const tar = spawn("tar", ["-C", rootfs, "--numeric-owner", "--owner=0", "--group=0", "-c", "."], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const tarExit = once(tar, "close");
  const res = await engineRequest(socketPath, "POST", `/images/create?${query}`, {
    stream: tar.stdout,
    contentType: "application/x-tar",
    timeoutMs: 60_000,
  });
  const [tarCode] = await tarExit;
  if (tarCode !== 0)
    throw new Error(`tar of the test image's rootfs exited with ${String(tarCode)}`);
  if (res.status !== 200 || res.text.includes('"error')) {
    throw new Error(`importing ${TEST_IMAGE} failed (${res.status}): ${res.text.slice(0, 300)}`);
  }
}

export function dockerdArgv(dockerd: string, dataDir: string, storageDriver: string): string[] {
  return [
    dockerd,
    `--config-file=${join(dataDir, "daemon.json")}`, // never the host's /etc/docker/daemon.json
    `--data-root=${join(dataDir, "root")}`,
    `--exec-root=${join(dataDir, "exec")}`,
    `--pidfile=${join(dataDir, "dockerd.pid")}`,
    `--host=unix://${join(dataDir, "docker.sock")}`,
    `--storage-driver=${storageDriver}`,
    "--iptables=false",
    "--ip6tables=false",
    "--bridge=none",
    // Apart from any system containerd that dockerd might attach to at /run/containerd.
    "--containerd-namespace=dmb-e2e",
    "--containerd-plugins-namespace=dmb-e2e-plugins",
  ];
}

async function startEngine(
  dataDir: string,
  dockerd: string,
): Promise<{ pid: number; argv: string[]; driver: string }> {
  const socketPath = join(dataDir, "docker.sock");
  await writeFile(join(dataDir, "daemon.json"), "{}\n");
  // overlay2 fails where /tmp is itself on overlayfs (Docker-in-Docker CI); vfs works anywhere.
  const drivers = (process.env.DMB_E2E_STORAGE_DRIVERS ?? "overlay2,vfs").split(",");
  const failures: string[] = [];
  for (const driver of drivers) {
    const argv = dockerdArgv(dockerd, dataDir, driver);
    try {
      return { pid: await launchDockerd(argv, dataDir, socketPath), argv, driver };
    } catch (err: unknown) {
      failures.push(`${driver}: ${err instanceof Error ? err.message : String(err)}`);
      await cleanUpEngineFiles(dataDir);
    }
  }
  throw new Error(`dockerd did not start (${failures.join("; ")})`);
}

/**
 * Kills what a dead dockerd left: runc containers, then every process whose command line names
 * `marker` (dockerd, containerd and shims all name the exec-root; mosquitto only its config).
 */
async function killLeftovers(dataDir: string, marker: string): Promise<void> {
  const runcRoot = join(dataDir, "exec", "runtime-runc");
  const namespaces = await readdir(runcRoot).catch(() => []);
  for (const ns of namespaces) {
    for (const id of await readdir(join(runcRoot, ns)).catch(() => [])) {
      await execFileAsync("runc", ["--root", join(runcRoot, ns), "delete", "--force", id], {
        env: { ...process.env, PATH: CHILD_PATH },
      }).catch(() => undefined);
    }
  }
  const pids = (await readdir("/proc")).filter((p) => /^\d+$/.test(p)).map(Number);
  for (const pid of pids) {
    if (pid !== process.pid && cmdlineOf(pid).includes(marker) && isAlive(pid)) {
      process.kill(pid, "SIGKILL");
    }
  }
}

async function unmountUnder(dataDir: string): Promise<void> {
  const mountPoints = (await readFile("/proc/self/mountinfo", "utf8"))
    .split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .map((mp) =>
      mp.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8))),
    )
    .filter((mp) => mp === dataDir || mp.startsWith(`${dataDir}/`))
    .sort((a, b) => b.length - a.length);
  for (const mp of mountPoints) {
    await execFileAsync("umount", [mp]).catch(() =>
      execFileAsync("umount", ["-l", mp]).catch(() => undefined),
    );
  }
}

/** Undoes a failed engine start, leaving mosquitto (started alongside) alone. */
async function cleanUpEngineFiles(dataDir: string): Promise<void> {
  await killLeftovers(dataDir, join(dataDir, "exec"));
  await unmountUnder(dataDir);
  await rm(join(dataDir, "root"), { recursive: true, force: true });
  await rm(join(dataDir, "exec"), { recursive: true, force: true });
}

/** Teardown: force-removes containers via the API, stops both daemons by PID, unmounts, deletes. */
export async function destroyServices(dataDir: string): Promise<void> {
  let state: ServiceState | undefined;
  try {
    state = readState(dataDir);
  } catch {
    state = undefined;
  }
  const socketPath = join(dataDir, "docker.sock");
  if (state?.dockerdPid && isAlive(state.dockerdPid) && (await pingEngine(socketPath))) {
    const list = await engineRequest(socketPath, "GET", "/containers/json?all=1");
    const parsed = z.array(z.looseObject({ Id: z.string() })).safeParse(list.body);
    const ids = parsed.success ? parsed.data.map((c) => c.Id) : [];
    await Promise.all(
      ids.map((id) =>
        engineRequest(socketPath, "DELETE", `/containers/${id}?force=1&v=1`).catch(() => undefined),
      ),
    );
  }
  if (state?.dockerdPid) await stopPid(state.dockerdPid, dataDir, { graceMs: 15_000 });
  if (state?.mosquittoPid) await stopPid(state.mosquittoPid, dataDir, { graceMs: 5_000 });
  await killLeftovers(dataDir, dataDir);
  await unmountUnder(dataDir);
  await rm(dataDir, { recursive: true, force: true, maxRetries: 3 });
}

/** Removes what an earlier run left when it was killed before its teardown (its owner is gone). */
async function reapStale(): Promise<void> {
  const entries = await readdir("/tmp").catch(() => []);
  for (const entry of entries.filter((e) => e.startsWith("dmb-"))) {
    const dataDir = join("/tmp", entry);
    try {
      const { ownerPid } = readState(dataDir);
      if (ownerPid > 0 && !isAlive(ownerPid)) await destroyServices(dataDir);
    } catch {
      // not one of ours, or half-written: leave it
    }
  }
}

function settledValues<T extends readonly unknown[]>(
  results: {
    [K in keyof T]: PromiseSettledResult<T[K]>;
  },
): T {
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

export function printTail(logPath: string, lines = 30): void {
  try {
    const tail = readFileSync(logPath, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    console.error(`[e2e] last lines of ${logPath}:\n${tail}`);
  } catch {
    // no such log
  }
}

export function isCi(): boolean {
  return ["true", "1", "yes"].includes((process.env.CI ?? "").toLowerCase());
}

/** Starts the throwaway dockerd and mosquitto (also used by the benchmark), or says why it cannot. */
export async function startServices(): Promise<E2EContext> {
  if (process.platform !== "linux")
    return { available: false, reason: "a throwaway dockerd needs Linux." };
  if (process.getuid?.() !== 0) {
    return { available: false, reason: "not running as root, which a throwaway dockerd needs." };
  }
  const names = ["dockerd", "containerd", "runc", "mosquitto", "busybox", "tar"] as const;
  const found = new Map(names.map((name) => [name, findExecutable(name)]));
  const missing = names.filter((name) => found.get(name) === undefined);
  const dockerd = found.get("dockerd");
  const mosquitto = found.get("mosquitto");
  const busybox = ["/bin/busybox", found.get("busybox")].find(
    (path) => path !== undefined && existsSync(path) && isStaticElf(path),
  );
  if (missing.length > 0 || !dockerd || !mosquitto) {
    return {
      available: false,
      reason: `${missing.join(", ")} not found on PATH, /usr/sbin or /usr/bin (install with: bash scripts/install-test-deps.sh).`,
    };
  }
  if (!busybox) {
    return {
      available: false,
      reason: "busybox is not statically linked (install busybox-static).",
    };
  }
  await reapStale();
  const dataDir = await mkdtemp(DIR_PREFIX);
  updateState(dataDir, { ownerPid: process.pid });
  try {
    const port = await freePort();
    const confPath = join(dataDir, "mosquitto.conf");
    await writeFile(
      confPath,
      `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`,
    );
    const mosquittoArgv = [mosquitto, "-c", confPath];
    // allSettled: on a failure, nothing may still be starting when the catch below cleans up.
    const [engine, mosquittoPid, rootfs] = settledValues(
      await Promise.allSettled([
        startEngine(dataDir, dockerd),
        launchMosquitto(mosquittoArgv, dataDir, port),
        prepareRootfs(dataDir, busybox),
      ] as const),
    );
    const dockerSocket = join(dataDir, "docker.sock");
    await importTestImage(dockerSocket, rootfs);
    await rm(rootfs, { recursive: true, force: true });
    return {
      available: true,
      dataDir,
      dockerSocket,
      dockerHost: `unix://${dockerSocket}`,
      dockerdPid: engine.pid,
      dockerdArgv: engine.argv,
      storageDriver: engine.driver,
      mosquittoPort: port,
      mosquittoUrl: `mqtt://127.0.0.1:${port}`,
      mosquittoPid,
      mosquittoArgv,
      image: TEST_IMAGE,
      stateFile: stateFileOf(dataDir),
    };
  } catch (err: unknown) {
    // The dir and its logs are about to go: show why before they do.
    for (const log of ["dockerd.log", "mosquitto.log"]) printTail(join(dataDir, log));
    await destroyServices(dataDir);
    return { available: false, reason: err instanceof Error ? err.message : String(err) };
  }
}

export async function setup(project: TestProject): Promise<() => Promise<void>> {
  const startedAt = performance.now();
  const e2e = await startServices();
  project.provide("e2e", e2e);
  if (!e2e.available) {
    if (isCi()) {
      throw new Error(`CI=true but the end-to-end services cannot run here: ${e2e.reason}`);
    }
    console.warn(`[e2e] skipping end-to-end tests: ${e2e.reason}`);
    return async () => undefined;
  }
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
  console.info(
    `[e2e] dockerd (${e2e.storageDriver}) at ${e2e.dockerHost} and mosquitto on :${e2e.mosquittoPort} ready in ${seconds}s`,
  );
  return () => destroyServices(e2e.dataDir);
}
