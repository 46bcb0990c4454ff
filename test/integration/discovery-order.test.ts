// Parents before children, on the wire: Home Assistant drops a `via_device` naming a device it
// does not know yet, so the host's device must reach a subscriber before a stack's, and a stack's
// before its containers', on every path: start-up, a new stack at run time, Home Assistant's
// birth, and a broker that lost everything.
import { afterEach, describe, expect, it } from "vitest";
import { HaView } from "../helpers/ha-rules.js";
import { type Harness, startHarness } from "../helpers/harness.js";
import type { Recorded } from "../helpers/recorder.js";
import { type Kit, startKit, waitUntil } from "../helpers/resilience-kit.js";

const compose = (project: string, service: string) => ({
  "com.docker.compose.project": project,
  "com.docker.compose.service": service,
});

let h: Harness | undefined;
let k: Kit | undefined;
afterEach(async () => {
  await h?.close();
  await k?.close();
  h = undefined;
  k = undefined;
});

/** Home Assistant following the messages, with the tree it builds and what it would log. */
function tree(messages: readonly Recorded[]) {
  const ha = HaView.from(messages);
  const via = (id: string) => ha.device(id)?.via;
  const dropped = ha.problems.filter((p) => p.includes("via_device"));
  return { ha, via, dropped };
}

for (const mode of ["device", "component"] as const) {
  describe(`${mode} discovery`, () => {
    it("announces host, then stack, then container at start-up and for a new stack at run time", async () => {
      h = await startHarness({
        env: { HA_DISCOVERY_MODE: mode },
        before: (engine) => engine.seed([{ name: "web", labels: compose("shop", "web") }]),
      });
      const { recorder: rec, topics, engine } = h;
      await rec.waitFor(
        "shop stack state",
        () => rec.last(topics.stackState("shop")) !== undefined,
      );
      const first = tree(rec.messages);
      expect(first.dropped).toEqual([]);
      expect(first.via(topics.containerDeviceId("web"))).toBe(topics.stackDeviceId("shop"));
      expect(first.via(topics.stackDeviceId("shop"))).toBe(topics.hostDeviceId());

      // A stack that did not exist when the bridge started.
      engine.run({ name: "db", labels: compose("blog", "db") });
      await rec.waitFor(
        "blog stack state",
        () => rec.last(topics.stackState("blog")) !== undefined,
      );
      await rec.waitForState(topics.containerState("db"), { status: "running" });
      const second = tree(rec.messages);
      expect(second.dropped).toEqual([]);
      expect(second.via(topics.containerDeviceId("db"))).toBe(topics.stackDeviceId("blog"));
    });
  });
}

describe("republishing", () => {
  it("keeps the order when Home Assistant's birth asks for everything again", async () => {
    h = await startHarness({
      before: (engine) =>
        engine.seed([
          { name: "web", labels: compose("shop", "web") },
          { name: "api", labels: compose("shop", "api") },
        ]),
    });
    const { recorder: rec, topics } = h;
    await rec.waitFor("shop stack state", () => rec.last(topics.stackState("shop")) !== undefined);
    expect(await h.service.publisher.drain(2000)).toBe(true);
    rec.clear();
    // Home Assistant restarted on a broker that kept nothing: it learns only from the republish.
    await rec.publish("homeassistant/status", "online");
    await rec.waitFor("states republished", () => rec.on(topics.containerState("api")).length > 0);
    await rec.waitFor(
      "stack state republished",
      () => rec.on(topics.stackState("shop")).length > 0,
    );
    const { dropped, via } = tree(rec.messages);
    expect(dropped).toEqual([]);
    expect(via(topics.containerDeviceId("web"))).toBe(topics.stackDeviceId("shop"));
    expect(via(topics.stackDeviceId("shop"))).toBe(topics.hostDeviceId());
  });

  it("keeps the order when a broker restarted without persistence is given everything again", async () => {
    k = await startKit({
      before: (engine) => engine.seed([{ name: "web", labels: compose("shop", "web") }]),
    });
    const { recorder: rec, topics, service } = k;
    await rec.waitFor("shop stack state", () => rec.last(topics.stackState("shop")) !== undefined);
    expect(await service.publisher.drain(2000)).toBe(true);
    await k.restartBroker();
    rec.clear();
    await waitUntil("reconnected", () => service.publisher.stats.reconnects === 1, 5000);
    await rec.waitFor("states again", () => rec.on(topics.stackState("shop")).length > 0, 5000);
    const { dropped, via } = tree(rec.messages);
    expect(dropped).toEqual([]);
    expect(via(topics.containerDeviceId("web"))).toBe(topics.stackDeviceId("shop"));
  });
});
