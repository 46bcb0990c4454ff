// The sampler against an in-process stand-in for the engine (the EngineCaller it is given):
// bounded requests, the second sample that gives CPU %, a container gone mid-request (no error,
// no log), one warning per outage, and stop() cancelling timers, primers and requests.
import { readFileSync } from "node:fs";
import { Writable } from "node:stream";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { EngineAnswer, EngineCall } from "../../src/docker/client.js";
import { DockerError } from "../../src/errors.js";
import type { StatsValues } from "../../src/stats/formulas.js";
import { StatsSampler } from "../../src/stats/sampler.js";

const capture = JSON.parse(
  readFileSync(new URL("../fixtures/stats/cgroup1-busy-oneshot.json", import.meta.url), "utf8"),
) as { body: { cpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage: number } } };

type Reply = () => EngineAnswer | Promise<EngineAnswer>;

/** Answers each call with `reply` (the capture, counters advancing), after `delayMs`. */
class StandInEngine {
  calls: EngineCall[] = [];
  inFlight = 0;
  maxInFlight = 0;
  delayMs = 0;
  #n = 0;
  reply: Reply = () => {
    this.#n++;
    const body = structuredClone(capture.body);
    body.cpu_stats.cpu_usage.total_usage += this.#n * 1e9;
    body.cpu_stats.system_cpu_usage += this.#n * 2e9;
    const text = JSON.stringify(body);
    return { status: 200, body: { text: async () => text } } as unknown as EngineAnswer;
  };

  async call(request: EngineCall): Promise<EngineAnswer> {
    this.calls.push(request);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, this.delayMs);
        request.signal?.addEventListener("abort", () => {
          clearTimeout(t);
          reject(new Error("aborted"));
        });
      });
      return await this.reply();
    } finally {
      this.inFlight--;
    }
  }
}

const lines: { level: number; msg: string }[] = [];
const log = pino(
  { level: "debug" },
  new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
      done();
    },
  }),
);

let sampler: StatsSampler | undefined;
afterEach(() => {
  sampler?.stop();
  sampler = undefined;
  lines.length = 0;
});

function start(engine: StandInEngine, maxInFlight = 2) {
  const samples: { name: string; values: StatsValues }[] = [];
  let drained = 0;
  sampler = new StatsSampler({
    engine,
    intervalMs: 100,
    maxInFlight,
    primeDelayMs: 20,
    log,
    onSample: (name, values) => samples.push({ name, values }),
    onDrained: () => drained++,
  });
  sampler.start();
  return { sampler, samples, drained: () => drained };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("StatsSampler", () => {
  it("a new container's second sample (after the primer) carries CPU %; the first none", async () => {
    const engine = new StandInEngine();
    const { sampler, samples } = start(engine);
    sampler.track("web", "id-web");
    await sleep(60);
    expect(engine.calls).toHaveLength(2);
    expect(samples).toHaveLength(1);
    expect(samples[0]?.values.cpu_percent).toBe(100);
    expect(engine.calls[0]?.path).toBe("/containers/id-web/stats?stream=false&one-shot=true");
  });

  it("never has more requests in flight than allowed, and asks each container once a round", async () => {
    const engine = new StandInEngine();
    engine.delayMs = 30;
    const { sampler } = start(engine, 3);
    for (let i = 0; i < 10; i++) sampler.track(`c${i}`, `id-${i}`);
    await sleep(350);
    expect(engine.maxInFlight).toBe(3);
    // No container is queued twice while it waits: per round at most one request each.
    const perContainer = new Map<string, number>();
    for (const c of engine.calls) perContainer.set(c.path, (perContainer.get(c.path) ?? 0) + 1);
    expect(Math.max(...perContainer.values())).toBeLessThanOrEqual(6);
  });

  it("a container gone mid-request (404) is no error: nothing published, nothing logged", async () => {
    const engine = new StandInEngine();
    engine.reply = () => {
      throw new DockerError("DOCKER_HTTP_ERROR", "404", { status: 404 });
    };
    const { sampler, samples } = start(engine);
    sampler.track("gone", "id-gone");
    await sleep(250);
    expect(engine.calls.length).toBeGreaterThanOrEqual(2);
    expect(samples).toEqual([]);
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
  });

  it("Podman's empty 200 for a stopped container is no error either", async () => {
    const engine = new StandInEngine();
    const empty = readFileSync(
      new URL("../fixtures/stats/podman-4.3-stopped-oneshot.json", import.meta.url),
      "utf8",
    );
    const text = (JSON.parse(empty) as { body: string }).body;
    engine.reply = () =>
      ({ status: 200, body: { text: async () => text } }) as unknown as EngineAnswer;
    const { sampler, samples } = start(engine);
    sampler.track("stopped", "id-stopped");
    await sleep(150);
    expect(engine.calls.length).toBeGreaterThanOrEqual(1);
    expect(samples).toEqual([]);
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
  });

  it("an unreachable engine is one warning per outage, and one line when it answers again", async () => {
    const engine = new StandInEngine();
    const ok = engine.reply;
    engine.reply = () => {
      throw new DockerError("DOCKER_UNREACHABLE", "cannot reach the engine");
    };
    const { sampler, samples } = start(engine);
    sampler.track("a", "id-a");
    sampler.track("b", "id-b");
    await sleep(250);
    expect(lines.filter((l) => l.level === 40).map((l) => l.msg)).toEqual(["statistics failed"]);
    engine.reply = ok;
    await sleep(250);
    expect(samples.length).toBeGreaterThan(0);
    expect(lines.filter((l) => l.level === 30).map((l) => l.msg)).toEqual([
      "statistics answered again",
    ]);
  });

  it("an answer for a container untracked meanwhile is dropped", async () => {
    const engine = new StandInEngine();
    const { sampler, samples } = start(engine);
    sampler.track("web", "id-web");
    await sleep(60); // first sample and primer: one figure out
    expect(samples).toHaveLength(1);
    engine.delayMs = 80;
    await sleep(60); // the round at 100 ms asks again; its answer is due at 180 ms
    expect(engine.inFlight).toBe(1);
    sampler.untrack("web");
    await sleep(250);
    expect(samples).toHaveLength(1);
  });

  it("stop() aborts the request in flight and leaves no timer or primer behind", async () => {
    const engine = new StandInEngine();
    const { sampler, drained } = start(engine);
    sampler.track("web", "id-web");
    await sleep(5);
    engine.delayMs = 1000;
    await sleep(30); // the primer's request is now waiting
    const waiting = engine.calls.at(-1);
    sampler.stop();
    expect(waiting?.signal?.aborted).toBe(true);
    const calls = engine.calls.length;
    const rounds = drained();
    await sleep(350);
    expect(engine.calls).toHaveLength(calls);
    expect(drained()).toBe(rounds);
  });

  it("with nothing to sample, each round is still complete (the host's zero sums)", async () => {
    const engine = new StandInEngine();
    const { drained } = start(engine);
    await sleep(250);
    expect(drained()).toBeGreaterThanOrEqual(2);
    expect(engine.calls).toEqual([]);
  });
});
