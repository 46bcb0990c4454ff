// What the HTTP side tells an operator: the address it really listens on, and a /readyz count
// that agrees with the host state Home Assistant shows (filtered-out containers are not counted).
import { request } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/loader.js";
import { createLogger } from "../../src/runtime/log.js";
import { type Service, startService } from "../../src/runtime/service.js";
import { FakeEngine } from "../helpers/fake-engine.js";
import { Recorder } from "../helpers/recorder.js";
import { LogCapture, startHookedBroker } from "../helpers/resilience-kit.js";

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of cleanups.reverse()) await close();
  cleanups = [];
});

async function bridge(env: Record<string, string>, http: { host: string; port: number }) {
  const engine = await FakeEngine.start();
  cleanups.push(() => engine.close());
  engine.seed([{ name: "web" }, { name: "db" }, { name: "scratch" }]);
  const broker = await startHookedBroker();
  cleanups.push(() => broker.close());
  const { config } = loadConfig({
    argv: [],
    env: { DOCKER_HOST: engine.dockerHost, MQTT_URL: broker.url, DOCKER_HOST_ID: "h", ...env },
  });
  const logs = new LogCapture();
  const service: Service = await startService(config, createLogger("info", logs), { http });
  cleanups.push(() => service.stop());
  return { service, logs, broker };
}

describe("the HTTP server's log line", () => {
  it("names the address it is bound to, all interfaces included", async () => {
    const { service, logs } = await bridge({}, { host: "0.0.0.0", port: 0 });
    const port = service.http?.port;
    expect(logs.find(/serving \/healthz/).map((l) => l.listening)).toEqual([`0.0.0.0:${port}`]);
  });
});

describe("/readyz", () => {
  it("counts the mirrored containers, as the host state does", async () => {
    const { service, broker } = await bridge(
      { FILTER_EXCLUDE: "scratch" },
      { host: "127.0.0.1", port: 0 },
    );
    const rec = await Recorder.connect(broker.url);
    cleanups.push(() => rec.close());
    const hostState = "docker/h/state";
    await rec.waitFor("the host state", () => rec.lastJson(hostState) !== undefined);
    const res = await request(`${service.http?.url}/readyz`);
    const ready = (await res.body.json()) as { engines: { containers: number }[] };
    expect({
      readyz: ready.engines[0]?.containers,
      hostState: (rec.lastJson(hostState) as { containers?: number } | undefined)?.containers,
    }).toEqual({ readyz: 2, hostState: 2 });
  });
});
