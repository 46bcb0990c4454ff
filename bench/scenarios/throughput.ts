// Throughput: events per second from the first line written to the sentinel's state message,
// and the bridge's CPU time per 10,000 events.
import { readFileSync } from "node:fs";
import { readState } from "../../test/e2e/daemons.js";
import type { BenchContext } from "../context.js";
import { CYCLE_LENGTH, STATE_CHANGES_PER_CYCLE } from "../event-corpus.js";
import { pump, startStream, stopStream } from "./stream.js";

/** Mosquitto's CPU seconds so far (utime + stime), when it is ours to read. */
function brokerCpu(ctx: BenchContext): number | undefined {
  if (!ctx.real) return undefined;
  try {
    const pid = readState(ctx.real.dataDir).mosquittoPid;
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

export async function runThroughput(ctx: BenchContext): Promise<void> {
  const total = ctx.options.quick ? 50_000 : 200_000;
  const s = await startStream(
    ctx,
    "bench-tput",
    ctx.options.profile ? ctx.profileArgs("throughput") : [],
  );
  const setup = ctx.setup("fake", s.broker.kind);
  try {
    const m0 = await s.bridge.metrics();
    const cpu0 = s.bridge.cpu();
    const bench0 = process.cpuUsage();
    const broker0 = brokerCpu(ctx);
    const r = await pump(ctx, s, total, { deadline: Math.min(ctx.deadline, Date.now() + 90_000) });
    const cpu1 = s.bridge.cpu();
    const bench1 = process.cpuUsage(bench0);
    const broker1 = brokerCpu(ctx);
    const m1 = await s.bridge.metrics();
    const delta = (name: string) => (m1.get(name) ?? 0) - (m0.get(name) ?? 0);
    const seconds = Number(r.endAt - r.firstWriteAt) / 1e9;
    const events = r.emitted + 1;
    const samples = `${events.toLocaleString("en-US")} events, 300 containers${r.capped ? " (capped by time)" : ""}`;
    const published = delta("docker_mqtt_bridge_mqtt_publishes_total");
    const dropped = delta("docker_mqtt_bridge_mqtt_events_dropped_total");
    ctx.add({
      scenario: "throughput",
      name: "sustained events per second, end to end",
      value: events / seconds,
      unit: "events/s",
      samples,
      setup,
      target: "> 50,000",
      targetFrom: "bench",
      note: `${seconds.toFixed(2)} s; cycles of ${CYCLE_LENGTH} events, ${STATE_CHANGES_PER_CYCLE} of them state changes; ${published.toLocaleString("en-US")} MQTT messages taken by the broker, ${dropped.toLocaleString("en-US")} event messages dropped by the bridge's queue`,
    });
    ctx.add({
      scenario: "throughput",
      name: "CPU per 10,000 events",
      value: ((cpu1.schedSeconds - cpu0.schedSeconds) / events) * 10_000,
      unit: "CPU s",
      samples,
      setup,
      note: `bridge busy ${(((cpu1.schedSeconds - cpu0.schedSeconds) / seconds) * 100).toFixed(0)}% of the run; meanwhile the bench (fake engine, generator) used ${((bench1.user + bench1.system) / 1e6).toFixed(2)} CPU s${broker0 !== undefined && broker1 !== undefined ? `, mosquitto ${(broker1 - broker0).toFixed(2)} CPU s` : ""}; bridge utime+stime: ${(((cpu1.statSeconds - cpu0.statSeconds) / events) * 10_000).toFixed(3)} s; includes ~10 /metrics scrapes a second for flow control`,
    });
  } finally {
    await stopStream(ctx, s);
  }
}
