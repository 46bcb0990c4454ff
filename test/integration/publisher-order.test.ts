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
