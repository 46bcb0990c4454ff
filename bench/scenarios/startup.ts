// Start-up: from spawning `node dist/main.js` to the last retained discovery and state message
// the separate subscriber (on `#`, on a broker holding nothing) receives, with the number of
// messages and bytes that took, and the bridge's peak RSS once it has settled.
import { execFileSync } from "node:child_process";
import type { BridgeSpawn } from "../bridge-process.js";
import { percentile, until } from "../clock.js";
import type { BenchContext, Broker } from "../context.js";
import { Subscriber } from "../subscriber.js";

export const FLEET_SIZE = 50;
export const fleetName = (i: number) => `bench-fleet-${String(i + 1).padStart(2, "0")}`;

/** The real engine's 50 containers, each with a healthcheck every second; waits until healthy. */
export async function ensureRealFleet(ctx: BenchContext): Promise<void> {
  const api = ctx.api;
  if (!api) return;
  const names = Array.from({ length: FLEET_SIZE }, (_, i) => fleetName(i));
  const existing = await api.request("GET", "/containers/json?all=1");
  const have = new Set(
    (existing.body as { Names: string[] }[]).flatMap((c) => c.Names.map((n) => n.slice(1))),
  );
  for (let i = 0; i < names.length; i += 10) {
    await Promise.all(
      names
        .slice(i, i + 10)
        .filter((n) => !have.has(n))
        .map((name) =>
          api.run({ name, cmd: ["sleep", "3600"], healthCmd: "true", healthIntervalMs: 1000 }),
        ),
    );
  }
  await until(
    async () => {
      const states = await Promise.all(names.map((n) => api.inspect(n)));
      return states.every((s) => s.State.Health?.Status === "healthy");
    },
    60_000,
    "the 50 containers to be healthy",
    500,
  );
}

export interface StartupResult {
  seconds: number;
  firstMessageSeconds: number;
  messages: number;
  bytes: number;
  peakRssMb: number;
  rssMb: number;
  /** The bridge's CPU time from spawn until it had settled (less sensitive to a busy machine). */
  cpuSeconds: number;
}

/** One start-up of a bridge against `dockerHost`, which holds `count` running containers. */
export async function measureStartup(
  ctx: BenchContext,
  spawn: Omit<BridgeSpawn, "mqttUrl"> & { broker: Broker },
  count: number,
): Promise<StartupResult> {
  const { broker, ...rest } = spawn;
  ctx.clock.anchor();
  const sub = await Subscriber.connect(broker.url, ctx.clock, { filters: ["#"], keep: true });
  await sub.quiet(200, 10_000);
  sub.reset();
  const states = new Set<string>();
  const devices = new Set<string>();
  const statePrefix = `docker/${spawn.hostId}/containers/`;
  const devicePrefix = `homeassistant/device/dmb_${spawn.hostId}__`;
  sub.on((m) => {
    if (m.topic.startsWith(statePrefix) && m.topic.endsWith("/state")) states.add(m.topic);
    else if (m.topic.startsWith(devicePrefix)) devices.add(m.topic);
  });
  const bridge = ctx.startBridge({ ...rest, mqttUrl: broker.url });
  try {
    await until(
      () => {
        bridge.assertRunning();
        return states.size >= count && devices.size >= count;
      },
      120_000,
      `discovery and state of ${count} containers`,
      5,
    );
    await sub.quiet(1500, 60_000);
    const memory = bridge.memory();
    const cpu = bridge.cpu();
    const first = sub.messages[0]?.at ?? bridge.spawnedAt;
    return {
      seconds: Number(sub.lastAt - bridge.spawnedAt) / 1e9,
      firstMessageSeconds: Number(first - bridge.spawnedAt) / 1e9,
      messages: sub.count,
      bytes: sub.bytes,
      peakRssMb: memory.peakRssMb,
      rssMb: memory.rssMb,
      cpuSeconds: cpu.schedSeconds,
    };
  } finally {
    await bridge.stop();
    await sub.close();
  }
}

