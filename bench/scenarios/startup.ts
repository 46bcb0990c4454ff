// Start-up: from spawning `node dist/main.js` to the last retained discovery and state message
// the separate subscriber (on `#`, on a broker holding nothing) receives, with the number of
// messages and bytes that took, and the bridge's peak RSS once it has settled. The 50-container
// figures are held against the floor (`node -e 0`, scenarios/floor.ts) as #18 asks.
import type { BridgeSpawn } from "../bridge-process.js";
import { until } from "../clock.js";
import type { BenchContext, Broker, Figure } from "../context.js";
import { Subscriber } from "../subscriber.js";

export const FLEET_SIZE = 50;
/** #18's set-up: of the 50 containers, two have a healthcheck every second. */
export const HEALTHCHECKED = 2;
export const fleetName = (i: number) => `bench-fleet-${String(i + 1).padStart(2, "0")}`;

/**
 * The real engine's 50 containers as #18 measured them: two with a healthcheck every second,
 * 48 without; waits until the two are healthy.
 */
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
          api.run(
            names.indexOf(name) < HEALTHCHECKED
              ? { name, cmd: ["sleep", "3600"], healthCmd: "true", healthIntervalMs: 1000 }
              : { name, cmd: ["sleep", "3600"] },
          ),
        ),
    );
  }
  await until(
    async () => {
      const states = await Promise.all(names.slice(0, HEALTHCHECKED).map((n) => api.inspect(n)));
      return states.every((s) => s.State.Health?.Status === "healthy");
    },
    60_000,
    `the ${HEALTHCHECKED} healthchecked containers to be healthy`,
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

type Targets = Pick<Figure, "target" | "targetFrom" | "floor">;

function report(
  ctx: BenchContext,
  label: string,
  count: number,
  setup: string,
  r: StartupResult,
  targets: { seconds?: Targets; rss?: Targets },
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
    ...targets.seconds,
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
    targetFrom: "bench",
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
    scenario: s,
    name: "bytes per container (default entities)",
    value: r.bytes / count,
    unit: "bytes",
    samples,
    setup,
    target: "<= 1,200",
    targetFrom: "#18",
    note: "all the subscriber got (topic + payload, host and availability included) over the container count; 1.2 kB = 1,200 bytes",
  });
  ctx.add({
    scenario: "memory",
    name: `peak RSS at start-up ${label}`,
    value: r.peakRssMb,
    unit: "MiB",
    samples: "VmHWM after start-up settled",
    setup,
    ...targets.rss,
    note: `RSS then ${r.rssMb.toFixed(1)} MiB`,
  });
}

/** Start-ups against the fake engine: 50 (to compare with the real engine), 1,000 and 5,000. */
export async function runStartups(ctx: BenchContext): Promise<void> {
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
      ...(count === 50
        ? { seconds: ctx.overFloor("startupS", 0.15), rss: ctx.overFloor("peakRssMiB", 20) }
        : {}),
      ...(count === 1000 ? { seconds: { target: "< 1", targetFrom: "#18" } } : {}),
      ...(count === 5000 ? { rss: { target: "< 80", targetFrom: "#18" } } : {}),
    });
  }
}

/**
 * Start-up against the real engine with #18's set-up: 50 running containers, two of them with a
 * healthcheck every second (the fleet the idle scenario then watches).
 */
export async function runRealStartup(ctx: BenchContext): Promise<void> {
  if (!ctx.real) return;
  await ensureRealFleet(ctx);
  const broker = await ctx.freshBroker();
  const r = await measureStartup(
    ctx,
    { dockerHost: ctx.real.dockerHost, hostId: "bench-s50-real", broker },
    FLEET_SIZE,
  );
  report(
    ctx,
    `50 (real engine, ${HEALTHCHECKED} healthchecks/s)`,
    FLEET_SIZE,
    ctx.setup("dockerd", broker.kind),
    r,
    { seconds: ctx.overFloor("startupS", 0.15), rss: ctx.overFloor("peakRssMiB", 20) },
  );
}

/** Removes the fleet, so that its containers and probes do not load what follows. */
export async function removeRealFleet(ctx: BenchContext): Promise<void> {
  const api = ctx.api;
  if (!api) return;
  await Promise.all(Array.from({ length: FLEET_SIZE }, (_, i) => api.rm(fleetName(i))));
}
