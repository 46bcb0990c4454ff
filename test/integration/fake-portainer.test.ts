// Proves the fake Portainer: API-key auth and error bodies as Portainer 2.x writes them, the
// environment list, the Docker proxy (versioned paths, query, headers, streaming) and its traps
// (batched bodies, cut streams, unreachable environments) that bridge tests rely on.
import { Agent, type Dispatcher, request } from "undici";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeEngine } from "../helpers/fake-engine.js";
import { serializeEvent } from "../helpers/fake-engine-events.js";
import { FakePortainer } from "../helpers/fake-portainer.js";

const KEY = "ptr_fake-test-key";

/** Collects a streamed body as it arrives. */
class BodyReader {
  text = "";
  bytes = 0;
  outcome: "open" | "end" | "error" = "open";
  #wake: Array<() => void> = [];

  constructor(body: Dispatcher.ResponseData["body"]) {
    body.on("data", (chunk: Buffer) => {
      this.bytes += chunk.length;
      this.text += chunk.toString("utf8");
      this.#notify();
    });
    body.on("end", () => this.#finish("end"));
    body.on("error", () => this.#finish("error"));
  }

  get actions(): string[] {
    return this.text
      .split("\n")
      .slice(0, -1)
      .map((l) => String((JSON.parse(l) as { Action?: unknown }).Action));
  }

  async until(check: () => boolean): Promise<void> {
    while (!check()) {
      if (this.outcome !== "open")
        throw new Error(`body ${this.outcome} after ${this.bytes} bytes`);
      await new Promise<void>((resolve) => this.#wake.push(resolve));
    }
  }

  async closed(): Promise<"end" | "error"> {
    await this.until(() => this.outcome !== "open").catch(() => undefined);
    return this.outcome === "end" ? "end" : "error";
  }

  #finish(outcome: "end" | "error"): void {
    if (this.outcome === "open") this.outcome = outcome;
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = [];
    for (const resolve of wake) resolve();
  }
}

let engine: FakeEngine;
let portainer: FakePortainer;
let agent: Agent;

beforeEach(async () => {
  engine = await FakeEngine.start();
  portainer = await FakePortainer.start({
    apiKey: KEY,
    environments: [
      { id: 1, name: "local", type: 1, engine },
      { id: 2, name: "agent", type: 2, engine: undefined, status: 2 },
      { id: 3, name: "aci", type: 3 },
      { id: 4, name: "edge", type: 4, engine },
      { id: 5, name: "k8s", type: 5 },
    ],
  });
  agent = new Agent();
});

afterEach(async () => {
  await portainer.close();
  await agent.destroy();
  await engine.close();
});

function get(path: string, headers: Record<string, string> = { "x-api-key": KEY }) {
  return request(`${portainer.url}${path}`, { dispatcher: agent, headers });
}

async function json(path: string, headers?: Record<string, string>) {
  const res = await get(path, headers);
  return { status: res.statusCode, headers: res.headers, body: await res.body.json() };
}

describe("authentication", () => {
  it("answers 401 with Portainer's error body without a key or with a wrong one", async () => {
    const missing = await json("/api/endpoints", {});
    const wrong = await json("/api/endpoints/1/docker/_ping", { "x-api-key": "ptr_wrong" });
    for (const res of [missing, wrong]) {
      expect(res.status).toBe(401);
      expect(res.headers["content-type"]).toBe("application/json");
      expect(res.body).toEqual({
        message: "A valid authorisation token is missing",
        details: "Unauthorized",
      });
    }
    expect(engine.requests).toEqual([]);
    expect(portainer.requests.map((r) => [r.keySource, r.keyValid, r.status])).toEqual([
      ["none", false, 401],
      ["header", false, 401],
    ]);
    expect(portainer.requests[1]?.headers["x-api-key"]).toBe("***");
  });

  it("serves a valid key sent with an Authorization header, and records that it came", async () => {
    const res = await json("/api/endpoints", { "x-api-key": KEY, authorization: "Bearer junk" });
    expect(res.status).toBe(200);
    const [entry] = portainer.requests;
    expect(entry).toMatchObject({ keyValid: true, authorization: true, status: 200 });
    expect(entry?.headers.authorization).toBe("***");
    expect(JSON.stringify(portainer.requests)).not.toContain(KEY);
  });

  it("accepts the key as a query parameter, as Portainer does, and masks it", async () => {
    const res = await json(`/api/endpoints?X-API-Key=${KEY}`, {});
    expect(res.status).toBe(200);
    expect(portainer.requests[0]).toMatchObject({
      keySource: "query",
      path: "/api/endpoints?X-API-Key=***",
    });
  });
});

describe("GET /api/endpoints", () => {
  it("lists every environment with Portainer's fields, Docker or not", async () => {
    const res = await json("/api/endpoints");
    expect(res.status).toBe(200);
    expect(res.headers["x-total-count"]).toBe("5");
    const list = res.body as Array<Record<string, unknown>>;
    expect(list.map((e) => [e.Id, e.Name, e.Type, e.Status])).toEqual([
      [1, "local", 1, 1],
      [2, "agent", 2, 2],
      [3, "aci", 3, 1],
      [4, "edge", 4, 1],
      [5, "k8s", 5, 1],
    ]);
    expect(list[0]).toMatchObject({ URL: "unix:///var/run/docker.sock", GroupId: 1 });
    expect(list[0]).not.toHaveProperty("EdgeID");
    expect(list[3]).toMatchObject({ EdgeID: "edge-4", URL: "tcp://env-4:9001" });
  });

  it("filters on types[] only; a bare types= is ignored like Portainer 2.x does", async () => {
    const ids = async (query: string) =>
      ((await json(`/api/endpoints${query}`)).body as Array<{ Id: number }>).map((e) => e.Id);
    expect(await ids("?types[]=1&types[]=2&types[]=4")).toEqual([1, 2, 4]);
    expect(await ids("?types=1&excludeSnapshots=true")).toEqual([1, 2, 3, 4, 5]);
  });

  it("follows add, remove, setStatus and failNext", async () => {
    portainer.removeEnvironment(3);
    portainer.addEnvironment({ id: 9, name: "late", type: 2, engine });
    portainer.setStatus(1, 2);
    portainer.failNext("/api/endpoints", 503, 1, "busy");
    expect(await json("/api/endpoints")).toMatchObject({
      status: 503,
      body: { message: "busy", details: "busy" },
    });
    const list = (await json("/api/endpoints")).body as Array<{ Id: number; Status: number }>;
    expect(list.map((e) => [e.Id, e.Status])).toEqual([
      [1, 2],
      [2, 2],
      [4, 1],
      [5, 1],
      [9, 1],
    ]);
  });
});

describe("the Docker proxy", () => {
  it("forwards /_ping and its Api-Version header, without Portainer's credentials", async () => {
    const res = await get("/api/endpoints/1/docker/_ping", {
      "x-api-key": KEY,
      "user-agent": "bridge-test",
    });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe("OK");
    expect(res.headers["api-version"]).toBe("1.41");
    expect(res.headers["x-content-type-options"]).toBe("nosniff");
    const [forwarded] = engine.requests;
    expect(forwarded?.path).toBe("/_ping");
    expect(forwarded?.headers["user-agent"]).toBe("bridge-test");
    expect(forwarded?.headers["x-api-key"]).toBeUndefined();
  });

  it("forwards versioned paths with their query, and the engine's errors as they are", async () => {
    engine.run({ name: "x" });
    const list = await json("/api/endpoints/1/docker/v1.41/containers/json?all=1");
    expect(list.status).toBe(200);
    expect((list.body as Array<{ Names: string[] }>).map((c) => c.Names)).toEqual([["/x"]]);
    expect(engine.requests.at(-1)?.path).toBe("/v1.41/containers/json?all=1");
    const tooNew = await json("/api/endpoints/4/docker/v1.43/version");
    expect(tooNew.status).toBe(400);
    expect(tooNew.body).toEqual({
      message: "client version 1.43 is too new. Maximum supported API version is 1.41",
    });
  });

  it("streams /events as the engine emits them", async () => {
    const res = await get("/api/endpoints/1/docker/v1.41/events?since=0");
    expect(res.statusCode).toBe(200);
    const reader = new BodyReader(res.body);
    await engine.waitForEventStream({ count: 1 });
    engine.run({ name: "x" });
    await reader.until(() => reader.actions.includes("start"));
    expect(reader.actions).toEqual(engine.history.map((e) => e.Action));
    expect(portainer.openEventStreams).toBe(1);
    expect(portainer.eventStreams[0]).toMatchObject({ path: "/v1.41/events?since=0" });
  });

  it("buffered: holds headers and small events until 4 KB, then sends whole 4 KB slices", async () => {
    portainer.updateEnvironment(1, { buffered: true });
    let answered = false;
    const pending = get("/api/endpoints/1/docker/events").then((res) => {
      answered = true;
      return res;
    });
    await engine.waitForEventStream({ count: 1 });
    const stream = await portainer.waitForEventStream({ count: 1 });
    engine.run({ name: "x" });
    const small = engine.history.map(serializeEvent).join("");
    expect(small.length).toBeLessThan(4096);
    await portainer.waitFor(() => stream.received === small.length);
    expect(stream).toMatchObject({ sent: 0, headersSent: false });
    expect(answered).toBe(false);

    const filler = `{"filler":"${"f".repeat(4200)}"}\n`;
    engine.emitRaw(filler);
    const reader = new BodyReader((await pending).body);
    await portainer.waitFor(() => stream.received === small.length + filler.length);
    expect(stream.sent).toBe(4096);
    await reader.until(() => reader.bytes >= 4096);
    expect(reader.bytes).toBe(4096);
    expect(reader.text.startsWith(small)).toBe(true);

    await engine.cutStreams({ graceful: true });
    expect(await reader.closed()).toBe("end");
    expect(reader.text).toBe(small + filler);
    expect(stream.outcome).toBe("end");
  });

  it("buffered: a stream that ends on its own delivers everything at the end", async () => {
    portainer.updateEnvironment(1, { buffered: true });
    engine.run({ name: "x" });
    const until = engine.timestamp();
    const res = await get(`/api/endpoints/1/docker/events?since=0&until=${until}`);
    const reader = new BodyReader(res.body);
    expect(await reader.closed()).toBe("end");
    expect(reader.text).toBe(engine.history.map(serializeEvent).join(""));
  });

  it("cutAfterMs: breaks /events streams, not other requests", async () => {
    portainer.updateEnvironment(4, { cutAfterMs: 50 });
    const res = await get("/api/endpoints/4/docker/events");
    const reader = new BodyReader(res.body);
    expect(await reader.closed()).toBe("error");
    expect(portainer.eventStreams[0]?.outcome).toBe("cut");
    expect(portainer.openEventStreams).toBe(0);
    expect((await json("/api/endpoints/4/docker/containers/json")).status).toBe(200);
  });

  it("close() ends open streams", async () => {
    const res = await get("/api/endpoints/1/docker/events");
    const reader = new BodyReader(res.body);
    await portainer.waitForEventStream({ count: 1 });
    await portainer.close();
    expect(await reader.closed()).toBe("error");
    expect(portainer.eventStreams[0]?.outcome).toBe("closed");
  });
});

describe("environments the proxy cannot use", () => {
  it("answers 404 for an unknown id and 400 for a non-numeric one", async () => {
    expect(await json("/api/endpoints/42/docker/_ping")).toMatchObject({
      status: 404,
      body: {
        message: "Unable to find an environment with the specified identifier inside the database",
        details: "Object not found inside the database",
      },
    });
    expect(await json("/api/endpoints/local/docker/_ping")).toMatchObject({
      status: 400,
      body: { message: "Invalid environment identifier route variable" },
    });
  });

  it("local socket down: 500 from the socket proxy", async () => {
    portainer.updateEnvironment(1, { engine: undefined });
    expect(await json("/api/endpoints/1/docker/_ping")).toMatchObject({
      status: 500,
      body: {
        message: "Unable to proxy the request via the Docker socket",
        details: "Dial unix /var/run/docker.sock: connect: no such file or directory",
      },
    });
  });

  it("agent or edge unreachable: 502 with an empty body from the reverse proxy", async () => {
    const tcp = await FakeEngine.start({ tcp: true });
    portainer.updateEnvironment(4, { engine: tcp });
    await tcp.close();
    for (const id of [2, 4]) {
      const res = await get(`/api/endpoints/${id}/docker/_ping`);
      expect(res.statusCode).toBe(502);
      expect(await res.body.text()).toBe("");
    }
  });

  it("an edge agent that never registered: 500", async () => {
    portainer.updateEnvironment(4, { edgeId: "" });
    expect(await json("/api/endpoints/4/docker/_ping")).toMatchObject({
      status: 500,
      body: { message: "No Edge agent registered with the environment" },
    });
  });

  it("still proxies an environment whose Status says down", async () => {
    portainer.setStatus(1, 2);
    const res = await get("/api/endpoints/1/docker/_ping");
    expect(res.statusCode).toBe(200);
    await res.body.dump();
  });
});
