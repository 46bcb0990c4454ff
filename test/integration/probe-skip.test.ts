// Healthcheck probes cost an idle bridge almost nothing: their exec events are recognised in the
// raw line and skipped unparsed. Nothing of them reaches MQTT, a user's exec still does, their
// result (health_status) still applies, they are still counted, and a resume starts after them.
import { request } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { formatEventTime } from "../helpers/fake-engine-events.js";
import { type Harness, startHarness } from "../helpers/harness.js";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function metric(url: string, name: string, labels: string): Promise<number | undefined> {
  const res = await request(`${url}/metrics`);
  const text = await res.body.text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.split(" ")[1]);
}

describe("healthcheck probes", () => {
  it("are skipped before parsing: no message, counted as received; a user's exec and the health result still go out", async () => {
    h = await startHarness({ service: { http: { host: "127.0.0.1", port: 0 } } });
    const { engine, recorder: rec, topics, service } = h;
    await engine.waitForEventStream();
    engine.run({ name: "api", healthcheck: true });
    await rec.waitForState(topics.containerState("api"), { status: "running" });
    const skippedBefore = service.watcher.stats.probeExecsSkipped;
    const sentBefore = engine.history.length;
    await service.publisher.drain(5000);
    rec.clear();

    for (let i = 0; i < 5; i++) engine.healthProbe("api");
    engine.exec("api", "sh -c backup.sh");
    engine.setHealth("api", "unhealthy", { probe: true });
    await rec.waitForState(topics.containerState("api"), { health: "unhealthy" });
    await rec.waitFor(
      "the user's exec_die",
      () => rec.on(topics.event("container", "exec_die")).length === 1,
    );

    // Six probes, three exec events each, none parsed; the user's three were.
    expect(service.watcher.stats.probeExecsSkipped - skippedBefore).toBe(18);
    const execs = rec.messages.filter((m) => m.topic.includes("/events/container/exec_"));
    expect(execs.map((m) => JSON.parse(m.payload).detail)).toEqual([
      "sh -c backup.sh",
      "sh -c backup.sh",
      "",
    ]);
    // The probe's result is the engine's truth: its health_status is published.
    const health = rec.on(topics.event("container", "health_status"));
    expect(health.map((m) => JSON.parse(m.payload).detail)).toEqual(["unhealthy"]);

    // events_received_total counts every container event the engine sent, probes included.
    const sent = engine.history.filter((e) => e.Type === "container").length;
    const url = service.http?.url ?? "";
    expect(
      await metric(url, "docker_mqtt_bridge_events_received_total", 'host="test",type="container"'),
    ).toBe(sent);
    expect(engine.history.length - sentBefore).toBe(5 * 3 + 3 + 3 + 1);
  });

  it("still move the resume point: after a cut the stream resumes from the last probe, repeating nothing", async () => {
    h = await startHarness();
    const { engine, recorder: rec, topics, service } = h;
    await engine.waitForEventStream();
    engine.run({ name: "api", healthcheck: true });
    await rec.waitForState(topics.containerState("api"), { status: "running" });
    for (let i = 0; i < 3; i++) engine.healthProbe("api");
    await rec.waitFor("the probes read", () => service.watcher.stats.probeExecsSkipped === 9);
    const lastProbe = engine.history.at(-1);
    expect(lastProbe?.Action).toBe("exec_die");

    const next = engine.waitForEventStream();
    await engine.cutStreams();
    const stream = await next;
    expect(stream.since).toBe(formatEventTime(lastProbe?.timeNano ?? 0n));
    // The replayed probe line is recognised as seen, not counted again nor parsed.
    engine.exec("api", "sh -c date");
    await rec.waitFor(
      "the user's exec_die",
      () => rec.on(topics.event("container", "exec_die")).length === 1,
    );
    expect(service.watcher.stats.probeExecsSkipped).toBe(9);
    expect(service.watcher.stats.eventsInvalid).toBe(0);
    expect(engine.requests.filter((r) => r.path.includes("/exec/"))).toEqual([]);
  });
});
