// What an end-to-end test uses of the real dockerd and mosquitto that global-setup.ts started:
// the provided context, suites that skip with the reason when there are none, restarting either
// service in place (same argv, socket and port), and a small Engine API client.
import { readdirSync, readFileSync } from "node:fs";
import { describe, inject } from "vitest";
import { z } from "zod";
import {
  type EngineResponse,
  engineRequest,
  isAlive,
  launchDockerd,
  launchMosquitto,
  pingEngine,
  readState,
  stopPid,
  updateState,
  waitFor,
} from "./daemons.js";
import type { E2EContext, E2EServices } from "./global-setup.js";

export type { EngineResponse, WaitOptions } from "./daemons.js";
export { waitFor } from "./daemons.js";
export type { E2EContext, E2EServices } from "./global-setup.js";

export function e2eContext(): E2EContext {
  return inject("e2e");
}

/** The running services; throws with the reason when there are none (call it inside hooks/tests). */
export function e2eServices(): E2EServices {
  const ctx = e2eContext();
  if (!ctx.available) throw new Error(`e2e services are not available: ${ctx.reason}`);
  return ctx;
}

/**
 * `describe` when the services run, else `describe.skip` with the reason in the suite's name.
 * The one console line saying why is printed by the global set-up, once per run.
 */
export function describeE2E(name: string, factory: () => void): void {
  const ctx = e2eContext();
  if (ctx.available) describe(name, factory);
  else describe.skip(`${name} (skipped: ${ctx.reason})`, factory);
}

/** The PIDs now running: they change when a test restarts a service. */
export function currentPids(ctx: E2EServices): {
  dockerdPid: number | null;
  mosquittoPid: number | null;
} {
  const { dockerdPid, mosquittoPid } = readState(ctx.dataDir);
  return { dockerdPid, mosquittoPid };
}

/** Stops dockerd (SIGTERM: containers are stopped; SIGKILL: a crash) and waits until it is gone. */
export async function stopDockerd(
  ctx: E2EServices,
  signal: NodeJS.Signals = "SIGTERM",
): Promise<void> {
  const { dockerdPid } = currentPids(ctx);
  // A killed dockerd leaves its containerd running, which a new dockerd then waits on in vain:
  // a real crash is followed by the service manager cleaning up the unit the same way.
  const children = dockerdPid === null ? [] : childrenOf(dockerdPid, "containerd");
  if (dockerdPid !== null) await stopPid(dockerdPid, ctx.dataDir, { graceMs: 15_000, signal });
  if (signal === "SIGKILL") {
    for (const pid of children) await stopPid(pid, ctx.dataDir, { graceMs: 10_000 });
  }
  updateState(ctx.dataDir, { dockerdPid: null });
}

/** Live child processes of `parent` whose command name is `comm`. */
function childrenOf(parent: number, comm: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === parent && name === comm) out.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

/** Starts dockerd if an earlier test left it stopped, so one failure does not fail every suite. */
export async function ensureDockerd(ctx: E2EServices): Promise<void> {
  const { dockerdPid } = currentPids(ctx);
  if (dockerdPid !== null && isAlive(dockerdPid) && (await dockerApi(ctx).ping())) return;
  if (dockerdPid !== null && isAlive(dockerdPid)) await stopDockerd(ctx);
  await startDockerd(ctx);
}

/** Starts dockerd again with the same argv and waits for /_ping; returns the new PID. */
export async function startDockerd(ctx: E2EServices): Promise<number> {
  const { dockerdPid } = currentPids(ctx);
  if (dockerdPid !== null && isAlive(dockerdPid))
    throw new Error(`dockerd is still running (PID ${dockerdPid})`);
  return launchDockerd(ctx.dockerdArgv, ctx.dataDir, ctx.dockerSocket);
}

export async function restartDockerd(
  ctx: E2EServices,
  signal: NodeJS.Signals = "SIGTERM",
): Promise<number> {
  await stopDockerd(ctx, signal);
  return startDockerd(ctx);
}

