// Statistics cost: 50 running containers (no healthchecks, no events), one bridge with
// statistics on at the default 10 s interval beside one with them off, over a fixed window
// (60 s, or --stats-window=SECONDS; 5 minutes shows the heartbeats too): each bridge's CPU
// (schedstat, all threads), the messages the stats bridge published per minute, both RSS, and
// the engine's own extra CPU (dockerd, containerd and the shims) against a window before the
// stats bridge started. In the same window, a third bridge with every feature on (#18: statistics
// at the default interval, image updates, control): its CPU, steady RSS and peak RSS against the
// floor. Its update check is harmless here: the containers' images carry no RepoDigests (the real
// engine's test image is loaded locally; the fake engine serves no image), so the first check
// (6 to 60 s after start) inspects them and asks no registry.
import { readdirSync, readFileSync } from "node:fs";
import type { BridgeProcess } from "../bridge-process.js";
import { sleep, until } from "../clock.js";
import type { BenchContext } from "../context.js";
import { Subscriber } from "../subscriber.js";
import { FLEET_SIZE } from "./startup.js";

const CLK_TCK = 100;
const name = (i: number) => `bench-stats-${String(i + 1).padStart(2, "0")}`;

/** CPU seconds of the engine's processes: those whose command line names its data dir. */
function engineSeconds(dataDir: string | undefined): number | null {
  if (!dataDir) return null;
  let ticks = 0;
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(dataDir)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // the process ended meanwhile
    }
  }
  return ticks / CLK_TCK;
}

