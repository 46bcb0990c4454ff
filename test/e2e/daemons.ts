// Process and Engine-socket primitives for the throwaway dockerd and mosquitto: a state file
// of their PIDs, stopping a PID only if it is ours, starting a daemon detached and waiting until it
// answers, and one Engine API call over the unix socket. global-setup.ts starts and tears down the
// services with these; services.ts restarts them in place.
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { z } from "zod";

export const SEARCH_DIRS = [
  "/usr/local/sbin",
  "/usr/local/bin",
  "/usr/sbin",
  "/usr/bin",
  "/sbin",
  "/bin",
];
export const CHILD_PATH = SEARCH_DIRS.join(":");

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

export function cmdlineOf(pid: number): string {
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
  options: {
    json?: unknown;
    stream?: Readable;
    contentType?: string;
    timeoutMs?: number;
    headers?: Record<string, string>;
  } = {},
): Promise<EngineResponse> {
  const payload =
    options.json === undefined ? undefined : Buffer.from(JSON.stringify(options.json));
  const headers: Record<string, string | number> = { ...options.headers };
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
