// Idle cost: 50 containers whose healthchecks fire every second (three exec events per probe, no
// state change) for a fixed window; the bridge's CPU time over the window (/proc) and the MQTT
// messages it published in it (expected: none). Beside it, in the same window, a bridge with
// HTTP_PORT set (as the container image ships). Then, once the probes are gone, a bridge whose 50
// containers have no events at all, to separate the probes' cost from the cost of merely running.
import type { BridgeProcess } from "../bridge-process.js";
import { freePort } from "../bridge-process.js";
import { sleep, until } from "../clock.js";
import type { BenchContext } from "../context.js";
import { EngineEvents } from "../engine-events.js";
import { Subscriber } from "../subscriber.js";
import { ensureRealFleet, FLEET_SIZE, fleetName } from "./startup.js";

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
      Array.from({ length: FLEET_SIZE }, (_, i) => ({ name: fleetName(i), healthcheck: true })),
    );
    // One probe every 20 ms, round-robin: each container once a second, as `--health-interval 1s`.
    let next = 0;
    prober = setInterval(() => {
      engine.healthProbe(fleetName(next % FLEET_SIZE));
      next++;
    }, 1000 / FLEET_SIZE);
    dockerHost = engine.dockerHost;
    socketPath = engine.socketPath ?? "";
    closeFake = () => ctx.closeEngine(engine);
  }
  const setup = ctx.setup(ctx.real ? "dockerd" : "fake", broker.kind);
  const quietEngine = await ctx.fakeEngine();
  quietEngine.seed(
    Array.from({ length: FLEET_SIZE }, (_, i) => ({ name: fleetName(i), healthcheck: true })),
  );
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
    const samples = `${windowS} s window, ${FLEET_SIZE} containers, ${probes} healthcheck probes (${probes * 3} exec events)`;
    const pct = (s: number) => (s / windowS) * 100;
    ctx.add({
      scenario: "idle",
      name: "CPU, utime+stime",
      value: pct(a1.statSeconds - a0.statSeconds),
      unit: "% of a core",
      samples,
      setup,
      target: "< 0.03",
      note: `${(a1.statSeconds - a0.statSeconds).toFixed(2)} CPU s; /proc/<pid>/stat resolution 10 ms = ${pct(0.01).toFixed(3)}%`,
    });
    ctx.add({
      scenario: "idle",
      name: "CPU, schedstat (ns resolution)",
      value: pct(a1.schedSeconds - a0.schedSeconds),
      unit: "% of a core",
      samples,
      setup,
      target: "< 0.03",
      note: `${(a1.schedSeconds - a0.schedSeconds).toFixed(4)} CPU s, all threads; main thread ${((a1.mainSeconds - a0.mainSeconds) * 1000).toFixed(0)} ms`,
    });
    ctx.add({
      scenario: "idle",
      name: "MQTT messages published",
      value: ofHost(plain.hostId),
      unit: "messages",
      samples,
      setup,
      target: "== 0",
    });
    ctx.add({
      scenario: "idle",
      name: "CPU with HTTP_PORT set (as the image ships)",
      value: pct(b1.schedSeconds - b0.schedSeconds),
      unit: "% of a core",
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

/** A bridge on 50 containers (fake engine) that never change: what merely running costs. */
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
  try {
    await until(() => sub.count >= 2 * FLEET_SIZE, 60_000, "the still bridge's start-up", 50);
    await sleep(ctx.options.quick ? 5000 : 20_000);
    await sub.quiet(1000, 30_000);
    sub.reset();
    const c0 = bridge.cpu();
    await sleep(windowS * 1000);
    const c1 = bridge.cpu();
    const main = (c1.mainSeconds - c0.mainSeconds) * 1000;
    const all = (c1.schedSeconds - c0.schedSeconds) * 1000;
    ctx.add({
      scenario: "idle",
      name: "CPU with no events at all",
      value: (all / 1000 / windowS) * 100,
      unit: "% of a core",
      samples: `${windowS} s window, ${FLEET_SIZE} containers without events`,
      setup: ctx.setup("fake", broker.kind),
      target: "< 0.03",
      note: `schedstat: main thread ${main.toFixed(1)} ms, other threads ${(all - main).toFixed(1)} ms; ${sub.count} messages (expected 0)`,
    });
  } finally {
    await sub.close();
    await bridge.stop();
    await ctx.closeEngine(engine);
  }
}
