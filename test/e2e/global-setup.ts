// Vitest global set-up for the end-to-end tests: starts a throwaway dockerd and mosquitto in a fresh
// temp dir, imports a busybox test image, provides their addresses, and on teardown stops both by
// PID and removes every mount and file it made. Also exports the process primitives that
// services.ts uses to restart either service in place.
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
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
import { request as httpRequest } from "node:http";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { promisify } from "node:util";
import type { TestProject } from "vitest/node";
import { z } from "zod";

const execFileAsync = promisify(execFile);

export const TEST_IMAGE = "dmb-test/busybox:1";
/** Short on purpose: containerd's unix sockets live under the exec-root, and sun_path holds 108 bytes. */
const DIR_PREFIX = "/tmp/dmb-";
const SEARCH_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];
const CHILD_PATH = SEARCH_DIRS.join(":");

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

/** The PIDs of the running services: rewritten by every restart so teardown stops the right ones. */
const serviceStateSchema = z.object({
  ownerPid: z.number(),
  dockerdPid: z.number().nullable(),
  mosquittoPid: z.number().nullable(),
});
export type ServiceState = z.infer<typeof serviceStateSchema>;

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  what: string;
}

/** Polls `check` until it returns something other than undefined/false, or throws after the timeout. */
export async function waitFor<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  options: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const result = await check();
    if (result !== undefined && result !== false) return result;
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
}

export function stateFileOf(dataDir: string): string {
  return join(dataDir, "state.json");
}

export function readState(dataDir: string): ServiceState {
  return serviceStateSchema.parse(JSON.parse(readFileSync(stateFileOf(dataDir), "utf8")));
}

export function updateState(dataDir: string, change: Partial<ServiceState>): void {
  let current: ServiceState = { ownerPid: process.pid, dockerdPid: null, mosquittoPid: null };
  try {
    current = readState(dataDir);
  } catch (err: unknown) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const file = stateFileOf(dataDir);
  writeFileSync(`${file}.tmp`, JSON.stringify({ ...current, ...change }));
  renameSync(`${file}.tmp`, file);
}

/** Alive and not a zombie: the sandbox's PID 1 may never reap a daemon whose parent exited. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
  } catch {
    return "";
  }
}

/**
 * Stops one process by PID, only if its command line names `marker` (our temp dir), so a recycled
 * PID is never hit: `signal` first, SIGKILL after `graceMs`.
 */
export async function stopPid(
  pid: number,
  marker: string,
  options: { graceMs: number; signal?: NodeJS.Signals },
): Promise<void> {
  if (!isAlive(pid) || !cmdlineOf(pid).includes(marker)) return;
  process.kill(pid, options.signal ?? "SIGTERM");
  try {
    await waitFor(() => !isAlive(pid), { timeoutMs: options.graceMs, what: `PID ${pid} to exit` });
  } catch {
    if (isAlive(pid)) process.kill(pid, "SIGKILL");
    await waitFor(() => !isAlive(pid), { timeoutMs: 5_000, what: `PID ${pid} to die` });
  }
}