export async function stopMosquitto(ctx: E2EServices): Promise<void> {
  const { mosquittoPid } = currentPids(ctx);
  if (mosquittoPid !== null) await stopPid(mosquittoPid, ctx.dataDir, { graceMs: 5_000 });
  updateState(ctx.dataDir, { mosquittoPid: null });
}

/** Starts mosquitto again on the same port; it keeps nothing (no persistence), like a fresh broker. */
export async function startMosquitto(ctx: E2EServices): Promise<number> {
  const { mosquittoPid } = currentPids(ctx);
  if (mosquittoPid !== null && isAlive(mosquittoPid)) {
    throw new Error(`mosquitto is still running (PID ${mosquittoPid})`);
  }
  return launchMosquitto(ctx.mosquittoArgv, ctx.dataDir, ctx.mosquittoPort);
}

export async function restartMosquitto(ctx: E2EServices): Promise<number> {
  await stopMosquitto(ctx);
  return startMosquitto(ctx);
}

export const containerInspectSchema = z.looseObject({
  Id: z.string(),
  Name: z.string(),
  RestartCount: z.number(),
  State: z.looseObject({
    Status: z.string(),
    Running: z.boolean(),
    Paused: z.boolean(),
    Restarting: z.boolean(),
    OOMKilled: z.boolean(),
    ExitCode: z.number(),
    StartedAt: z.string(),
    FinishedAt: z.string(),
    Health: z.looseObject({ Status: z.string() }).optional(),
  }),
  Config: z.looseObject({
    Image: z.string(),
    Labels: z.record(z.string(), z.string()).nullable(),
  }),
});
export type ContainerInspect = z.infer<typeof containerInspectSchema>;

export interface RunOptions {
  name: string;
  /** e.g. `["sh", "-c", "exit 3"]`; defaults to the image's `sh`. */
  cmd?: string[];
  labels?: Record<string, string>;
  env?: string[];
  /** Shell command for a CMD-SHELL health check. */
  healthCmd?: string;
  healthIntervalMs?: number;
  healthRetries?: number;
  restart?: "no" | "always" | "unless-stopped" | "on-failure";
  restartMaxRetries?: number;
  /** Seconds between SIGTERM and SIGKILL on stop; 1 by default so stops and engine restarts are quick
   * (busybox as PID 1 ignores SIGTERM). */
  stopTimeout?: number;
  memoryBytes?: number;
  image?: string;
  /** `docker run --rm`: the engine removes the container when it exits. */
  autoRemove?: boolean;
}

export interface DockerApi {
  request(method: string, path: string, body?: unknown): Promise<EngineResponse>;
  ping(): Promise<boolean>;
  /** Creates a container (network mode none, from the test image); returns its ID. */
  create(options: RunOptions): Promise<string>;
  /** Creates and starts; returns the ID. */
  run(options: RunOptions): Promise<string>;
  start(name: string): Promise<void>;
  stop(name: string, timeoutSeconds?: number): Promise<void>;
  restart(name: string, timeoutSeconds?: number): Promise<void>;
  kill(name: string, signal?: string): Promise<void>;
  pause(name: string): Promise<void>;
  unpause(name: string): Promise<void>;
  rename(name: string, newName: string): Promise<void>;
  inspect(name: string): Promise<ContainerInspect>;
  /** Waits (polling inspect) until the container is no longer running; returns its exit code. */
  waitForExit(name: string, timeoutMs?: number): Promise<number>;
  /** Force-removes with volumes; a container that is not there is fine. */
  rm(name: string): Promise<void>;
  /** Force-removes every container; returns how many. */
  /** Starts the engine again if needed, then force-removes every container. */
  removeAll(): Promise<number>;
}

