// Idle cost, in #18's set-up: 50 containers, two of them with a healthcheck every second (three
// exec events per probe, no state change), for a fixed window; the bridge's CPU time over the
// window (/proc) and the MQTT messages it published in it (expected: none). Beside it, in the same
// window, a bridge with HTTP_PORT set (as the container image ships). Then, once the probes are
// gone, a bridge whose 50 containers have no events at all, beside an idle `node` (the floor), to
// separate the probes' cost from the cost of merely running; its RSS then is the steady RSS.
import type { BridgeProcess } from "../bridge-process.js";
import { cpuOf, freePort, STAT_RESOLUTION_S } from "../bridge-process.js";
import { sleep, until } from "../clock.js";
import type { BenchContext } from "../context.js";
import { EngineEvents } from "../engine-events.js";
import { Subscriber } from "../subscriber.js";
import { rssOf, spawnIdleNode } from "./floor.js";
import { ensureRealFleet, FLEET_SIZE, fleetName, HEALTHCHECKED } from "./startup.js";

/** CPU seconds over a window, as CPU seconds per minute (#18's unit for idle cost). */
const perMinute = (seconds: number, windowS: number) => (seconds / windowS) * 60;

export async function runIdle(ctx: BenchContext): Promise<void> {
  const windowS = ctx.options.quick ? 15 : 60;
  const broker = await ctx.freshBroker();
  let dockerHost: string;
  let socketPath: string;
  let prober: NodeJS.Timeout | undefined;
  let closeFake: (() => Promise<void>) | undefined;
  if (ctx.real) {
    await ensureRealFleet(ctx);
    dockerHost = ctx.real.dockerHost;
    socketPath = ctx.real.dockerSocket;
  } else {
    const engine = await ctx.fakeEngine();
    engine.seed(
      Array.from({ length: FLEET_SIZE }, (_, i) => ({
        name: fleetName(i),
        healthcheck: i < HEALTHCHECKED,
      })),
    );
    // Round-robin over the healthchecked ones: each once a second, as `--health-interval 1s`.
    let next = 0;
    prober = setInterval(() => {
      engine.healthProbe(fleetName(next % HEALTHCHECKED));
      next++;
    }, 1000 / HEALTHCHECKED);
    dockerHost = engine.dockerHost;
    socketPath = engine.socketPath ?? "";
    closeFake = () => ctx.closeEngine(engine);
  }
  const setup = ctx.setup(ctx.real ? "dockerd" : "fake", broker.kind);
  const sub = await Subscriber.connect(broker.url, ctx.clock, { filters: ["#"], keep: true });
  const plain = { hostId: "bench-idle", bridge: undefined as BridgeProcess | undefined };
  const http = { hostId: "bench-idle-http", bridge: undefined as BridgeProcess | undefined };

  let events: EngineEvents | undefined;
  try {
    plain.bridge = ctx.startBridge({ dockerHost, mqttUrl: broker.url, hostId: plain.hostId });
    http.bridge = ctx.startBridge({
      dockerHost,
      mqttUrl: broker.url,
      hostId: http.hostId,
      httpPort: await freePort(),
    });

    const statesOf = (host: string) =>
      new Set(
        sub.messages
          .filter((m) => m.topic.startsWith(`docker/${host}/containers/`))
          .map((m) => m.topic),
      ).size;
    await until(
      () => [plain, http].every((b) => statesOf(b.hostId) >= FLEET_SIZE),
      60_000,
      "both idle bridges to publish every state",
      50,
    );
    // The start-up cleanup runs 2 s after connecting, and V8 keeps compiling and collecting in
    // the background for several seconds after start-up: measure the steady state after 20 s.
    await sleep(ctx.options.quick ? 5000 : 20_000);
    await sub.quiet(1000, 30_000);
    events = await EngineEvents.open(socketPath, ctx.clock);
    sub.reset();
    const a0 = plain.bridge.cpu();
    const b0 = http.bridge.cpu();

    await sleep(windowS * 1000);
    const a1 = plain.bridge.cpu();
    const b1 = http.bridge.cpu();

    const probes = events.events.filter((e) => e.action === "exec_die").length;
    const ofHost = (host: string) =>
      sub.messages.filter(
        (m) => m.topic.startsWith(`docker/${host}/`) || m.topic.includes(`/dmb_${host}`),
      ).length;
    const samples = `${windowS} s window, ${FLEET_SIZE} containers (${HEALTHCHECKED} with a 1 s healthcheck), ${probes} probes (${probes * 3} exec events)`;
    const pct = (s: number) => (s / windowS) * 100;
    const sched = a1.schedSeconds - a0.schedSeconds;
    ctx.add({
      scenario: "idle, two 1 s healthchecks",
      name: "CPU (schedstat, all threads)",
      value: perMinute(sched, windowS),
      unit: "CPU s/min",
      samples,
      setup,
      target: "< 0.1",
      targetFrom: "#18",
      note: `${sched.toFixed(4)} CPU s in ${windowS} s = ${pct(sched).toFixed(3)}% of a core; main thread ${((a1.mainSeconds - a0.mainSeconds) * 1000).toFixed(0)} ms; utime+stime ${(a1.statSeconds - a0.statSeconds).toFixed(2)} s (resolution ${STAT_RESOLUTION_S * 1000} ms)`,
    });
    ctx.add({
      scenario: "idle, two 1 s healthchecks",
      name: "MQTT messages published",
      value: ofHost(plain.hostId),
      unit: "messages",
      samples,
      setup,
      target: "== 0",
      targetFrom: "#18",
    });
    ctx.add({
      scenario: "idle, two 1 s healthchecks",
      name: "CPU with HTTP_PORT set (as the image ships)",
      value: perMinute(b1.schedSeconds - b0.schedSeconds, windowS),
      unit: "CPU s/min",
      samples,
      setup,
      note: `schedstat; ${ofHost(http.hostId)} messages; /metrics never scraped in the window`,
    });
  } finally {
    if (prober) clearInterval(prober);
    events?.close();
    await sub.close();
    await Promise.all([plain.bridge?.stop(), http.bridge?.stop()]);
    await closeFake?.();
  }
}

