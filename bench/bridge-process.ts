// The bridge as a user runs it: `node dist/main.js` in its own process, configured by the
// environment. Reads its CPU time and memory from /proc, its counters from /metrics, and stops it
// by its PID (SIGTERM, then SIGKILL).
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import type { WallClock } from "./clock.js";

export const REPO = fileURLToPath(new URL("../../", import.meta.url));
export const MAIN = `${REPO}dist/main.js`;

const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface BridgeSpawn {
  dockerHost: string;
  mqttUrl: string;
  hostId: string;
  /** Serve /metrics on this port (0 or absent: no HTTP server, the default). */
  httpPort?: number;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeArgs?: string[];
  env?: Record<string, string>;
  /** The Node binary (default: the bench's own). */
  node?: string;
}

export interface CpuSample {
  /** utime + stime from /proc/<pid>/stat, in seconds (resolution 1/CLK_TCK). */
  statSeconds: number;
  /** Sum of the threads' /proc/<pid>/task/<tid>/schedstat run time, in seconds (ns resolution). */
  schedSeconds: number;
  /** The main (JavaScript) thread's share of schedSeconds; the rest is V8's and libuv's threads. */
  mainSeconds: number;
}

export interface MemorySample {
  /** VmRSS, MiB. */
  rssMb: number;
  /** VmHWM: the peak resident set size so far, MiB. */
  peakRssMb: number;
}

/** The CPU time of any process so far (the bridge, or the floor's idle Node). */
export function cpuOf(pid: number): CpuSample {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  let sched = 0;
  let main = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
      sched += ns;
      if (tid === String(pid)) main = ns;
    } catch {
      // the thread ended between readdir and read
    }
  }
  return { statSeconds: ticks / CLK_TCK, schedSeconds: sched / 1e9, mainSeconds: main / 1e9 };
}

/** /proc/<pid>/stat counts CPU time in ticks of this many seconds (1 / CLK_TCK). */
export const STAT_RESOLUTION_S = 1 / CLK_TCK;

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no free TCP port");
  return address.port;
}

export class BridgeProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Wall clock (ns) just before spawn(). */
  readonly spawnedAt: bigint;
  readonly httpPort: number | undefined;
  #output = "";
  #exit: Promise<number | null>;
  exited = false;

  private constructor(options: BridgeSpawn, clock: WallClock) {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      DOCKER_HOST: options.dockerHost,
      MQTT_URL: options.mqttUrl,
      DOCKER_HOST_ID: options.hostId,
      LOG_LEVEL: "warn",
      LOG_FORMAT: "json",
      ...(options.httpPort ? { HTTP_PORT: String(options.httpPort), HTTP_HOST: "127.0.0.1" } : {}),
      ...options.env,
    };
    this.spawnedAt = clock.nowNs();
    this.child = spawn(options.node ?? process.execPath, [...(options.nodeArgs ?? []), MAIN], {
      env,
      cwd: REPO,
      stdio: ["ignore", "pipe", "pipe"],
    });
    if (this.child.pid === undefined) throw new Error("bench: could not start the bridge");
    this.pid = this.child.pid;
    this.httpPort = options.httpPort;
    const keep = (chunk: Buffer) => {
      this.#output = (this.#output + chunk.toString("utf8")).slice(-8000);
    };
    this.child.stdout?.on("data", keep);
    this.child.stderr?.on("data", keep);
    this.#exit = new Promise((resolve) => {
      this.child.once("exit", (code) => {
        this.exited = true;
        resolve(code);
      });
    });
  }

  static start(options: BridgeSpawn, clock: WallClock): BridgeProcess {
    return new BridgeProcess(options, clock);
  }

  /** The bridge's last log lines (LOG_LEVEL=warn: only warnings and errors). */
  get output(): string {
    return this.#output;
  }

  cpu(): CpuSample {
    return cpuOf(this.pid);
  }

  memory(): MemorySample {
    const status = readFileSync(`/proc/${this.pid}/status`, "utf8");
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
    return { rssMb: kb("VmRSS") / 1024, peakRssMb: kb("VmHWM") / 1024 };
  }

  /** /metrics as name -> value, summed over labels (needs httpPort). */
  async metrics(): Promise<Map<string, number>> {
    if (!this.httpPort) throw new Error("bench: the bridge was started without HTTP_PORT");
    const res = await fetch(`http://127.0.0.1:${this.httpPort}/metrics`);
    const text = await res.text();
    const out = new Map<string, number>();
    for (const line of text.split("\n")) {
      if (line === "" || line.startsWith("#")) continue;
      const m = /^([a-zA-Z_:][\w:]*)(?:\{[^}]*\})?\s+(\S+)/.exec(line);
      if (!m?.[1] || m[2] === undefined) continue;
      out.set(m[1], (out.get(m[1]) ?? 0) + Number(m[2]));
    }
    return out;
  }

  /** One counter or gauge from /metrics, summed over its labels (0 when absent). */
  async metric(name: string): Promise<number> {
    return (await this.metrics()).get(name) ?? 0;
  }

  /** SIGTERM (a clean stop: the bridge publishes `offline`), SIGKILL after `graceMs`. */
  async stop(graceMs = 8000): Promise<number | null> {
    if (!this.exited) {
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => {
        if (!this.exited) this.child.kill("SIGKILL");
      }, graceMs);
      const code = await this.#exit;
      clearTimeout(timer);
      return code;
    }
    return this.#exit;
  }

  /** Throws with the bridge's output if it has exited. */
  assertRunning(): void {
    if (this.exited) throw new Error(`bench: the bridge exited early:\n${this.#output}`);
  }
}
