// The floor every figure is held against (#18): what the same Node binary the bridge runs on costs
// by itself, measured first in the same run. `node -e 0` spawn to exit (median of 10), its peak
// RSS (VmHWM read from /proc/self/status as it exits), and the RSS of an idle Node process
// (a pending timer, nothing else) after it has settled.
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { REPO } from "../bridge-process.js";
import { percentile, sleep } from "../clock.js";
import type { BenchContext } from "../context.js";

/** The floor's values, in the units of the figures compared with them. */
export interface Floor {
  /** `node -e 0`, spawn to exit, seconds (median). */
  startupS: number;
  /** `node -e 0`'s VmHWM, MiB (median). */
  peakRssMiB: number;
  /** An idle Node process's VmRSS after settling, MiB. */
  steadyRssMiB: number;
  /** The Node binary measured, and its version. */
  node: string;
  version: string;
}

/** Reads VmHWM as the script ends: the process's own peak, nothing else loaded. */
const PEAK_SCRIPT =
  "process.stdout.write(/VmHWM:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status','utf8'))[1])";
/** Does nothing but keep the event loop alive, as an idle bridge would. */
export const IDLE_SCRIPT = "setTimeout(() => {}, 1e9)";

/**
 * The packages the bridge is built on, loaded as the bridge loads them (undici's Agent through the
 * bridge's own http-agent module, zod's v3 API) with main.ts's V8 settings, and nothing else: the
 * part of start-up time and memory no change to the bridge's own code can remove.
 */
const PACKAGES_SCRIPT = [
  'import "mqtt"; import "./dist/docker/http-agent.js"; import "zod/v3"; import "pino"; import "convict";',
  'import { readFileSync } from "node:fs";',
  "process.stdout.write(/VmHWM:\\s+(\\d+)/.exec(readFileSync('/proc/self/status','utf8'))[1]);",
].join("\n");
const MAIN_FLAGS = ["--semi-space-growth-factor=1", "--liftoff-only"];

/** VmRSS and VmHWM of a process, MiB. */
export function rssOf(pid: number): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
  return { rssMiB: kb("VmRSS") / 1024, peakMiB: kb("VmHWM") / 1024 };
}

/** Spawns an idle Node process (the floor for steady memory and idle CPU); kill it when done. */
export function spawnIdleNode(node: string) {
  const child = spawn(node, ["-e", IDLE_SCRIPT], { stdio: "ignore" });
  if (child.pid === undefined) throw new Error("bench: could not start an idle node");
  return child;
}

export async function runFloor(ctx: BenchContext): Promise<void> {
  const node = ctx.node;
  const runs = ctx.options.quick ? 5 : 10;
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    execFileSync(node, ["-e", "0"], { stdio: "ignore" });
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const peaks: number[] = [];
  for (let i = 0; i < 5; i++) {
    peaks.push(Number(execFileSync(node, ["-e", PEAK_SCRIPT], { encoding: "utf8" })) / 1024);
  }
  const packageTimes: number[] = [];
  const packagePeaks: number[] = [];
  for (let i = 0; i < (ctx.options.quick ? 3 : 5); i++) {
    const t0 = process.hrtime.bigint();
    const args = [...MAIN_FLAGS, "--input-type=module", "-e", PACKAGES_SCRIPT];
    const kb = execFileSync(node, args, { cwd: REPO, encoding: "utf8" });
    packageTimes.push(Number(process.hrtime.bigint() - t0) / 1e9);
    packagePeaks.push(Number(kb) / 1024);
  }
  packageTimes.sort((a, b) => a - b);
  packagePeaks.sort((a, b) => a - b);
  const settleS = ctx.options.quick ? 2 : 5;
  const idle = spawnIdleNode(node);
  let steady: { rssMiB: number; peakMiB: number };
  try {
    await sleep(settleS * 1000);
    steady = rssOf(idle.pid ?? 0);
  } finally {
    idle.kill("SIGKILL");
  }
  const version = execFileSync(node, ["--version"], { encoding: "utf8" }).trim();
  times.sort((a, b) => a - b);
  peaks.sort((a, b) => a - b);
  const floor: Floor = {
    startupS: percentile(times, 50),
    peakRssMiB: percentile(peaks, 50),
    steadyRssMiB: steady.rssMiB,
    node,
    version,
  };
  ctx.floor = floor;
  const setup = `Node ${version} alone (${node})`;
  ctx.add({
    scenario: "floor",
    name: "`node -e 0`, spawn to exit",
    value: floor.startupS,
    unit: "s",
    samples: `median of ${runs}`,
    setup,
    note: `min ${times[0]?.toFixed(3)} s, max ${times.at(-1)?.toFixed(3)} s: what Node costs before the bridge's first line runs`,
  });
  ctx.add({
    scenario: "floor",
    name: "`node -e 0`, peak RSS (VmHWM)",
    value: floor.peakRssMiB,
    unit: "MiB",
    samples: `median of ${peaks.length}`,
    setup,
    note: "read from /proc/self/status as the script ends",
  });
  const packagesSetup = `Node ${version}: mqtt, undici's Agent, zod/v3, pino, convict`;
  ctx.add({
    scenario: "floor",
    name: "the bridge's packages alone: spawn to exit",
    value: percentile(packageTimes, 50),
    unit: "s",
    samples: `median of ${packageTimes.length}`,
    setup: packagesSetup,
    note: "loading what the bridge is built on, with main.ts's V8 settings, and nothing else",
  });
  ctx.add({
    scenario: "floor",
    name: "the bridge's packages alone: peak RSS (VmHWM)",
    value: percentile(packagePeaks, 50),
    unit: "MiB",
    samples: `median of ${packagePeaks.length}`,
    setup: packagesSetup,
    note: "the part of the bridge's memory its own code cannot remove",
  });
  ctx.add({
    scenario: "floor",
    name: "idle Node process, steady RSS (VmRSS)",
    value: floor.steadyRssMiB,
    unit: "MiB",
    samples: `1 process, after ${settleS} s`,
    setup,
    note: `\`node -e "${IDLE_SCRIPT}"\`; its VmHWM ${steady.peakMiB.toFixed(1)} MiB`,
  });
}
