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
