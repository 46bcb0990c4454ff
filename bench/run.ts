// `npm run bench`: measures the built bridge (dist/main.js) as a whole process against a real
// dockerd and Mosquitto when this machine can start them (root, docker.io, mosquitto,
// busybox-static), else against the fake engine and aedes; prints a table and writes
// bench/results/latest.json. Flags: --quick (smaller samples), --profile (CPU profiles of the
// bridge during the 5,000-container start-up and the throughput run), --only=a,b (lifecycle,
// startup, throughput, idle, idle-still, soak, stats), --stats-window=SECONDS (the statistics
// scenario's window, 60 by default), --fake (no real engine even if possible), --no-nice,
// --node=PATH (the Node binary that runs the bridge and the floor; `bash scripts/node24.sh` prints
// Node 24's), and the experiment --nodelay-shim (TCP_NODELAY on the bridge's broker socket; not
// the bridge as shipped). The floor (`node -e 0`, see scenarios/floor.ts) always runs first.
// A complete run writes bench/results/latest.json (with --node: node<major>.json); a partial or
// altered one writes bench/results/partial.json instead (or --out=FILE).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { loadavg, setPriority, tmpdir } from "node:os";
import { join } from "node:path";
import { dockerApi } from "../test/e2e/services.js";
import { MAIN, REPO } from "./bridge-process.js";
import { CLOCK_NOTE, WallClock } from "./clock.js";
import { BenchContext, type BenchOptions } from "./context.js";
import { PEERS } from "./peers.js";
import { summarise } from "./profile-summary.js";
import {
  destroyRealServices,
  type RealServices,
  startRealServices,
  unavailableReason,
} from "./real-services.js";
import { machine, settle, table, writeJson } from "./report.js";
import { runFloor } from "./scenarios/floor.js";
import { runIdle, runIdleStill } from "./scenarios/idle.js";
import { runLifecycle } from "./scenarios/lifecycle.js";
import { runSoak } from "./scenarios/soak.js";
import { removeRealFleet, runRealStartup, runStartups } from "./scenarios/startup.js";
import { runStats } from "./scenarios/stats.js";
import { runThroughput } from "./scenarios/throughput.js";

/** The whole run, build included, must stay under 10 minutes. */
const BUDGET_MS = 9 * 60_000;

/**
 * In this order: the real engine's 50 healthchecks a second (start-up 50 real, idle) would load
 * the machine under the other scenarios, so they run together and their containers go after.
 */
const SCENARIOS: [string, (ctx: BenchContext) => Promise<void>][] = [
  ["floor", runFloor],
  ["lifecycle", runLifecycle],
  ["startup", runStartups],
  ["throughput", runThroughput],
  [
    "idle",
    async (ctx) => {
      try {
        await runRealStartup(ctx);
        await runIdle(ctx);
      } finally {
        await removeRealFleet(ctx);
      }
    },
  ],
  ["idle-still", runIdleStill],
  ["soak", runSoak],
  ["stats", (ctx) => runStats(ctx, statsWindow(process.argv.slice(2)))],
];

/** --stats-window=SECONDS: the statistics scenario's window (default 60 s; 300 shows heartbeats). */
function statsWindow(argv: string[]): number | undefined {
  const value = argv.find((a) => a.startsWith("--stats-window="))?.slice("--stats-window=".length);
  return value ? Number(value) : undefined;
}

function parseOptions(
  argv: string[],
): BenchOptions & { nice: boolean; fake: boolean; bridgeArgs: string[]; out: string | undefined } {
  const only = argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);
  const node = argv.find((a) => a.startsWith("--node="))?.slice("--node=".length);
  return {
    ...(node ? { node } : {}),
    quick: argv.includes("--quick"),
    profile: argv.includes("--profile"),
    // Every figure is held against the floor: it runs whatever --only says.
    only: only ? new Set(["floor", ...only.split(",")]) : undefined,
    nice: !argv.includes("--no-nice"),
    fake: argv.includes("--fake"),
    out: argv.find((a) => a.startsWith("--out="))?.slice("--out=".length),
    bridgeArgs: argv.includes("--nodelay-shim")
      ? ["--import", join(REPO, "bench", "shims", "nodelay.mjs")]
      : [],
  };
}

/**
 * On a shared machine other work would stretch every wall-clock figure. As root, the bench runs
 * at nice -10, and everything it starts (bridge, dockerd, mosquitto) inherits that.
 */
function raisePriority(enabled: boolean): string {
  if (!enabled) return "normal (--no-nice)";
  try {
    setPriority(-10);
    return "nice -10 (bench, bridge, dockerd, mosquitto)";
  } catch {
    return "normal (cannot raise priority)";
  }
}

/** The compiled fake engine reads its captures from ../fixtures, relative to itself. */
function linkFixtures(): void {
  const link = join(REPO, ".bench", "test", "fixtures");
  if (!existsSync(link)) symlinkSync(join(REPO, "test", "fixtures"), link);
}

