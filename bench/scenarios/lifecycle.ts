// Latency and burst: one bridge follows one engine; containers are stopped and started, and each
// transition is timed from the engine's own event time (`timeNano` on the bench's parallel
// /events stream) to the moment the separate subscriber receives the bridge's retained state
// message showing the new status.
import mqtt from "mqtt";
import type { FakeEngine } from "../../test/helpers/fake-engine.js";
import { compareBig, nsToMs, percentile, sleep } from "../clock.js";
import { type BenchContext, stateTopic, statusOf } from "../context.js";
import { EngineEvents } from "../engine-events.js";
import { Subscriber } from "../subscriber.js";

const HOST = "bench-life";
const LATENCY_NAME = "bench-lat";
const TIMEOUT_MS = 20_000;
const HOP_TOPIC = "bench/hop";

/**
 * The broker hop alone: another client publishes a retained QoS 1 message, as the bridge does,
 * and the subscriber receives it. Part of every latency figure, whatever the bridge does.
 */
async function measureHop(
  ctx: BenchContext,
  url: string,
  sub: Subscriber,
  broker: string,
): Promise<number> {
  const client = await mqtt.connectAsync(url, {
    clientId: `bench-hop-${process.pid}`,
    reconnectPeriod: 0,
  });
  const hops: number[] = [];
  try {
    for (let i = 0; i < 40; i++) {
      const arrived = sub.next(
        (m) => m.topic === HOP_TOPIC && m.payload.toString() === String(i),
        TIMEOUT_MS,
        "hop",
      );
      const sent = ctx.clock.nowNs();
      await client.publishAsync(HOP_TOPIC, String(i), { qos: 1, retain: true });
      hops.push(nsToMs((await arrived).at - sent));
      await sleep(10);
    }
    await client.publishAsync(HOP_TOPIC, "", { qos: 1, retain: true });
  } finally {
    await client.endAsync();
  }
  const sorted = hops.sort((a, b) => a - b);
  ctx.add({
    scenario: "latency",
    name: "broker hop alone, p50 (floor)",
    value: percentile(sorted, 50),
    unit: "ms",
    samples: `${hops.length} messages`,
    setup: broker,
    note: `a client publishes retained QoS 1, the subscriber receives it; max ${sorted.at(-1)?.toFixed(2)} ms: part of every latency figure`,
  });
  return percentile(sorted, 50);
}

interface Ops {
  stop(name: string): Promise<void>;
  start(name: string): Promise<void>;
  kill(name: string): Promise<void>;
}

