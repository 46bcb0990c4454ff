// The registry client against a registry-shaped HTTP server on 127.0.0.1:0 (plain HTTP, which the
// client uses for 127.0.0.0/8): the token flow, credentials, 429 back-off, one request per
// reference, bounded concurrency, and what each failure is reported as.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { parseReference } from "../../src/updates/reference.js";
import { RegistryClient, RegistryError } from "../../src/updates/registry-client.js";
import { MANIFEST_ACCEPT } from "../../src/updates/registry-protocol.js";

const DIGEST = `sha256:${"1".repeat(64)}`;

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
}

type Handler = (req: IncomingMessage, res: ServerResponse, seen: Seen[]) => void;

let servers: Server[] = [];
let clients: RegistryClient[] = [];

afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  servers = [];
  clients = [];
});

async function registry(handler: Handler): Promise<{ host: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    handler(req, res, seen);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

function client(options: ConstructorParameters<typeof RegistryClient>[0] = {}): RegistryClient {
  const c = new RegistryClient(options);
  clients.push(c);
  return c;
}

function ref(text: string) {
  const r = parseReference(text);
  if (!r) throw new Error(`bad reference ${text}`);
  return r;
}

/** A registry with Docker Hub's token flow: 401 + Bearer challenge, then the token service. */
function tokenRegistry(host: () => string, opts: { user?: string } = {}): Handler {
  return (req, res) => {
    if (req.url?.startsWith("/token")) {
      const auth = req.headers.authorization;
      if (opts.user && auth !== `Basic ${Buffer.from(opts.user).toString("base64")}`) {
        res.writeHead(401).end();
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ token: "T0K", expires_in: 300 }));
      return;
    }
    if (req.headers.authorization !== "Bearer T0K") {
      res.writeHead(401, {
        "www-authenticate": `Bearer realm="http://${host()}/token",service="test-registry",scope="repository:app/web:pull"`,
      });
      res.end();
      return;
    }
    res.writeHead(200, {
      "docker-content-digest": DIGEST,
      "content-type": "application/vnd.oci.image.index.v1+json",
    });
    res.end();
  };
}

