// Review findings on the registry client's token flow, against registry-shaped servers on loopback.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, expect, it } from "vitest";
import { parseReference } from "../../src/updates/reference.js";
import { RegistryClient } from "../../src/updates/registry-client.js";

const servers: Server[] = [];
const clients: RegistryClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  for (const s of servers.splice(0)) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

async function serve(
  handler: (req: IncomingMessage, res: import("node:http").ServerResponse) => void,
) {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const ref = (text: string) =>
  parseReference(text) ??
  (() => {
    throw new Error(text);
  })();

it("does not send the registry's password to a realm on another host in plain HTTP", async () => {
  const seenAuth: (string | undefined)[] = [];
  // "Another host": a second origin the registry's challenge names (the test can only use loopback).
  const elsewhere = await serve((req, res) => {
    seenAuth.push(req.headers.authorization);
    res.writeHead(200, { "content-type": "application/json" }).end('{"token":"t"}');
  });
  const reg = await serve((_req, res) => {
    res.writeHead(401, { "www-authenticate": `Bearer realm="http://${elsewhere}/steal"` }).end();
  });
  const c = new RegistryClient({
    credentials: new Map([[reg, { username: "me", password: "s3cret" }]]),
  });
  clients.push(c);
  await c.manifestDigest(ref(`${reg}/app:1`)).catch(() => undefined);
  expect(seenAuth.filter(Boolean)).toEqual([]); // before the fix: ["Basic bWU6czNjcmV0"], the password, to whoever the realm names
});

it("gives up on a token service that trickles its answer (the check must not hang)", async () => {
  const token = await serve((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.write('{"token":"');
    const t = setInterval(() => res.write("x"), 100); // always inside the idle timeout
    res.on("close", () => clearInterval(t));
  });
  const reg = await serve((_req, res) => {
    res.writeHead(401, { "www-authenticate": `Bearer realm="http://${token}/token"` }).end();
  });
  const c = new RegistryClient({ timeoutMs: 500 });
  clients.push(c);
  const started = Date.now();
  const outcome = await Promise.race([
    c.manifestDigest(ref(`${reg}/app:1`)).then(
      () => "answered",
      () => "failed",
    ),
    new Promise((r) => setTimeout(() => r("still waiting"), 3_000)),
  ]);
  expect(outcome).toBe("failed");
  expect(Date.now() - started).toBeLessThan(3_000);
});
