// Memory over a long run: a million events streamed fast with a few engine stream cuts (the
// bridge reconnects and resumes with `since`); RSS and V8 heap at the start, middle and end.
import { percentile } from "../clock.js";
import type { BenchContext } from "../context.js";
import { type MemorySample, pump, startStream, stopStream } from "./stream.js";

export async function runSoak(ctx: BenchContext): Promise<void> {
  const total = ctx.options.quick ? 100_000 : 1_000_000;
  const cutAfter = [0.2, 0.4, 0.6, 0.8].map((f) => Math.round(total * f));
  const s = await startStream(ctx, "bench-soak");
  const setup = ctx.setup("fake", s.broker.kind);
  try {
    const before = s.bridge.memory();
    const heap0 = ((await s.bridge.metrics()).get("nodejs_heap_size_used_bytes") ?? 0) / 2 ** 20;
    // Leave 30 s for the rest of the run's teardown.
    const deadline = ctx.deadline - 30_000;
    const r = await pump(ctx, s, total, { cutAfter, deadline });
    const reconnects = (await s.bridge.metrics()).get("docker_mqtt_bridge_engine_reconnects_total");
    const at = (fraction: number): MemorySample | undefined => {
      const goal = r.received * fraction;
      return r.samples.reduce<MemorySample | undefined>(
        (best, x) =>
          best === undefined || Math.abs(x.received - goal) < Math.abs(best.received - goal)
            ? x
            : best,
        undefined,
      );
    };
    const mid = at(0.5);
    const end = r.samples.at(-1);
    const samples = `${r.received.toLocaleString("en-US")} events${r.capped ? ` (capped by the 10-minute budget; ${total.toLocaleString("en-US")} planned)` : ""}, ${r.cuts} stream cuts, ${reconnects ?? 0} reconnects`;
    const rssList = r.samples.map((x) => x.rssMb).sort((a, b) => a - b);
    for (const [name, sample, rss, heap] of [
      ["RSS at start of soak", undefined, before.rssMb, heap0],
      ["RSS at middle of soak", mid, mid?.rssMb, mid?.heapUsedMb],
      ["RSS at end of soak", end, end?.rssMb, end?.heapUsedMb],
    ] as const) {
      ctx.add({
        scenario: "memory",
        name,
        value: rss ?? null,
        unit: "MiB",
        samples,
        setup,
        note: `V8 heap used ${heap?.toFixed(1) ?? "?"} MiB${sample ? ` after ${sample.received.toLocaleString("en-US")} events` : ", before the first event"}`,
      });
    }
    // Flat (#18): the second half's highest RSS is within 5% of the first half's.
    const half = r.received / 2;
    const maxOf = (list: MemorySample[]) => Math.max(...list.map((x) => x.rssMb));
    const first = maxOf(r.samples.filter((x) => x.received <= half));
    const second = maxOf(r.samples.filter((x) => x.received > half));
    ctx.add({
      scenario: "memory",
      name: "RSS growth over the soak (max of 2nd half vs 1st half)",
      value: ((second - first) / first) * 100,
      unit: "%",
      samples,
      setup,
      target: "<= 5",
      targetFrom: "#18",
      note: `highest RSS ${first.toFixed(1)} MiB in the first half, ${second.toFixed(1)} MiB in the second`,
    });
    ctx.add({
      scenario: "memory",
      name: "peak RSS over the soak",
      value: end?.peakRssMb ?? null,
      unit: "MiB",
      samples,
      setup,
      note: `RSS sampled once a second: median ${percentile(rssList, 50).toFixed(1)} MiB, min ${rssList[0]?.toFixed(1)} MiB, max ${rssList.at(-1)?.toFixed(1)} MiB`,
    });
  } finally {
    await stopStream(ctx, s);
  }
}
