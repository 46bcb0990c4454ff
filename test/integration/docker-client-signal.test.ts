// One caller's AbortSignal shared by a whole snapshot (up to 16 concurrent inspects) must not
// trip Node's listener limit: MaxListenersExceededWarning went to stderr, in the middle of the JSON
// log, on every host with more than ten containers.
import { getEventListeners } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { DockerClient, endpointFromDockerHost } from "../../src/docker/client.js";
import { takeSnapshot } from "../../src/docker/snapshot.js";
import { FakeEngine } from "../helpers/fake-engine.js";

let engine: FakeEngine | undefined;
let client: DockerClient | undefined;

afterEach(async () => {
  await client?.close();
  await engine?.close();
  client = undefined;
  engine = undefined;
});

async function engineWith(count: number): Promise<DockerClient> {
  engine = await FakeEngine.start();
  // Not hex: the fake engine also finds containers by id prefix, so "c30" could name another.
  for (let i = 0; i < count; i++) engine.run({ name: `web-${i}` });
  client = new DockerClient(endpointFromDockerHost(engine.dockerHost));
  await client.negotiate();
  return client;
}

/** Every process 'warning' emitted while `run` runs (warnings are emitted on a later tick). */
async function warningsDuring(run: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  const onWarning = (w: Error) => seen.push(`${w.name}: ${w.message}`);
  process.on("warning", onWarning);
  try {
    await run();
    await new Promise((resolve) => setTimeout(resolve, 50));
  } finally {
    process.off("warning", onWarning);
  }
  return seen;
}

describe("a snapshot through the real client on one shared signal", () => {
  it("takes 40 containers without any Node warning, and leaves no listener on the signal", async () => {
    const api = await engineWith(40);
    const controller = new AbortController();
    let records = 0;
    const warnings = await warningsDuring(async () => {
      records = (await takeSnapshot(api, { signal: controller.signal })).length;
    });
    expect({ records, warnings }).toEqual({ records: 40, warnings: [] });
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
  });

  it("still aborts every request in flight when the shared signal aborts", async () => {
    const api = await engineWith(20);
    const ids = (await api.listContainers()).map((c) => c.Id);
    const controller = new AbortController();
    const inspects = ids.map((id) => api.inspectContainer(id, controller.signal));
    controller.abort(new Error("stopping"));
    const results = await Promise.allSettled(inspects);
    expect(results.map((r) => r.status)).toEqual(ids.map(() => "rejected"));
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
  });
});
