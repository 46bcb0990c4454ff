// The checker over a registry-shaped HTTP server on 127.0.0.1:0 and a minimal engine answering
// the two inspect calls: ten containers on one reference ask the registry once per check, and a
// failing registry marks only its own images as not checkable.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { EngineCall } from "../../src/docker/client.js";
import { DockerError } from "../../src/errors.js";
import { type AnswerCache, UpdateChecker } from "../../src/updates/checker.js";
import type { EngineCaller } from "../../src/updates/engine.js";
import { RegistryClient } from "../../src/updates/registry-client.js";

const OLD = `sha256:${"0".repeat(64)}`;
const NEW = `sha256:${"f".repeat(64)}`;

let servers: Server[] = [];
let registries: RegistryClient[] = [];
afterEach(async () => {
  await Promise.all(registries.map((r) => r.close()));
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  servers = [];
  registries = [];
});

async function registry(status: number): Promise<{ host: string; heads: string[] }> {
  const heads: string[] = [];
  const server = createServer((req, res) => {
    if (req.method === "HEAD") heads.push(req.url ?? "");
    res.writeHead(status, status === 200 ? { "docker-content-digest": NEW } : {}).end();
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, heads };
}

/** Answers GET /containers/{id}/json and /images/{id}/json from a table, 404 otherwise. */
function engine(
  containers: Record<string, { image: string; imageId: string }>,
  images: Record<string, string[]>,
): EngineCaller {
  const answer = (value: unknown) =>
    ({ status: 200, body: { json: async () => value } }) as unknown as Awaited<
      ReturnType<EngineCaller["call"]>
    >;
  return {
    async call(req: EngineCall) {
      const container = /^\/containers\/([^/]+)\/json$/.exec(req.path);
      const c = container && containers[decodeURIComponent(container[1] ?? "")];
      if (c) return answer({ Id: container?.[1], Image: c.imageId, Config: { Image: c.image } });
      const image = /^\/images\/([^/]+)\/json$/.exec(req.path);
      const digests = image && images[decodeURIComponent(image[1] ?? "")];
      if (digests) return answer({ Id: image?.[1], RepoDigests: digests });
      throw new DockerError("DOCKER_HTTP_ERROR", "no such object", { status: 404 });
    },
  };
}

function checker(docker: EngineCaller): UpdateChecker {
  const client = new RegistryClient();
  registries.push(client);
  return new UpdateChecker({ docker, registry: client, log: pino({ level: "silent" }) });
}

describe("UpdateChecker", () => {
  it("asks once per distinct reference per check, and again in the next check", async () => {
    const reg = await registry(200);
    const containers: Record<string, { image: string; imageId: string }> = {};
    for (let i = 0; i < 10; i++)
      containers[`c${i}`] = { image: `${reg.host}/db:16`, imageId: "img1" };
    containers.other = { image: `${reg.host}/web:1`, imageId: "img2" };
    const docker = engine(containers, {
      img1: [`${reg.host}/db@${OLD}`],
      img2: [`${reg.host}/web@${NEW}`],
    });
    const targets = Object.keys(containers).map((name) => ({ name, id: name }));
    const c = checker(docker);
    const first = await c.check(targets, new Map());
    expect(reg.heads.sort()).toEqual(["/v2/db/manifests/16", "/v2/web/manifests/1"]);
    expect(first.get("c3")).toMatchObject({ installed: OLD, latest: NEW, available: true });
    expect(first.get("other")).toMatchObject({ installed: NEW, latest: NEW, available: false });
    const answers: AnswerCache = new Map();
    await c.check(targets, answers);
    expect(reg.heads).toHaveLength(4);
    // A recheck with the same answers asks nothing more.
    await c.check([{ name: "c1", id: "c1" }], answers);
    expect(reg.heads).toHaveLength(4);
  });

  it("marks only the failing registry's images as not checkable", async () => {
    const good = await registry(200);
    const bad = await registry(500);
    const docker = engine(
      {
        a: { image: `${good.host}/a:1`, imageId: "ia" },
        b: { image: `${bad.host}/b:1`, imageId: "ib" },
      },
      { ia: [`${good.host}/a@${OLD}`], ib: [`${bad.host}/b@${OLD}`] },
    );
    const result = await checker(docker).check(
      [
        { name: "a", id: "a" },
        { name: "b", id: "b" },
        { name: "gone", id: "gone" },
      ],
      new Map(),
    );
    expect(result.get("a")).toMatchObject({ available: true, reason: null });
    expect(result.get("b")).toMatchObject({ available: null, reason: "registry_error" });
    expect(result.has("gone")).toBe(false);
  });
});
