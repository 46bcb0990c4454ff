// With another broker (Mosquitto, most Home Assistant users) already on the embedded broker's port
// and no MQTT_URL, the run stops at once with one line saying what to do, and a non-zero status.
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/loader.js";
import { createLogger } from "../../src/runtime/log.js";
import { startService } from "../../src/runtime/service.js";
import { FakeEngine } from "../helpers/fake-engine.js";
import { buildPackage, runProcess } from "../helpers/process.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function takenPort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  return typeof address === "object" && address ? address.port : 0;
}

async function engine(): Promise<FakeEngine> {
  const e = await FakeEngine.start();
  cleanups.push(() => e.close());
  return e;
}

const clash = (port: number) =>
  `the embedded MQTT broker: port 127.0.0.1:${port} is taken by another program: set MQTT_URL to your broker or choose another mqtt.embedded_port`;

describe("a taken embedded broker port", () => {
  it("fails the start with LISTEN_FAILED and the fix", async () => {
    const e = await engine();
    const port = await takenPort();
    const env = {
      DOCKER_HOST: e.dockerHost,
      DOCKER_HOST_ID: "test",
      MQTT_EMBEDDED_PORT: `${port}`,
      LOG_LEVEL: "silent",
    };
    const { config } = loadConfig({ argv: [], env });
    await expect(startService(config, createLogger("silent"))).rejects.toMatchObject({
      code: "LISTEN_FAILED",
      message: clash(port),
    });
  });

  describe("the process", () => {
    let dir = "";
    let main = "";
    beforeAll(async () => {
      // A private build (dist/ may be in use by others).
      ({ dir } = await buildPackage("dmb-clash-", { timeoutMs: 30_000 }));
      main = join(dir, "dist", "main.js");
      expect(existsSync(main)).toBe(true);
    }, 60_000);
    afterAll(async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it("exits 1 with that one line on stderr", async () => {
      const e = await engine();
      const port = await takenPort();
      const started = Date.now();
      const result = await runProcess("node", [main], {
        env: {
          PATH: process.env.PATH ?? "",
          DOCKER_HOST: e.dockerHost,
          DOCKER_HOST_ID: "test",
          MQTT_EMBEDDED_PORT: `${port}`,
          LOG_FORMAT: "json",
        },
        timeoutMs: 30_000,
      });
      expect(result.stderr).toBe(`docker-mqtt-bridge: fatal: LISTEN_FAILED: ${clash(port)}\n`);
      expect(result.code).toBe(1);
      expect(result.stdout).not.toContain("EADDRINUSE");
      expect(Date.now() - started).toBeLessThan(5000);
    });
  });
});
