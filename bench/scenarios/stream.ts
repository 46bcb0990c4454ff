// Throughput and the soak: a fake engine streams pre-serialised lifecycle events (see
// event-corpus.ts) to the bridge as fast as it reads them. Flow control is end to end: at most
// WINDOW events are written ahead of the bridge's own events_received counter (/metrics), so
// the bridge never waits for input and the bench never buffers without bound.
import type { FakeEngine } from "../../test/helpers/fake-engine.js";
import { type BridgeProcess, freePort } from "../bridge-process.js";
import { sleep, until } from "../clock.js";
import { type BenchContext, type Broker, stateTopic, statusOf } from "../context.js";
import { type CorpusContainer, EventCorpus } from "../event-corpus.js";
import { Subscriber } from "../subscriber.js";

const CONTAINERS = 300;
const WINDOW = 20_000;
const CHUNK = 500;
const RECEIVED = "docker_mqtt_bridge_events_received_total";

export interface MemorySample {
  received: number;
  rssMb: number;
  peakRssMb: number;
  heapUsedMb: number;
}

export interface StreamSetup {
  engine: FakeEngine;
  broker: Broker;
  bridge: BridgeProcess;
  corpus: EventCorpus;
  sentinel: CorpusContainer;
  sub: Subscriber;
  hostId: string;
}

/** A fake engine with 300 containers with healthchecks (plus a sentinel) and a bridge on it. */
export async function startStream(
  ctx: BenchContext,
  hostId: string,
  nodeArgs: string[] = [],
): Promise<StreamSetup> {
  const engine = await ctx.fakeEngine();
  const seeds = Array.from({ length: CONTAINERS }, (_, i) => ({
    name: `bench-t${String(i + 1).padStart(3, "0")}`,
    healthcheck: true,
  }));
  engine.seed([...seeds, { name: "bench-final" }]);
  const toCorpus = (name: string): CorpusContainer => {
    const c = engine.container(name);
    if (!c) throw new Error(`bench: no container ${name}`);
    return { id: c.id, name: c.name, image: c.image };
  };
  const corpus = await EventCorpus.load(
    seeds.map((s) => toCorpus(s.name)),
    ctx.clock,
  );
  const broker = await ctx.freshBroker();
  const sub = await Subscriber.connect(broker.url, ctx.clock, {
    filters: [stateTopic(hostId, "bench-final")],
    keep: false,
  });
  const running = sub.next((m) => statusOf(m.payload).status === "running", 60_000, "start-up");
  const bridge = ctx.startBridge({
    dockerHost: engine.dockerHost,
    mqttUrl: broker.url,
    hostId,
    httpPort: await freePort(),
    nodeArgs,
  });
  await running;
  await until(() => engine.openEventStreams > 0, 10_000, "the bridge's event stream");
  // Past the start-up cleanup (2 s after connecting), so only the stream is measured.
  await sleep(2500);
  return { engine, broker, bridge, corpus, sentinel: toCorpus("bench-final"), sub, hostId };
}

export interface PumpResult {
  emitted: number;
  received: number;
  capped: boolean;
  cuts: number;
  samples: MemorySample[];
  firstWriteAt: bigint;
  /** When the sentinel's state message arrived. */
  endAt: bigint;
}

/**
 * Streams `total` events (then the sentinel), cutting the engine's streams after each count in
 * `cutAfter`, and stops early at `deadline` (Date.now() ms). Samples memory about once a second.
 */
export async function pump(
  ctx: BenchContext,
  s: StreamSetup,
  total: number,
  options: { cutAfter?: number[]; deadline: number },
): Promise<PumpResult> {
  const cuts = [...(options.cutAfter ?? [])];
  const samples: MemorySample[] = [];
  let received = await s.bridge.metric(RECEIVED);
  const base = received;
  let polling = true;
  let lastSample = 0;
  const poller = (async () => {
    while (polling) {
      const m = await s.bridge.metrics().catch(() => undefined);
      if (m) {
        received = m.get(RECEIVED) ?? received;
        if (Date.now() - lastSample >= 1000) {
          lastSample = Date.now();
          const mem = s.bridge.memory();
          samples.push({
            received: received - base,
            rssMb: mem.rssMb,
            peakRssMb: mem.peakRssMb,
            heapUsedMb: (m.get("nodejs_heap_size_used_bytes") ?? 0) / 2 ** 20,
          });
        }
      }
      await sleep(100);
    }
  })();
  const startEmitted = s.corpus.emitted;
  const done = () => s.corpus.emitted - startEmitted;
  const waitReceived = (n: number) =>
    until(() => received - base >= n, 120_000, `the bridge to read ${n} events`, 10);
  let cutCount = 0;
  let capped = false;
  ctx.clock.anchor();
  const firstWriteAt = ctx.clock.nowNs();
  try {
    while (done() < total) {
      if (Date.now() > options.deadline) {
        capped = true;
        break;
      }
      const nextCut = cuts[0];
      if (nextCut !== undefined && done() >= nextCut) {
        cuts.shift();
        // Let the bridge read everything written, then cut: nothing is lost in the cut.
        await waitReceived(done());
        const reopened = s.engine.waitForEventStream();
        await s.engine.cutStreams();
        await reopened;
        cutCount++;
        continue;
      }
      if (done() - (received - base) < WINDOW) {
        s.engine.emitRaw(s.corpus.chunk(Math.min(CHUNK, total - done())));
        await new Promise((r) => setImmediate(r));
      } else {
        await sleep(5);
      }
    }
    const end = s.sub.next((m) => statusOf(m.payload).exit_code === 42, 120_000, "the sentinel");
    s.engine.emitRaw(s.corpus.sentinel(s.sentinel));
    const endAt = (await end).at;
    await waitReceived(done());
    polling = false;
    await poller;
    const mem = s.bridge.memory();
    const m = await s.bridge.metrics();
    samples.push({
      received: received - base,
      rssMb: mem.rssMb,
      peakRssMb: mem.peakRssMb,
      heapUsedMb: (m.get("nodejs_heap_size_used_bytes") ?? 0) / 2 ** 20,
    });
    return {
      emitted: done(),
      received: received - base,
      capped,
      cuts: cutCount,
      samples,
      firstWriteAt,
      endAt,
    };
  } finally {
    polling = false;
    await poller;
  }
}

export async function stopStream(ctx: BenchContext, s: StreamSetup): Promise<void> {
  await s.sub.close();
  await s.bridge.stop();
  await ctx.closeEngine(s.engine);
}