describe("RegistryClient", () => {
  it("HEADs the manifest with the Accept list and reads Docker-Content-Digest", async () => {
    const reg = await registry((_req, res) => {
      res.writeHead(200, { "docker-content-digest": DIGEST }).end();
    });
    const digest = await client().manifestDigest(ref(`${reg.host}/app/web:1.2`));
    expect(digest).toBe(DIGEST);
    expect(reg.seen).toHaveLength(1);
    expect(reg.seen[0]?.method).toBe("HEAD");
    expect(reg.seen[0]?.url).toBe("/v2/app/web/manifests/1.2");
    expect(reg.seen[0]?.headers.accept).toBe(MANIFEST_ACCEPT);
  });

  it("follows the Bearer challenge anonymously and reuses the token", async () => {
    let host = "";
    const reg = await registry(tokenRegistry(() => host));
    host = reg.host;
    const c = client();
    expect(await c.manifestDigest(ref(`${host}/app/web:1`))).toBe(DIGEST);
    expect(await c.manifestDigest(ref(`${host}/app/web:2`))).toBe(DIGEST);
    const token = reg.seen.filter((s) => s.url.startsWith("/token"));
    expect(token).toHaveLength(1);
    expect(token[0]?.url).toBe("/token?service=test-registry&scope=repository%3Aapp%2Fweb%3Apull");
    expect(token[0]?.headers.authorization).toBeUndefined();
    // 401, token, 200, then the second tag with the cached token straight away.
    expect(reg.seen.map((s) => s.method)).toEqual(["HEAD", "GET", "HEAD", "HEAD"]);
  });

  it("logs in to the token service with the auth file's credentials", async () => {
    let host = "";
    const reg = await registry(tokenRegistry(() => host, { user: "me:secret" }));
    host = reg.host;
    const anonymous = client();
    await expect(anonymous.manifestDigest(ref(`${host}/app/web:1`))).rejects.toMatchObject({
      code: "REGISTRY_AUTH_FAILED",
    });
    const withCreds = client({
      credentials: new Map([[host, { username: "me", password: "secret" }]]),
    });
    expect(await withCreds.manifestDigest(ref(`${host}/app/web:1`))).toBe(DIGEST);
  });

  it("waits out a short 429 Retry-After, then answers", async () => {
    let calls = 0;
    const reg = await registry((_req, res) => {
      calls++;
      if (calls === 1) res.writeHead(429, { "retry-after": "1" }).end();
      else res.writeHead(200, { "docker-content-digest": DIGEST }).end();
    });
    const started = Date.now();
    expect(await client().manifestDigest(ref(`${reg.host}/x:1`))).toBe(DIGEST);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(calls).toBe(2);
  });

  it("gives up on a long Retry-After and leaves the registry alone until then", async () => {
    const reg = await registry((_req, res) => {
      res.writeHead(429, { "retry-after": "3600" }).end();
    });
    const c = client({ maxWaitMs: 5_000 });
    const first = c.manifestDigest(ref(`${reg.host}/x:1`));
    await expect(first).rejects.toBeInstanceOf(RegistryError);
    await expect(first).rejects.toMatchObject({ code: "REGISTRY_RATE_LIMITED" });
    await expect(c.manifestDigest(ref(`${reg.host}/y:1`))).rejects.toMatchObject({
      code: "REGISTRY_RATE_LIMITED",
    });
    expect(reg.seen).toHaveLength(1);
  });

  it("reports a missing tag, a server error, a missing digest and an unreachable registry", async () => {
    const reg = await registry((req, res) => {
      if (req.url?.includes("/missing/")) res.writeHead(404).end();
      else if (req.url?.includes("/broken/")) res.writeHead(500).end();
      else res.writeHead(200).end();
    });
    const c = client();
    await expect(c.manifestDigest(ref(`${reg.host}/missing:1`))).rejects.toMatchObject({
      code: "REGISTRY_NOT_FOUND",
    });
    await expect(c.manifestDigest(ref(`${reg.host}/broken:1`))).rejects.toMatchObject({
      code: "REGISTRY_HTTP_ERROR",
      status: 500,
    });
    await expect(c.manifestDigest(ref(`${reg.host}/nodigest:1`))).rejects.toMatchObject({
      code: "REGISTRY_BAD_RESPONSE",
    });
    const closed = await registry(() => undefined);
    await new Promise((r) => servers.pop()?.close(r));
    await expect(c.manifestDigest(ref(`${closed.host}/x:1`))).rejects.toMatchObject({
      code: "REGISTRY_UNREACHABLE",
    });
  });

  it("keeps at most `concurrency` requests in flight", async () => {
    let inFlight = 0;
    let most = 0;
    const reg = await registry((_req, res) => {
      inFlight++;
      most = Math.max(most, inFlight);
      setTimeout(() => {
        inFlight--;
        res.writeHead(200, { "docker-content-digest": DIGEST }).end();
      }, 30);
    });
    const c = client({ concurrency: 2 });
    const all = await Promise.all(
      Array.from({ length: 7 }, (_, i) => c.manifestDigest(ref(`${reg.host}/x:${i}`))),
    );
    expect(all).toEqual(Array(7).fill(DIGEST));
    expect(most).toBe(2);
  });

  it("speaks HTTPS to registries outside 127.0.0.0/8 unless configured", () => {
    expect(client().baseUrl("docker.io")).toBe("https://registry-1.docker.io");
    expect(client().baseUrl("ghcr.io")).toBe("https://ghcr.io");
    expect(client().baseUrl("registry:5000")).toBe("https://registry:5000");
    expect(client({ insecure: ["registry:5000"] }).baseUrl("registry:5000")).toBe(
      "http://registry:5000",
    );
    expect(client().baseUrl("127.0.0.1:5000")).toBe("http://127.0.0.1:5000");
  });
});