export async function runLifecycle(ctx: BenchContext): Promise<void> {
  const cycles = ctx.options.quick ? 5 : 20;
  const rounds = ctx.options.quick ? 1 : 3;
  const burstNames = Array.from(
    { length: 20 },
    (_, i) => `bench-burst-${String(i + 1).padStart(2, "0")}`,
  );
  const names = [LATENCY_NAME, ...burstNames];
  const broker = await ctx.freshBroker();
  const realEngine = ctx.real !== undefined && ctx.api !== undefined;
  const setup = ctx.setup(realEngine ? "dockerd" : "fake", broker.kind);
  let ops: Ops;
  let socketPath: string;
  let dockerHost: string;
  let fake: FakeEngine | undefined;
  if (ctx.real && ctx.api) {
    const api = ctx.api;
    await Promise.all(names.map((name) => api.rm(name)));
    await Promise.all(names.map((name) => api.run({ name, cmd: ["sleep", "3600"] })));
    ops = {
      stop: (name) => api.stop(name, 0),
      start: (name) => api.start(name),
      kill: (name) => api.kill(name, "SIGKILL"),
    };
    socketPath = ctx.real.dockerSocket;
    dockerHost = ctx.real.dockerHost;
  } else {
    const engine = await ctx.fakeEngine();
    fake = engine;
    engine.seed(names.map((name) => ({ name })));
    ops = {
      stop: async (name) => engine.stop(name),
      start: async (name) => engine.start(name),
      kill: async (name) => engine.kill(name, 9),
    };
    socketPath = engine.socketPath ?? "";
    dockerHost = engine.dockerHost;
  }
  ctx.clock.anchor();
  const events = await EngineEvents.open(socketPath, ctx.clock);
  const sub = await Subscriber.connect(broker.url, ctx.clock, {
    filters: [stateTopic(HOST, "+"), HOP_TOPIC],
    keep: false,
  });
  const status = new Map<string, string>();
  sub.on((m) => status.set(m.topic, statusOf(m.payload).status ?? ""));
  const hopMs = await measureHop(ctx, broker.url, sub, setup.replace(/^.* \+ /, ""));
  const bridge = ctx.startBridge({
    dockerHost,
    mqttUrl: broker.url,
    hostId: HOST,
    ...(ctx.options.profile ? { nodeArgs: ctx.profileArgs("lifecycle") } : {}),
  });
  try {
    const allRunning = () => names.every((n) => status.get(stateTopic(HOST, n)) === "running");
    const startDeadline = Date.now() + TIMEOUT_MS;
    while (!allRunning()) {
      bridge.assertRunning();
      if (Date.now() > startDeadline)
        throw new Error("bench: the bridge never published all states");
      await sleep(20);
    }
    await sub.quiet(500, TIMEOUT_MS);

    /** End to end minus the engine's delivery and the broker hop, per latency event. */
    const own: number[] = [];
    /** timeNano -> the bench's own /events stream has the line: what the engine itself adds. */
    const delivery: number[] = [];
    /** Waits for a container's engine event and its state message; register before acting. */
    const expect = (name: string, action: string, want: string) => {
      const topic = stateTopic(HOST, name);
      const event = events.next(
        (e) => e.name === name && e.action === action,
        TIMEOUT_MS,
        `${action} of ${name}`,
      );
      const message = sub.next(
        (m) => m.topic === topic && statusOf(m.payload).status === want,
        TIMEOUT_MS,
        `${name} ${want}`,
      );
      return Promise.all([event, message]).then(([e, m]) => {
        const deliveryMs = nsToMs(e.receivedAt - e.timeNano);
        delivery.push(deliveryMs);
        return { eventNs: e.timeNano, messageAt: m.at, deliveryMs };
      });
    };
    const latencyOf = async (
      name: string,
      action: string,
      want: string,
      op: () => Promise<void>,
    ) => {
      const pending = expect(name, action, want);
      await op();
      const t = await pending;
      const total = nsToMs(t.messageAt - t.eventNs);
      // The bridge's own share: what is left once the engine's delivery of this very event and
      // the broker hop (its p50) are taken out.
      own.push(total - t.deliveryMs - hopMs);
      return total;
    };

    // 1. Latency: stop/start cycles of one container.
    const die: number[] = [];
    const start: number[] = [];
    for (let i = 0; i < cycles; i++) {
      die.push(await latencyOf(LATENCY_NAME, "die", "exited", () => ops.stop(LATENCY_NAME)));
      await sleep(50);
      start.push(await latencyOf(LATENCY_NAME, "start", "running", () => ops.start(LATENCY_NAME)));
      await sleep(50);
    }
    const sorted = (list: number[]) => [...list].sort((a, b) => a - b);
    const all = sorted([...die, ...start]);
    const n = `${all.length} events (${cycles} stop/start cycles)`;
    const note = `die p50 ${percentile(sorted(die), 50).toFixed(2)} ms, start p50 ${percentile(sorted(start), 50).toFixed(2)} ms`;
    ctx.add({
      scenario: "latency",
      name: "p50, end to end",
      value: percentile(all, 50),
      unit: "ms",
      samples: n,
      setup,
      target: "<= 1.50",
      targetFrom: "#18",
      note: `${note}; the target is the fastest peer's p50 (skullydazed/docker2mqtt) from #18's table, measured there on this machine, not in this run (no peer runs here)`,
    });
    ctx.add({
      scenario: "latency",
      name: "p90",
      value: percentile(all, 90),
      unit: "ms",
      samples: n,
      setup,
    });
    ctx.add({
      scenario: "latency",
      name: "max",
      value: all.at(-1) ?? null,
      unit: "ms",
      samples: n,
      setup,
    });
    const ownSorted = sorted(own);
    ctx.add({
      scenario: "latency",
      name: "bridge's own share, p50",
      value: percentile(ownSorted, 50),
      unit: "ms",
      samples: n,
      setup,
      target: "< 0.3",
      targetFrom: "#18",
      note: `per event: end to end minus that event's engine delivery minus the broker hop's p50 (${hopMs.toFixed(3)} ms)`,
    });
    ctx.add({
      scenario: "latency",
      name: "bridge's own share, max",
      value: ownSorted.at(-1) ?? null,
      unit: "ms",
      samples: n,
      setup,
      target: "< 2",
      targetFrom: "#18",
      note: `p90 ${percentile(ownSorted, 90).toFixed(3)} ms; a scheduling hiccup of the machine lands here too`,
    });
    ctx.log(`latency: ${all.map((v) => v.toFixed(2)).join(" ")}`);
    const floor = sorted(delivery);
    ctx.add({
      scenario: "latency",
      name: "engine's own delivery, p50 (floor)",
      value: percentile(floor, 50),
      unit: "ms",
      samples: n,
      setup,
      note: `timeNano -> the bench's own GET /events stream reads the line, max ${floor.at(-1)?.toFixed(2)} ms: part of every latency above, before the bridge sees the event`,
    });

    // 2. Burst: 20 containers killed at once (parallel requests); last die -> last state message.
    const tails: number[] = [];
    const spreads: number[] = [];
    for (let r = 0; r < rounds; r++) {
      if (r > 0) {
        const running = burstNames.map((name) => expect(name, "start", "running"));
        await Promise.all(burstNames.map((name) => ops.start(name)));
        await Promise.all(running);
      }
      await sub.quiet(300, TIMEOUT_MS);
      const pending = burstNames.map((name) => expect(name, "die", "exited"));
      await Promise.all(burstNames.map((name) => ops.kill(name)));
      const done = await Promise.all(pending);
      const dies = done.map((t) => t.eventNs).sort(compareBig);
      const lastDie = dies.at(-1) ?? 0n;
      const firstDie = dies[0] ?? 0n;
      const lastMessage =
        done
          .map((t) => t.messageAt)
          .sort(compareBig)
          .at(-1) ?? 0n;
      tails.push(nsToMs(lastMessage - lastDie));
      spreads.push(nsToMs(lastDie - firstDie));
    }
    const b = `${rounds} burst${rounds > 1 ? "s" : ""} x 20 containers`;
    ctx.add({
      scenario: "burst",
      name: "tail (median of bursts)",
      value: percentile(sorted(tails), 50),
      unit: "ms",
      samples: b,
      setup,
      target: "< 2",
      targetFrom: "bench",
      note: `each burst: ${tails.map((t) => t.toFixed(2)).join(", ")} ms; the 20 die events spread over ${spreads.map((s) => s.toFixed(0)).join(", ")} ms`,
    });
    ctx.add({
      scenario: "burst",
      name: "tail (worst burst)",
      value: Math.max(...tails),
      unit: "ms",
      samples: b,
      setup,
    });
  } finally {
    events.close();
    await sub.close();
    await bridge.stop();
    if (fake) await ctx.closeEngine(fake);
    const api = ctx.api;
    if (api) await Promise.all(names.map((name) => api.rm(name)));
  }
}
