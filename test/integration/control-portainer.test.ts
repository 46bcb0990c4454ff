// Control through Portainer (issue #14): the same POSTs go through its Docker proxy with the API
// key, and a key whose user may not operate containers gets a clear refusal on /result.
import { afterEach, expect, it } from "vitest";
import type { FakeEngine } from "../helpers/fake-engine.js";
import type { FakePortainer } from "../helpers/fake-portainer.js";
import {
  engineWith,
  type Fleet,
  hostTopics,
  PORTAINER_KEY,
  startPortainerFleet,
  waitOnline,
} from "../helpers/fleet.js";

let fleet: Fleet | undefined;
afterEach(async () => {
  await fleet?.close();
  fleet = undefined;
});

async function start(): Promise<{ f: Fleet; portainer: FakePortainer; engine: FakeEngine }> {
  const engine = await engineWith("local-vm", [{ name: "web" }]);
  const started = await startPortainerFleet({
    envs: [{ id: 1, name: "local", type: 1, engine }],
    env: { CONTROL_ENABLED: "true", CONTROL_CONTAINERS: "web" },
  });
  fleet = started.fleet;
  await waitOnline(fleet, ["local"]);
  await fleet.recorder.waitForState(hostTopics("local").containerState("web"), { running: true });
  return { f: fleet, portainer: started.portainer, engine };
}

async function command(f: Fleet, topic: string, payload: string) {
  const before = f.recorder.on(`${topic}/result`).length;
  await f.recorder.publish(topic, payload);
  await f.recorder.waitFor("the answer", () => f.recorder.on(`${topic}/result`).length > before);
  return JSON.parse(f.recorder.on(`${topic}/result`)[before]?.payload ?? "{}");
}

it("a restart goes through Portainer's Docker proxy with the API key", async () => {
  const { f, portainer, engine } = await start();
  const id = engine.container("web")?.id as string;
  const before = engine.container("web")?.startedAt;
  const answer = await command(f, hostTopics("local").containerCommand("web"), "restart");
  expect(answer).toMatchObject({ action: "restart", ok: true, container: "web" });
  expect(engine.container("web")?.startedAt).not.toBe(before);
  const posts = portainer.requests.filter((r) => r.method === "POST");
  expect(posts.map((r) => r.path.replace(/\/v[0-9.]+\//, "/v/"))).toEqual([
    `/api/endpoints/1/docker/v/containers/${id}/restart?t=10`,
  ]);
  expect(posts[0]?.headers["x-api-key"]).toBeDefined();
  expect(posts[0]?.authorization).toBe(false);
  expect(JSON.stringify(f.logs.lines)).not.toContain(PORTAINER_KEY);
});

it("a key whose user may not operate containers gets a clear refusal, and nothing changes", async () => {
  const { f, portainer, engine } = await start();
  const id = engine.container("web")?.id as string;
  portainer.failNext(new RegExp(`/containers/${id}/stop`), 403, 1, "Access denied to resource");
  const answer = await command(f, hostTopics("local").containerCommand("web"), "stop");
  expect(answer).toMatchObject({ action: "stop", ok: false });
  expect(answer.error).toMatch(
    /^Access denied to resource \(refused before the engine: the Portainer API key's user needs the right to operate containers/,
  );
  expect(engine.container("web")?.running).toBe(true);
});
