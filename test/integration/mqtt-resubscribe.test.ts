// The bridge's subscriptions (Home Assistant's birth, its own config topics) hold across broker
// connections: a clean session keeps none, and mqtt.js only resubscribes on its own reconnects.
import { afterEach, describe, it } from "vitest";
import { Recorder } from "../helpers/recorder.js";
import { type Kit, startKit, waitUntil } from "../helpers/resilience-kit.js";

let kit: Kit | undefined;
const recorders: Recorder[] = [];
afterEach(async () => {
  for (const rec of recorders.splice(0)) await rec.close();
  await kit?.close();
  kit = undefined;
});

/** Home Assistant comes online: the bridge answers with its states again. */
async function answersBirth(k: Kit, url: string): Promise<void> {
  const rec = await Recorder.connect(url);
  recorders.push(rec);
  const topic = k.topics.containerState("alpha");
  await rec.waitFor("alpha's retained state", () => rec.on(topic).length > 0);
  const before = rec.on(topic).length;
  await rec.publish("homeassistant/status", "online");
  await rec.waitFor("alpha republished after the birth", () => rec.on(topic).length > before, 3000);
}

describe("subscriptions across connections", () => {
  it("Home Assistant's birth is still answered after the broker restarted", async () => {
    kit = await startKit({ before: (e) => e.seed([{ name: "alpha" }]) });
    await kit.recorder.waitForState(kit.topics.containerState("alpha"), { running: true });
    const broker = await kit.restartBroker();
    await waitUntil("reconnected", () => kit?.service.publisher.stats.reconnects === 1, 5000);
    await answersBirth(kit, broker.url);
  });
});