function createBody(ctx: E2EServices, options: RunOptions): Record<string, unknown> {
  const body: Record<string, unknown> = {
    Image: options.image ?? ctx.image,
    Labels: options.labels ?? {},
    StopTimeout: options.stopTimeout ?? 1,
    HostConfig: {
      NetworkMode: "none",
      AutoRemove: options.autoRemove ?? false,
      RestartPolicy: {
        Name: options.restart ?? "no",
        MaximumRetryCount: options.restartMaxRetries ?? 0,
      },
      ...(options.memoryBytes === undefined
        ? {}
        : { Memory: options.memoryBytes, MemorySwap: options.memoryBytes }),
    },
  };
  if (options.cmd) body.Cmd = options.cmd;
  if (options.env) body.Env = options.env;
  if (options.healthCmd !== undefined) {
    const interval = (options.healthIntervalMs ?? 500) * 1_000_000;
    body.Healthcheck = {
      Test: ["CMD-SHELL", options.healthCmd],
      Interval: interval,
      Timeout: 5_000_000_000,
      Retries: options.healthRetries ?? 1,
      StartPeriod: 0,
    };
  }
  return body;
}

export function dockerApi(ctx: E2EServices): DockerApi {
  const request = (method: string, path: string, body?: unknown): Promise<EngineResponse> =>
    engineRequest(ctx.dockerSocket, method, path, body === undefined ? {} : { json: body });
  const expect = async (
    method: string,
    path: string,
    ok: number[],
    body?: unknown,
  ): Promise<EngineResponse> => {
    const res = await request(method, path, body);
    if (!ok.includes(res.status)) {
      throw new Error(`${method} ${path} answered ${res.status}: ${res.text.trim().slice(0, 300)}`);
    }
    return res;
  };
  const id = (name: string): string => encodeURIComponent(name);
  const api: DockerApi = {
    request,
    ping: () => pingEngine(ctx.dockerSocket),
    async create(options) {
      const path = `/containers/create?name=${id(options.name)}`;
      const res = await expect("POST", path, [201], createBody(ctx, options));
      return z.object({ Id: z.string() }).parse(res.body).Id;
    },
    async run(options) {
      const containerId = await api.create(options);
      await api.start(containerId);
      return containerId;
    },
    async start(name) {
      await expect("POST", `/containers/${id(name)}/start`, [204, 304]);
    },
    async stop(name, timeoutSeconds) {
      const query = timeoutSeconds === undefined ? "" : `?t=${timeoutSeconds}`;
      await expect("POST", `/containers/${id(name)}/stop${query}`, [204, 304]);
    },
    async restart(name, timeoutSeconds) {
      const query = timeoutSeconds === undefined ? "" : `?t=${timeoutSeconds}`;
      await expect("POST", `/containers/${id(name)}/restart${query}`, [204]);
    },
    async kill(name, signal = "SIGKILL") {
      await expect("POST", `/containers/${id(name)}/kill?signal=${signal}`, [204]);
    },
    async pause(name) {
      await expect("POST", `/containers/${id(name)}/pause`, [204]);
    },
    async unpause(name) {
      await expect("POST", `/containers/${id(name)}/unpause`, [204]);
    },
    async rename(name, newName) {
      await expect("POST", `/containers/${id(name)}/rename?name=${id(newName)}`, [204]);
    },
    async inspect(name) {
      const res = await expect("GET", `/containers/${id(name)}/json`, [200]);
      return containerInspectSchema.parse(res.body);
    },
    async waitForExit(name, timeoutMs = 15_000) {
      const state = await waitFor(
        async () => {
          const { State } = await api.inspect(name);
          return !State.Running && !State.Restarting && State.Status !== "created"
            ? State
            : undefined;
        },
        { timeoutMs, what: `container ${name} to exit` },
      );
      return state.ExitCode;
    },
    async rm(name) {
      await expect("DELETE", `/containers/${id(name)}?force=1&v=1`, [204, 404]);
    },
    async removeAll() {
      // Every suite starts here: bring the engine back if an earlier test left it down.
      await ensureDockerd(ctx);
      const res = await expect("GET", "/containers/json?all=1", [200]);
      const ids = z
        .array(z.looseObject({ Id: z.string() }))
        .parse(res.body)
        .map((c) => c.Id);
      await Promise.all(ids.map((containerId) => api.rm(containerId)));
      return ids.length;
    },
  };
  return api;
}