async function main(): Promise<number> {
  const startedAt = Date.now();
  const loadAtStart = loadavg();
  const git = (args: string[]) => {
    try {
      return execFileSync("git", args, { cwd: REPO, encoding: "utf8" }).trim();
    } catch {
      return "";
    }
  };
  // What was built and measured: the commit, and whether src/ differed from it.
  const source = {
    commit: git(["rev-parse", "--short", "HEAD"]) || "unknown",
    uncommittedChangesInSrc: git(["status", "--porcelain", "--", "src"]) !== "",
  };
  const options = parseOptions(process.argv.slice(2));
  const priority = raisePriority(options.nice);
  // Every temp dir the fake engines make goes under one dir of ours, removed at the end.
  const tempRoot = mkdtempSync(join(tmpdir(), "dmb-bench-tmp-"));
  process.env.TMPDIR = tempRoot;
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build first`);
  const bridgeNode = options.node ?? process.execPath;
  const bridgeNodeVersion = execFileSync(bridgeNode, ["--version"], { encoding: "utf8" }).trim();
  linkFixtures();
  const clock = new WallClock();
  const profileDir = options.profile
    ? join(REPO, ".bench", "profiles")
    : join(tempRoot, "profiles");
  mkdirSync(profileDir, { recursive: true });
  const reason = options.fake ? "--fake given" : unavailableReason();
  let real: RealServices | undefined;
  let fallback = reason;
  const log = (m: string) => process.stderr.write(`[bench] ${m}\n`);
  if (reason === undefined) {
    log("starting a throwaway dockerd and mosquitto");
    try {
      real = await startRealServices();
    } catch (err: unknown) {
      fallback = `the real services did not start: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  if (fallback) log(`no real engine (${fallback}): using the fake engine and aedes everywhere`);
  const ctx = new BenchContext({
    clock,
    real,
    api: real ? dockerApi(real) : undefined,
    options,
    profileDir,
    deadline: startedAt + BUDGET_MS - 45_000,
  });
  const stop = (signal: string) => {
    log(`${signal}: cleaning up`);
    void ctx
      .cleanup()
      .then(() => (real ? destroyRealServices(real.dataDir) : undefined))
      .then(() => rmSync(tempRoot, { recursive: true, force: true }))
      .finally(() => process.exit(130));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const errors: { scenario: string; error: string }[] = [];
  const timings: { scenario: string; seconds: number; loadAverage1mAtStart: number }[] = [];
  try {
    for (const [name, run] of SCENARIOS) {
      if (options.only && !options.only.has(name)) continue;
      const t0 = Date.now();
      const load1 = loadavg()[0] ?? 0;
      log(`${name}...`);
      try {
        await run(ctx);
      } catch (err: unknown) {
        const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
        errors.push({ scenario: name, error: message });
        log(`${name} failed: ${message}`);
        await ctx.cleanup();
      }
      const seconds = Math.round((Date.now() - t0) / 100) / 10;
      timings.push({
        scenario: name,
        seconds,
        loadAverage1mAtStart: Math.round(load1 * 100) / 100,
      });
      log(`${name} took ${seconds} s`);
    }
  } finally {
    await ctx.cleanup();
    if (real) {
      log("stopping dockerd and mosquitto");
      await destroyRealServices(real.dataDir);
    }
    rmSync(tempRoot, { recursive: true, force: true });
  }
  settle(ctx.figures);
  const kernel = execFileSync("uname", ["-sr"], { encoding: "utf8" }).trim();

  const result = {
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
    date: new Date(startedAt).toISOString(),
    ...source,
    durationSeconds: Math.round((Date.now() - startedAt) / 1000),
    machine: machine(kernel, loadAtStart),
    scenarios: timings,
    loadAverageAtEnd: loadavg().map((l) => Math.round(l * 100) / 100),
    // The bridge and the floor run on `node`; the bench itself (fake engine, aedes, subscriber)
    // on `benchNode`.
    node: bridgeNodeVersion,
    nodePath: bridgeNode,
    benchNode: process.version,
    engine: real
      ? `real: dockerd ${real.dockerVersion} (${real.storageDriver}), mosquitto ${real.mosquittoVersion}, loopback / unix socket`
      : `fake engine and aedes (${fallback})`,
    clock: CLOCK_NOTE,
    priority,
    options: {
      quick: options.quick,
      profile: options.profile,
      ...(options.bridgeArgs.length > 0
        ? { experiment: "--nodelay-shim: TCP_NODELAY forced on the bridge's MQTT socket" }
        : {}),
    },
    figures: ctx.figures,
    errors,
    peers: PEERS,
  };
  // Only a complete, unaltered run replaces latest.json (the figures the README quotes).
  const partial =
    options.only !== undefined ||
    options.quick ||
    options.profile ||
    options.bridgeArgs.length > 0 ||
    statsWindow(process.argv.slice(2)) !== undefined;
  const out =
    options.out ??
    join(
      REPO,
      "bench",
      "results",
      partial
        ? "partial.json"
        : options.node
          ? `node${bridgeNodeVersion.replace(/^v(\d+).*/, "$1")}.json`
          : "latest.json",
    );
  writeJson(out, result);
  process.stdout.write(
    `\ndocker-mqtt-bridge bench, ${result.date}, bridge and floor on Node ${result.node} (${bridgeNode}), bench on ${result.benchNode}\n`,
  );
  process.stdout.write(
    `${result.machine.cpu}, ${result.machine.cores} cores, ${result.machine.memoryGb} GB, ${kernel}; load average ${result.machine.loadAverageAtStart.join(" ")} at start, ${result.loadAverageAtEnd.join(" ")} at end\n`,
  );
  process.stdout.write(`engine: ${result.engine}; priority: ${priority}\n`);
  if (options.bridgeArgs.length > 0) {
    process.stdout.write("EXPERIMENT --nodelay-shim: not the bridge as shipped\n");
  }
  process.stdout.write(`\n${table(ctx.figures)}\n`);
  if (errors.length > 0)
    process.stdout.write(
      `\n${errors.length} scenario(s) failed: ${errors.map((e) => e.scenario).join(", ")}\n`,
    );
  if (options.profile) {
    for (const file of readdirSync(profileDir).filter((f) => f.endsWith(".cpuprofile"))) {
      process.stdout.write(`\n${summarise(join(profileDir, file))}\n`);
    }
  }
  process.stdout.write(`\nwritten: ${out} (${result.durationSeconds} s)\n`);
  return errors.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
