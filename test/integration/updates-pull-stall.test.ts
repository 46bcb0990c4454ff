// A pull that stops sending (a registry or proxy that hangs mid-download) is given up, so the
// container is not left "installing" until the bridge stops.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import pino from "pino";
import { afterEach, expect, it } from "vitest";
import { DockerClient } from "../../src/docker/client.js";
import { pullImage } from "../../src/updates/installer.js";

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
});

it("gives up a pull that sends nothing for the idle time, and says so", async () => {
  server = createServer((req, res) => {
    req.resume();
    // The engine's progress stream: one line, then silence.
    res.writeHead(200, { "content-type": "application/json" });
    res.write('{"status":"Pulling from dmb/app","id":"1"}\n');
  });
  await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
  const docker = new DockerClient({
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
  });
  const started = Date.now();
  const pull = pullImage(
    {
      docker,
      log: pino({ level: "silent" }),
      credentialsFor: async () => undefined,
      onProgress: () => {},
      pullIdleMs: 300,
    },
    "registry.example:5000/dmb/app:1",
  );
  await expect(pull).rejects.toThrow(/sent nothing for 0.3 s: given up/);
  expect(Date.now() - started).toBeLessThan(5000);
  await docker.close();
});