/** "50 x update, 1 x stats": what a bridge published, by the topic's last level. */
function bySuffix(messages: readonly { topic: string }[]): string {
  const counts = new Map<string, number>();
  for (const m of messages) {
    const last = m.topic.slice(m.topic.lastIndexOf("/") + 1);
    counts.set(last, (counts.get(last) ?? 0) + 1);
  }
  const list = [...counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n} x ${k}`);
  return list.length > 0 ? list.join(", ") : "none";
}

export async function runStats(ctx: BenchContext, windowOption?: number): Promise<void> {
  const windowS = windowOption ?? (ctx.options.quick ? 15 : 60);
  const baseS = ctx.options.quick ? 10 : 30;
  const broker = await ctx.freshBroker();
  const names = Array.from({ length: FLEET_SIZE }, (_, i) => name(i));
  let dockerHost: string;
  let closeFake: (() => Promise<void>) | undefined;
  if (ctx.real && ctx.api) {
    const api = ctx.api;
    for (let i = 0; i < names.length; i += 10) {
      await Promise.all(
        names.slice(i, i + 10).map((n) => api.run({ name: n, cmd: ["sleep", "3600"] })),
      );
    }
    dockerHost = ctx.real.dockerHost;
  } else {
    const engine = await ctx.fakeEngine();
    engine.seed(names.map((n) => ({ name: n })));
    for (const n of names) engine.stats.setLoad(n, { cpuPercent: 0.2, memoryBytes: 8 * 2 ** 20 });
    dockerHost = engine.dockerHost;
    closeFake = () => ctx.closeEngine(engine);
  }
  const setup = ctx.setup(ctx.real ? "dockerd" : "fake", broker.kind);
  const sub = await Subscriber.connect(broker.url, ctx.clock, { filters: ["#"], keep: true });
  const dataDir = ctx.real?.dataDir;
  let on: BridgeProcess | undefined;
  let off: BridgeProcess | undefined;
  let all: BridgeProcess | undefined;
  try {
    off = ctx.startBridge({ dockerHost, mqttUrl: broker.url, hostId: "bench-stats-off" });
    await sleep(ctx.options.quick ? 5000 : 15_000);
    const e0 = engineSeconds(dataDir);
    await sleep(baseS * 1000);
    const e1 = engineSeconds(dataDir);

    on = ctx.startBridge({
      dockerHost,
      mqttUrl: broker.url,
      hostId: "bench-stats",
      env: { STATS_ENABLED: "true" },
    });
    all = ctx.startBridge({
      dockerHost,
      mqttUrl: broker.url,
      hostId: "bench-features",
      env: { STATS_ENABLED: "true", UPDATES_ENABLED: "true", CONTROL_ENABLED: "true" },
    });
    const statsTopics = (host: string) =>
      new Set(
        sub.messages
          .filter((m) => m.topic.startsWith(`docker/${host}/`) && m.topic.endsWith("/stats"))
          .map((m) => m.topic),
      ).size;
    await until(
      () =>
        statsTopics("bench-stats") >= FLEET_SIZE + 1 &&
        statsTopics("bench-features") >= FLEET_SIZE + 1,
      90_000,
      "every container's figures",
      100,
    );
    // Start-up, the first rounds and V8's background work: measure the steady state.
    await sleep(ctx.options.quick ? 5000 : 20_000);
    sub.reset();
    const a0 = on.cpu();
    const b0 = off.cpu();
    const c0 = all.cpu();
    const e2 = engineSeconds(dataDir);
    await sleep(windowS * 1000);
    const a1 = on.cpu();
    const b1 = off.cpu();
    const c1 = all.cpu();
    const e3 = engineSeconds(dataDir);
    const mine = sub.messages.filter((m) => m.topic.startsWith("docker/bench-stats/"));
    const stats = mine.filter((m) => m.topic.endsWith("/stats")).length;
    const perMin = (n: number) => (n / windowS) * 60;
    const pct = (s: number) => (s / windowS) * 100;
    const samples = `${windowS} s window, ${FLEET_SIZE} running containers, interval 10 s`;
    ctx.add({
      scenario: "stats",
      name: "CPU with statistics on (schedstat)",
      value: pct(a1.schedSeconds - a0.schedSeconds),
      unit: "% of a core",
      samples,
      setup,
      target: "< 1",
      note: `${(a1.schedSeconds - a0.schedSeconds).toFixed(3)} CPU s; the same bridge with statistics off: ${pct(b1.schedSeconds - b0.schedSeconds).toFixed(3)}%`,
    });
    ctx.add({
      scenario: "stats",
      name: "MQTT messages with statistics on",
      value: perMin(mine.length),
      unit: "per minute",
      samples,
      setup,
      note: `${mine.length} messages, ${stats} of them figures (containers and host); the 5-minute heartbeat adds up to ${FLEET_SIZE / 5 + 0.2} per minute`,
    });
    const ram = on.memory();
    ctx.add({
      scenario: "stats",
      name: "RSS with statistics on",
      value: ram.rssMb,
      unit: "MiB",
      samples,
      setup,
      note: `peak ${ram.peakRssMb.toFixed(1)} MiB; statistics off: ${off.memory().rssMb.toFixed(1)} MiB`,
    });
    const features = "features on (statistics, updates, control)";
    const allMessages = sub.messages.filter((m) => m.topic.startsWith("docker/bench-features/"));
    ctx.add({
      scenario: features,
      name: "CPU (schedstat, all threads)",
      value: pct(c1.schedSeconds - c0.schedSeconds),
      unit: "% of a core",
      samples,
      setup,
      target: "< 1",
      targetFrom: "#18",
      note: `${(c1.schedSeconds - c0.schedSeconds).toFixed(3)} CPU s; ${perMin(allMessages.length).toFixed(1)} messages a minute (${bySuffix(allMessages)})`,
    });
    const allRam = all.memory();
    ctx.add({
      scenario: features,
      name: "steady RSS, 50 containers",
      value: allRam.rssMb,
      unit: "MiB",
      samples: `VmRSS at the end of the ${windowS} s window`,
      setup,
      ...ctx.overFloor("steadyRssMiB", 15 + 10),
      note: "#18: the steady-RSS target (floor + 15 MiB) plus 10 MiB for the features",
    });
    ctx.add({
      scenario: features,
      name: "peak RSS, 50 containers",
      value: allRam.peakRssMb,
      unit: "MiB",
      samples: `VmHWM at the end of the ${windowS} s window`,
      setup,
      ...ctx.overFloor("peakRssMiB", 20 + 10),
      note: "#18: the peak-RSS target (floor + 20 MiB) plus 10 MiB for the features",
    });
    if (e0 !== null && e1 !== null && e2 !== null && e3 !== null) {
      const before = ((e1 - e0) / baseS) * 100;
      const during = ((e3 - e2) / windowS) * 100;
      ctx.add({
        scenario: "stats",
        name: "engine CPU added by sampling (dockerd, containerd, shims)",
        value: during - before,
        unit: "% of a core",
        samples: `${baseS} s without sampling, then the ${windowS} s window`,
        setup,
        note: `${before.toFixed(2)}% before, ${during.toFixed(2)}% while sampled; ${FLEET_SIZE * 6} one-shot requests a minute`,
      });
    }
  } finally {
    await sub.close();
    await Promise.all([on?.stop(), off?.stop(), all?.stop()]);
    await closeFake?.();
    const api = ctx.api;
    if (ctx.real && api) await Promise.all(names.map((n) => api.rm(n)));
  }
}
