// The publisher against a broker that acknowledges slowly: what the broker ends up retaining is
// always the newest wanted value, even when a value changes back while another is in flight.
import { createServer } from "node:net";
import { Aedes } from "aedes";
import { afterEach, expect, it } from "vitest";
import { MqttPublisher, PRIORITY } from "../../src/mqtt/publisher.js";
import { createLogger } from "../../src/runtime/log.js";
import { Recorder } from "../helpers/recorder.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

it("retains A after A, B, A when B's acknowledgement is still outstanding", async () => {
  const broker = await Aedes.createBroker();
  let holdB: (() => void) | undefined;
  broker.authorizePublish = (_client, packet, done) => {
    // B is held until A has been set again, as a slow broker would.
    if (packet.topic === "t/state" && packet.payload.toString() === "B") holdB = () => done(null);
    else done(null);
  };
  const server = createServer(broker.handle);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const address = server.address();
  const url = `mqtt://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  closers.push(async () => {
    await new Promise<void>((r) => broker.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
  });
  const publisher = new MqttPublisher({
    url,
    clientId: "order-test",
    will: { topic: "t/availability", payload: "offline" },
    log: createLogger("silent"),
  });
  publisher.start();
  closers.push(() => publisher.stop());
  await publisher.drain(5000);

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
  const broker = await Aedes.createBroker();
  let firstConnection = true;
  broker.authorizePublish = (_client, packet, done) => {
    // The broker takes "old" in but never acknowledges it on the first connection.
    if (firstConnection && packet.payload.toString() === "old") return;
    done(null);
  };
  const clients: { id: string; conn: { destroy(): void } }[] = [];
  broker.on("client", (c) => clients.push(c as unknown as (typeof clients)[number]));
  const server = createServer(broker.handle);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const address = server.address();
  const url = `mqtt://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  closers.push(async () => {
    await new Promise<void>((r) => broker.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
  });
  const recorder = await Recorder.connect(url, ["t/#"]);
  closers.push(() => recorder.close());
  const publisher = new MqttPublisher({
    url,
    clientId: "timeout-test",
    will: { topic: "t/availability", payload: "offline" },
    publishTimeoutMs: 200,
    log: createLogger("silent"),
  });
  publisher.start();
  closers.push(() => publisher.stop());
  await publisher.drain(5000);

  publisher.setRetained("t/a", "old", PRIORITY.state);
  await new Promise((r) => setTimeout(r, 400)); // "old" timed out, still in mqtt.js's store
  publisher.setRetained("t/a", "new", PRIORITY.state);
  await recorder.waitFor("new delivered", () => recorder.last("t/a") === "new");
  firstConnection = false;
  for (const c of clients) if (c.id === "timeout-test") c.conn.destroy();
  await new Promise((r) => setTimeout(r, 2500)); // reconnected (about 1 s) and republished
  expect(await publisher.drain(5000)).toBe(true);
  expect(publisher.stats.reconnects).toBe(1);
  const seen = recorder.on("t/a").map((m) => m.payload);
  expect(seen.slice(seen.indexOf("new"))).not.toContain("old");
  expect(recorder.last("t/a")).toBe("new");
});

it("after a reconnect, sends parents' discovery before children's and clears availability last", async () => {
  const broker = await Aedes.createBroker();
  const clients: { id: string; conn: { destroy(): void } }[] = [];
  broker.on("client", (c) => clients.push(c as unknown as (typeof clients)[number]));
  const server = createServer(broker.handle);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const address = server.address();
  const url = `mqtt://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  closers.push(async () => {
    await new Promise<void>((r) => broker.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
  });
  const recorder = await Recorder.connect(url, ["t/#"]);
  closers.push(() => recorder.close());
  const publisher = new MqttPublisher({
    url,
    clientId: "tiers-test",
    will: { topic: "t/availability", payload: "offline" },
    log: createLogger("silent"),
  });
  publisher.start();
  closers.push(() => publisher.stop());
  await publisher.drain(5000);
  publisher.setRetained("t/availability", "online", PRIORITY.availability);
  publisher.setRetained("t/container/config", "c", PRIORITY.discovery);
  publisher.setRetained("t/stack/config", "s", PRIORITY.stackDiscovery);
  publisher.setRetained("t/host/config", "h", PRIORITY.hostDiscovery);
  publisher.setRetained("t/gone/config", "g", PRIORITY.discovery);
  publisher.setRetained("t/gone/state", "{}", PRIORITY.state);
  await publisher.drain(5000);
  await recorder.waitFor("all delivered", () => recorder.last("t/gone/state") === "{}");
  for (const c of clients) if (c.id === "tiers-test") c.conn.destroy();
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