/** Starts a daemon in its own session, logging to `logPath`, not tied to this process's lifetime. */
function spawnDetached(argv: string[], logPath: string): { pid: number; exited: () => boolean } {
  const [command, ...args] = argv;
  if (command === undefined) throw new Error("empty argv");
  const log = openSync(logPath, "a");
  let hasExited = false;
  try {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: `${CHILD_PATH}:${process.env.PATH ?? ""}`,
    };
    delete env.NOTIFY_SOCKET;
    const child = spawn(command, args, { detached: true, stdio: ["ignore", log, log], env });
    child.on("exit", () => {
      hasExited = true;
    });
    child.on("error", () => {
      hasExited = true;
    });
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start ${command}`);
    return { pid: child.pid, exited: () => hasExited };
  } finally {
    closeSync(log);
  }
}

export interface EngineResponse {
  status: number;
  text: string;
  /** Parsed JSON when the answer is one JSON document, otherwise the text. */
  body: unknown;
}

/** One Engine API call over the unix socket, on a fresh connection (dockerd may have restarted). */
export function engineRequest(
  socketPath: string,
  method: string,
  path: string,
  options: { json?: unknown; stream?: Readable; contentType?: string; timeoutMs?: number } = {},
): Promise<EngineResponse> {
  const payload =
    options.json === undefined ? undefined : Buffer.from(JSON.stringify(options.json));
  const headers: Record<string, string | number> = {};
  if (payload !== undefined) {
    headers["content-type"] = "application/json";
    headers["content-length"] = payload.length;
  }
  if (options.stream) headers["content-type"] = options.contentType ?? "application/octet-stream";
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { socketPath, method, path, headers, agent: false, timeout: options.timeoutMs ?? 30_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let body: unknown = text;
          if ((res.headers["content-type"] ?? "").includes("json") && text.trim() !== "") {
            try {
              body = JSON.parse(text);
            } catch {
              body = text; // a progress stream: several JSON documents
            }
          }
          resolve({ status: res.statusCode ?? 0, text, body });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on("error", reject);
    if (options.stream) {
      options.stream.on("error", (err: Error) => req.destroy(err));
      options.stream.pipe(req);
    } else {
      req.end(payload);
    }
  });
}

export async function pingEngine(socketPath: string): Promise<boolean> {
  try {
    const res = await engineRequest(socketPath, "GET", "/_ping", { timeoutMs: 2_000 });
    return res.status === 200 && res.text === "OK";
  } catch {
    return false;
  }
}

function lastErrorLine(logPath: string): string {
  let lines: string[] = [];
  try {
    lines = readFileSync(logPath, "utf8")
      .split("\n")
      .filter((line) => line.trim() !== "");
  } catch {
    return "(no log)";
  }
  // dockerd's fatal error comes last, as a logrus line or as a plain one; grpc noise says "error" too.
  const line =
    lines.findLast((l) => l.includes("level=fatal")) ??
    lines.findLast((l) => !l.startsWith("time=") && /error|fail/i.test(l)) ??
    lines.findLast((l) => l.includes("level=error")) ??
    lines.at(-1) ??
    "";
  const msg = /msg="((?:[^"\\]|\\.)*)"/.exec(line)?.[1] ?? line;
  return msg.slice(0, 400);
}

/**
 * After a crash (SIGKILL) dockerd and its containerd linger as zombies until PID 1 reaps them, and
 * both take a pidfile whose PID still has a /proc entry for a live daemon: the new dockerd then
 * refuses to start, or waits on the dead containerd's socket. Dead or zombie PIDs lose their file.
 */
function removeStalePidfiles(dataDir: string): void {
  for (const file of [
    join(dataDir, "dockerd.pid"),
    join(dataDir, "exec", "containerd", "containerd.pid"),
  ]) {
    try {
      const pid = Number.parseInt(readFileSync(file, "utf8"), 10);
      if (!Number.isInteger(pid) || !isAlive(pid)) rmSync(file, { force: true });
    } catch {
      // no pidfile
    }
  }
}

/** Starts dockerd with exactly `argv` and waits until it answers /_ping; returns its PID. */
export async function launchDockerd(
  argv: string[],
  dataDir: string,
  socketPath: string,
): Promise<number> {
  const logPath = join(dataDir, "dockerd.log");
  removeStalePidfiles(dataDir);
  const child = spawnDetached(argv, logPath);
  try {
    await waitFor(
      async () => {
        if (child.exited() || !isAlive(child.pid)) {
          throw new Error(`dockerd exited: ${lastErrorLine(logPath)} (log: ${logPath})`);
        }
        return pingEngine(socketPath);
      },
      { timeoutMs: 30_000, intervalMs: 100, what: `dockerd to answer on ${socketPath}` },
    );
  } catch (err: unknown) {
    await stopPid(child.pid, dataDir, { graceMs: 5_000 });
    throw err;
  }
  updateState(dataDir, { dockerdPid: child.pid });
  return child.pid;
}

/** Starts mosquitto with exactly `argv` and waits until it accepts TCP connections; returns its PID. */
export async function launchMosquitto(
  argv: string[],
  dataDir: string,
  port: number,
): Promise<number> {
  const logPath = join(dataDir, "mosquitto.log");
  const child = spawnDetached(argv, logPath);
  const accepts = (): Promise<boolean> =>
    new Promise((resolve) => {
      const socket = connect({ host: "127.0.0.1", port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
  try {
    await waitFor(
      async () => {
        if (child.exited() || !isAlive(child.pid)) {
          throw new Error(`mosquitto exited: ${lastErrorLine(logPath)} (log: ${logPath})`);
        }
        return accepts();
      },
      { timeoutMs: 10_000, intervalMs: 50, what: `mosquitto to listen on 127.0.0.1:${port}` },
    );
  } catch (err: unknown) {
    await stopPid(child.pid, dataDir, { graceMs: 2_000 });
    throw err;
  }
  updateState(dataDir, { mosquittoPid: child.pid });
  return child.pid;
}

function findExecutable(name: string): string | undefined {
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
function isStaticElf(path: string): boolean {
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

async function prepareRootfs(dataDir: string, busybox: string): Promise<string> {
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

function printTail(logPath: string, lines = 30): void {
  try {
    const tail = readFileSync(logPath, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    console.error(`[e2e] last lines of ${logPath}:\n${tail}`);
  } catch {
    // no such log
  }
}

function isCi(): boolean {
  return ["true", "1", "yes"].includes((process.env.CI ?? "").toLowerCase());
}

async function startServices(): Promise<E2EContext> {
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