function report(
  ctx: BenchContext,
  label: string,
  count: number,
  setup: string,
  r: StartupResult,
  targets: { seconds?: string; rss?: string },
): void {
  const samples = `1 start-up, ${count.toLocaleString("en-US")} containers`;
  const s = `start-up ${label}`;
  ctx.add({
    scenario: s,
    name: "spawn -> last discovery/state message",
    value: r.seconds,
    unit: "s",
    samples,
    setup,
    ...(targets.seconds ? { target: targets.seconds } : {}),
    note: `first message after ${r.firstMessageSeconds.toFixed(3)} s (Node start-up, imports, config, connects)`,
  });
  ctx.add({
    scenario: s,
    name: "bridge CPU time for it",
    value: r.cpuSeconds,
    unit: "CPU s",
    samples,
    setup,
    note: "schedstat, all threads, spawn to settled",
  });
  ctx.add({
    scenario: s,
    name: "MQTT messages",
    value: r.messages,
    unit: "messages",
    samples,
    setup,
  });
  ctx.add({
    scenario: s,
    name: "messages per container",
    value: r.messages / count,
    unit: "messages",
    samples,
    setup,
    target: "<= 3",
  });
  ctx.add({
    scenario: s,
    name: "MQTT bytes (topic + payload)",
    value: r.bytes,
    unit: "bytes",
    samples,
    setup,
  });
  ctx.add({
    scenario: "memory",
    name: `peak RSS, ${count.toLocaleString("en-US")} containers (${label})`,
    value: r.peakRssMb,
    unit: "MB",
    samples: "VmHWM after start-up settled",
    setup,
    ...(targets.rss ? { target: targets.rss } : {}),
    note: `RSS then ${r.rssMb.toFixed(1)} MB`,
  });
}

/** For reference: how long a bare `node -e 0` takes on this machine right now (median of 5). */
function nodeBaseline(ctx: BenchContext): void {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = process.hrtime.bigint();
    execFileSync(process.execPath, ["-e", "0"]);
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  ctx.add({
    scenario: "start-up",
    name: "reference: bare `node -e 0`, spawn to exit",
    value: percentile(
      times.sort((a, b) => a - b),
      50,
    ),
    unit: "s",
    samples: "median of 5",
    setup: "no engine, no broker",
    note: "what Node itself costs before the bridge's first line runs",
  });
}

/** Start-ups against the fake engine: 50 (to compare with the real engine), 1,000 and 5,000. */
export async function runStartups(ctx: BenchContext): Promise<void> {
  nodeBaseline(ctx);
  const counts = ctx.options.quick ? [50, 1000] : [50, 1000, 5000];
  for (const count of counts) {
    const engine = await ctx.fakeEngine();
    engine.seed(
      Array.from({ length: count }, (_, i) => ({ name: `bench-c${i + 1}`, healthcheck: true })),
    );
    const broker = await ctx.freshBroker();
    const profile = ctx.options.profile && count === counts.at(-1);
    const r = await measureStartup(
      ctx,
      {
        dockerHost: engine.dockerHost,
        hostId: `bench-s${count}`,
        broker,
        ...(profile ? { nodeArgs: ctx.profileArgs(`startup-${count}`) } : {}),
      },
      count,
    );
    await ctx.closeEngine(engine);
    const label = `${count.toLocaleString("en-US")}${ctx.real ? " (fake engine)" : ""}`;
    report(ctx, label, count, ctx.setup("fake", broker.kind), r, {
      ...(count === 50 ? { seconds: "< 0.1", rss: "< 45" } : {}),
      ...(count === 1000 ? { seconds: "< 1" } : {}),
      ...(count === 5000 ? { rss: "< 80" } : {}),
    });
  }
}

/**
 * Start-up against the real engine: 50 running containers without healthchecks (the comparable
 * case), then the idle scenario's 50 whose healthchecks fire every second (on this 2-core machine
 * those probes alone keep the CPUs busy, which shows in the wall-clock figure).
 */
export async function runRealStartup(ctx: BenchContext): Promise<void> {
  const api = ctx.api;
  if (!ctx.real || !api) return;
  const plain = Array.from({ length: FLEET_SIZE }, (_, i) => `bench-plain-${i + 1}`);
  try {
    for (let i = 0; i < plain.length; i += 10) {
      await Promise.all(
        plain.slice(i, i + 10).map((name) => api.run({ name, cmd: ["sleep", "3600"] })),
      );
    }
    const broker = await ctx.freshBroker();
    const r = await measureStartup(
      ctx,
      { dockerHost: ctx.real.dockerHost, hostId: "bench-s50-real", broker },
      FLEET_SIZE,
    );
    report(ctx, "50 (real engine)", FLEET_SIZE, ctx.setup("dockerd", broker.kind), r, {
      seconds: "< 0.1",
      rss: "< 45",
    });
  } finally {
    await Promise.all(plain.map((name) => api.rm(name)));
  }
  await ensureRealFleet(ctx);
  const broker = await ctx.freshBroker();
  const r = await measureStartup(
    ctx,
    { dockerHost: ctx.real.dockerHost, hostId: "bench-s50-hc", broker },
    FLEET_SIZE,
  );
  report(
    ctx,
    "50 (real engine, 50 healthchecks/s)",
    FLEET_SIZE,
    ctx.setup("dockerd", broker.kind),
    r,
    {},
  );
}

/** Removes the fleet: its 50 healthchecks a second load this small machine for what follows. */
export async function removeRealFleet(ctx: BenchContext): Promise<void> {
  const api = ctx.api;
  if (!api) return;
  await Promise.all(Array.from({ length: FLEET_SIZE }, (_, i) => api.rm(fleetName(i))));
}
