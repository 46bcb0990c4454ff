// The publisher against a broker that acknowledges slowly: what the broker ends up retaining is
// always the newest wanted value, even when a value changes back while another is in flight.
import { afterEach, expect, it } from "vitest";
import { MqttPublisher, PRIORITY, type PublisherOptions } from "../../src/mqtt/publisher.js";
import { createLogger } from "../../src/runtime/log.js";
import { Recorder } from "../helpers/recorder.js";
import { type BrokerHooks, startHookedBroker } from "../helpers/resilience-kit.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** A broker on a free port; `drop(id)` cuts that client's connection as a network would. */
async function broker(authorizePublish?: BrokerHooks["authorizePublish"]) {
  const b = await startHookedBroker(0, authorizePublish ? { authorizePublish } : {});
  closers.push(() => b.close());
  const clients: { id: string; conn: { destroy(): void } }[] = [];
  b.aedes.on("client", (c) => clients.push(c as unknown as (typeof clients)[number]));
  const drop = (id: string) => {
    for (const c of clients) if (c.id === id) c.conn.destroy();
  };
  return { url: b.url, drop };
}

async function record(url: string): Promise<Recorder> {
  const recorder = await Recorder.connect(url, ["t/#"]);
  closers.push(() => recorder.close());
  return recorder;
}

/** A started publisher, connected and drained, stopped after the test. */
async function publish(
  url: string,
  clientId: string,
  options: Partial<PublisherOptions> = {},
): Promise<MqttPublisher> {
  const publisher = new MqttPublisher({
    url,
    clientId,
    will: { topic: "t/availability", payload: "offline" },
    log: createLogger("silent"),
    ...options,
  });
  publisher.start();
  closers.push(() => publisher.stop());
  await publisher.drain(5000);
  return publisher;
}

it("retains A after A, B, A when B's acknowledgement is still outstanding", async () => {
  let holdB: (() => void) | undefined;
  const { url } = await broker((_client, packet, done) => {
    // B is held until A has been set again, as a slow broker would.
    if (packet.topic === "t/state" && packet.payload.toString() === "B") holdB = () => done(null);
    else done(null);
  });
  const publisher = await publish(url, "order-test");

  publisher.setRetained("t/state", "A", PRIORITY.state);
  await publisher.drain(5000);
  publisher.setRetained("t/state", "B", PRIORITY.state);
  await new Promise<void>((resolve) => {
    const wait = () => (holdB ? resolve() : setTimeout(wait, 5));
    wait();
  });
  publisher.setRetained("t/state", "A", PRIORITY.state);
  holdB?.();
  await publisher.drain(5000);

  const retained = await Recorder.retainedSnapshot(url, "t/#");
  expect(retained.get("t/state")).toBe("A");
});

it("never delivers a value that timed out after a newer one, across a reconnect", async () => {
  let firstConnection = true;
  const { url, drop } = await broker((_client, packet, done) => {
    // The broker takes "old" in but never acknowledges it on the first connection.
    if (firstConnection && packet.payload.toString() === "old") return;
    done(null);
  });
  const recorder = await record(url);
  const publisher = await publish(url, "timeout-test", { publishTimeoutMs: 200 });

  publisher.setRetained("t/a", "old", PRIORITY.state);
  await new Promise((r) => setTimeout(r, 400)); // "old" timed out, still in mqtt.js's store
  publisher.setRetained("t/a", "new", PRIORITY.state);
  await recorder.waitFor("new delivered", () => recorder.last("t/a") === "new");
  firstConnection = false;
  drop("timeout-test");
  await new Promise((r) => setTimeout(r, 2500)); // reconnected (about 1 s) and republished
  expect(await publisher.drain(5000)).toBe(true);
  expect(publisher.stats.reconnects).toBe(1);
  const seen = recorder.on("t/a").map((m) => m.payload);
  expect(seen.slice(seen.indexOf("new"))).not.toContain("old");
  expect(recorder.last("t/a")).toBe("new");
});

it("after a reconnect, sends parents' discovery before children's and clears availability last", async () => {
  const { url, drop } = await broker();
  const recorder = await record(url);
  const publisher = await publish(url, "tiers-test");
  publisher.setRetained("t/availability", "online", PRIORITY.availability);
  publisher.setRetained("t/container/config", "c", PRIORITY.discovery);
  publisher.setRetained("t/stack/config", "s", PRIORITY.stackDiscovery);
  publisher.setRetained("t/host/config", "h", PRIORITY.hostDiscovery);
  publisher.setRetained("t/gone/config", "g", PRIORITY.discovery);
  publisher.setRetained("t/gone/state", "{}", PRIORITY.state);
  await publisher.drain(5000);
  await recorder.waitFor("all delivered", () => recorder.last("t/gone/state") === "{}");
  drop("tiers-test");
  await waitFor(() => !publisher.connected);
  // While disconnected: one device goes, and so does this host (a retire).
  publisher.clearRetained("t/gone/state", PRIORITY.state);
  publisher.clearRetained("t/gone/config", PRIORITY.discovery);
  publisher.clearRetained("t/availability", PRIORITY.availability);
  recorder.clear();
  await waitFor(() => publisher.connected);
  expect(await publisher.drain(5000)).toBe(true);
  await recorder.waitFor("all six", () => recorder.messages.length >= 6);
  const order = recorder.messages
    .filter((m) => !m.retain && (m.topic !== "t/availability" || m.payload === ""))
    .map((m) => `${m.topic}=${m.payload}`);
  const at = (m: string) => order.indexOf(m);
  expect(at("t/host/config=h")).toBeLessThan(at("t/stack/config=s"));
  expect(at("t/stack/config=s")).toBeLessThan(at("t/container/config=c"));
  expect(at("t/gone/config=")).toBeLessThan(at("t/gone/state="));
  // Availability last when it is cleared: entities still set up would read the empty payload.
  expect(order.at(-1)).toBe("t/availability=");
  expect(order).toHaveLength(6);
});

async function waitFor(predicate: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !predicate(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(predicate()).toBe(true);
}