/**
 * A bridge on 50 containers (fake engine) that never change: what merely running costs, beside
 * an idle `node` (the floor) over the same window; the bridge's RSS then is its steady RSS.
 */
export async function runIdleStill(ctx: BenchContext): Promise<void> {
  const windowS = ctx.options.quick ? 15 : 60;
  const broker = await ctx.freshBroker();
  const engine = await ctx.fakeEngine();
  engine.seed(
    Array.from({ length: FLEET_SIZE }, (_, i) => ({ name: fleetName(i), healthcheck: true })),
  );
  const sub = await Subscriber.connect(broker.url, ctx.clock, { filters: ["#"], keep: false });
  const bridge = ctx.startBridge({
    dockerHost: engine.dockerHost,
    mqttUrl: broker.url,
    hostId: "bench-still",
  });
  const idleNode = spawnIdleNode(ctx.node);
  try {
    await until(() => sub.count >= 2 * FLEET_SIZE, 60_000, "the still bridge's start-up", 50);
    await sleep(ctx.options.quick ? 5000 : 20_000);
    await sub.quiet(1000, 30_000);
    sub.reset();
    const idlePid = idleNode.pid ?? 0;
    const c0 = bridge.cpu();
    const f0 = cpuOf(idlePid);
    await sleep(windowS * 1000);
    const c1 = bridge.cpu();
    const f1 = cpuOf(idlePid);
    const main = (c1.mainSeconds - c0.mainSeconds) * 1000;
    const all = c1.schedSeconds - c0.schedSeconds;
    const floorAll = f1.schedSeconds - f0.schedSeconds;
    const ticks = Math.round((c1.statSeconds - c0.statSeconds) / STAT_RESOLUTION_S);
    const floorTicks = Math.round((f1.statSeconds - f0.statSeconds) / STAT_RESOLUTION_S);
    const samples = `${windowS} s window, ${FLEET_SIZE} containers without events`;
    const setup = ctx.setup("fake", broker.kind);
    const resolution = perMinute(STAT_RESOLUTION_S, windowS);
    ctx.add({
      scenario: "idle, no events",
      name: "CPU (schedstat, all threads)",
      value: perMinute(all, windowS),
      unit: "CPU s/min",
      samples,
      setup,
      // "Nothing measurable": within one tick of /proc/<pid>/stat (the resolution `top` and `ps`
      // see) over the window, above an idle Node measured beside it.
      floor: perMinute(floorAll, windowS),
      target: `<= floor + ${Number(resolution.toPrecision(3))}`,
      targetFrom: "#18",
      note: `#18 "nothing measurable", read as: within one ${STAT_RESOLUTION_S * 1000} ms tick of /proc/<pid>/stat over the window above the floor (an idle \`node -e "setTimeout(...)"\` in the same window: ${(floorAll * 1000).toFixed(1)} ms, ${floorTicks} ticks); the bridge: main thread ${main.toFixed(1)} ms, other threads ${(all * 1000 - main).toFixed(1)} ms, ${ticks} ticks; ${sub.count} messages (expected 0)`,
    });
    const memory = bridge.memory();
    ctx.add({
      scenario: "memory",
      name: "steady RSS, 50 containers",
      value: memory.rssMb,
      unit: "MiB",
      samples: `VmRSS after start-up, ${ctx.options.quick ? 5 : 20} s of settling and the ${windowS} s window`,
      setup,
      ...ctx.overFloor("steadyRssMiB", 15),
      note: `peak ${memory.peakRssMb.toFixed(1)} MiB; the idle node beside it: ${rssOf(idlePid).rssMiB.toFixed(1)} MiB`,
    });
  } finally {
    idleNode.kill("SIGKILL");
    await sub.close();
    await bridge.stop();
    await ctx.closeEngine(engine);
  }
}
