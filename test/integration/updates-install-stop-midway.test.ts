// The bridge stopping mid-install (SIGTERM): the install is aborted, and its rollback still puts the
// old container back under its name, running, before the engine client is closed (EngineRuntime
// awaits the features' settled() between the two). Found in review: the client used to be closed
// one tick after the abort, and the container was left renamed aside (<id12>_<name>) and stopped.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import pino from "pino";
import { afterEach, expect, it } from "vitest";
import { DockerClient } from "../../src/docker/client.js";
import { installUpdate } from "../../src/updates/installer.js";

const OLD = "a".repeat(64);
let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
});

it("a bridge stopping mid-install leaves the container under its name, running", async () => {
  const engine = { name: "web", running: true };
  const send = (res: import("node:http").ServerResponse, status: number, body?: unknown) =>
    res
      .writeHead(status, { "content-type": "application/json" })
      .end(body === undefined ? "" : JSON.stringify(body));
  let stopSeen: () => void = () => {};
  const stopReached = new Promise<void>((r) => {
    stopSeen = r;
  });
  server = createServer((req, res) => {
    const [path = "", query = ""] = (req.url ?? "").split("?");
    const p = path.replace(/^\/v[0-9.]+/, "");
    req.resume();
    if (req.method === "GET" && p === `/containers/${OLD}/json`)
      return send(res, 200, {
        Id: OLD,
        Name: `/${engine.name}`,
        Image: "sha256:old",
        Config: { Image: "web:1" },
        HostConfig: { NetworkMode: "none" },
        State: { Running: engine.running },
        NetworkSettings: { Networks: {} },
      });
    if (p === "/images/sha256%3Aold/json" || p === "/images/sha256:old/json")
      return send(res, 200, { Id: "sha256:old" });
    if (p === "/images/web%3A1/json" || p === "/images/web:1/json")
      return send(res, 200, { Id: "sha256:new" });
    if (p === "/images/create") return send(res, 200, { status: "done" });
    if (p === "/containers/create") return send(res, 201, { Id: "b".repeat(64) });
    if (p === `/containers/${OLD}/rename`) {
      engine.name = new URLSearchParams(query).get("name") ?? "";
      return send(res, 204);
    }
    if (p === `/containers/${OLD}/stop`) {
      engine.running = false;
      stopSeen();
      return;
    } // answers late
    if (p === `/containers/${OLD}/start`) {
      engine.running = true;
      return send(res, 204);
    }
    return send(res, req.method === "DELETE" ? 204 : 404, { message: "no such" });
  });
  await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
  const client = new DockerClient({
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
  });
  const abort = new AbortController();
  const install = installUpdate(
    {
      docker: client,
      log: pino({ level: "silent" }),
      credentialsFor: async () => undefined,
      onProgress: () => {},
    },
    OLD,
    abort.signal,
  );
  await stopReached;
  // What EngineRuntime.stop() does: features stopped (the abort), their installs settled (the
  // rollback, needing requests of its own after the abort), then the client closed.
  abort.abort();
  const outcome = await install;
  await client.close();
  expect(engine).toEqual({ name: "web", running: true });
  expect(outcome).toMatchObject({ ok: false });
});
