// Engines through Portainer's API next to a direct one: environments listed with an API key that
// never leaks, followed as they come and go, chosen by id or name, named with clean unique ids,
// and their event streams read correctly through Portainer's buffering and tunnel cuts.
import { afterEach, describe, expect, it } from "vitest";
import { sanitiseId } from "../../src/homeassistant/ids.js";
import type { FakeEngine } from "../helpers/fake-engine.js";
import type { FakeEnvironment, FakePortainer } from "../helpers/fake-portainer.js";
import {
  PORTAINER_KEY as API_KEY,
  engineWith,
  expectOperationsApplied,
  type Fleet,
  hostTopics,
  OPERATED,
  type PortainerSetup,
  retainedView,
  startPortainerFleet,
  thirtyOperations,
  waitOnline,
  waitUntil,
} from "../helpers/fleet.js";
import { haPayload } from "../helpers/ha-expand.js";
import { HaView } from "../helpers/ha-rules.js";

/** Safe in topics and Home Assistant ids; no `__`, which joins host and container ids. */
const HOST_ID = /^[A-Za-z0-9](?:[A-Za-z0-9-]|_(?=[A-Za-z0-9-]))*$/;
const HA_DISCOVERY = /^homeassistant\/\w+\/(?:[a-zA-Z0-9_-]+\/)?[a-zA-Z0-9_-]+\/config$/;

let fleet: Fleet | undefined;
afterEach(async () => {
  await fleet?.close();
  fleet = undefined;
});

async function startWithPortainer(s: PortainerSetup) {
  const started = await startPortainerFleet(s);
  fleet = started.fleet;
  return started;
}

/** An environment whose engine runs one container. */
async function envWith(id: number, name: string, type: number, container: string) {
  return { id, name, type, engine: await engineWith(`${name}-vm`, [{ name: container }]) };
}

const hostIds = (f: Fleet) => f.service.engines.map((e) => e.hostId).sort();

describe("Portainer next to a direct engine", () => {
  async function startThree() {
    const direct = await engineWith("direct-vm", [{ name: "db" }]);
    const envs: FakeEnvironment[] = [
      await envWith(1, "local", 1, "web"),
      await envWith(2, "agent-box", 2, "worker"),
      await envWith(3, "kube", 5, "pod"),
    ];
    const started = await startWithPortainer({ envs, direct });
    await waitOnline(started.fleet, ["direct", "local", "agent-box"]);
    const rec = started.fleet.recorder;
    await rec.waitForState(hostTopics("direct").containerState("db"), { running: true });
    await rec.waitForState(hostTopics("local").containerState("web"), { running: true });
    await rec.waitForState(hostTopics("agent-box").containerState("worker"), { running: true });
    return { ...started, direct, envs };
  }

  it("shows three hosts with their containers and ignores Kubernetes", async () => {
    const { fleet: f, portainer } = await startThree();
    expect(hostIds(f)).toEqual(["agent-box", "direct", "local"]);
    const retained = await retainedView(f.broker.url, "#");
    const hosts = { direct: "db", local: "web", "agent-box": "worker" };
    for (const [host, container] of Object.entries(hosts)) {
      const t = hostTopics(host);
      expect(retained.has(t.deviceDiscovery(t.hostDeviceId()))).toBe(true);
      const device = retained.get(t.deviceDiscovery(t.containerDeviceId(container))) ?? "{}";
      expect((haPayload(device).device as { via_device?: string }).via_device).toBe(
        t.hostDeviceId(),
      );
    }
    expect([...retained.keys()].filter((k) => /kube|pod/.test(k))).toEqual([]);
    expect(portainer.requests.filter((r) => r.path.startsWith("/api/endpoints/3"))).toEqual([]);
  });

  it("sends X-API-Key, never Authorization, and never logs the key", async () => {
    const { fleet: f, portainer } = await startThree();
    expect(portainer.requests.length).toBeGreaterThan(3);
    const wrong = portainer.requests.filter(
      (r) => r.keySource !== "header" || !r.keyValid || r.authorization,
    );
    expect(wrong.map((r) => r.path)).toEqual([]);
    expect(f.logs.lines.length).toBeGreaterThan(0);
    expect(f.logs.text()).not.toContain(API_KEY);
  });

  it("shows only the environment whose engine is down as offline, without leaking the key", async () => {
    const { fleet: f, envs } = await startThree();
    const rec = f.recorder;
    const down = envs[0]?.engine as FakeEngine;
    const from = rec.messages.length;
    await down.refuseConnections(true);
    await down.cutStreams();
    await rec.waitFor("local offline", () => rec.last("docker/local/availability") === "offline");
    // The bridge keeps trying through Portainer (and logging why it fails) meanwhile.
    await waitUntil("a failed retry logged", () => f.logs.find(/engine lost/).length >= 2);
    for (const host of ["direct", "agent-box"]) {
      const topic = hostTopics(host).availability();
      expect(rec.messages.slice(from).filter((m) => m.topic === topic)).toEqual([]);
      expect(rec.last(topic)).toBe("online");
    }
    expect(f.logs.text()).not.toContain(API_KEY);
  });
});

describe("Portainer's API key", () => {
  it("refused: one clear log line, retries with backoff, and the key never logged", async () => {
    const envs = [await envWith(1, "local", 1, "web")];
    const wrong = "ptr_WrongButStillSecret987654321";
    const { fleet: f, portainer } = await startWithPortainer({ envs, apiKey: wrong });
    const listings = () => portainer.requests.filter((r) => r.path.startsWith("/api/endpoints"));
    expect(listings().length).toBe(1);
    const first = Date.now();
    await waitUntil("a second listing", () => listings().length >= 2, 5000);
    expect(Date.now() - first).toBeGreaterThanOrEqual(1500);
    expect(listings().every((r) => r.status === 401 && r.path === "/api/endpoints")).toBe(true);

    const errors = f.logs.lines.filter((l) => l.level >= 50);
    expect(errors).toHaveLength(1);
    expect(JSON.stringify(errors[0])).toMatch(/api.?key/i);
    expect(f.logs.text()).not.toContain(wrong);
    expect(f.logs.text()).not.toContain(API_KEY);
    expect(f.service.engines).toEqual([]);
  });
});

describe("environments coming and going", () => {
  it("follows an added environment and clears a removed one", async () => {
    const edge = await envWith(4, "edge", 4, "sensor");
    const { fleet: f, portainer } = await startWithPortainer({
      envs: [await envWith(1, "local", 1, "web")],
      env: { PORTAINER_REFRESH_SECONDS: "0.2" },
      owned: [edge.engine],
    });
    const rec = f.recorder;
    await waitOnline(f, ["local"]);
    await rec.waitForState("docker/local/containers/web/state", { running: true });

    portainer.addEnvironment(edge);
    await waitOnline(f, ["edge"]);
    await rec.waitForState("docker/edge/containers/sensor/state", { running: true });
    await rec.waitFor(
      "edge's device",
      () => rec.last("homeassistant/device/dmb_edge__sensor/config") !== undefined,
    );

    portainer.removeEnvironment(1);
    const cleared = [
      "homeassistant/device/dmb_local__web/config",
      "homeassistant/device/dmb_local/config",
      "docker/local/containers/web/state",
      "docker/local/availability",
    ];
    await rec.waitFor("local's topics cleared", () => cleared.every((t) => rec.last(t) === ""));
    await waitUntil("local's MQTT connection closed", () =>
      f.broker.clientIds().every((id) => !id.startsWith("docker-mqtt-bridge_local_")),
    );
    expect(hostIds(f)).toEqual(["edge"]);
    const retained = await retainedView(f.broker.url, "#");
    expect([...retained.keys()].filter((k) => k.includes("local"))).toEqual([]);
    expect(retained.get("docker/edge/availability")).toBe("online");
    expect(retained.get("docker/edge/containers/sensor/state")).toContain('"running":true');
    expect(HaView.from(rec.messages).problems).toEqual([]);
  });

  it("clears a removed environment's entities once a broker that was down is back", async () => {
    const { fleet: f, portainer } = await startWithPortainer({
      envs: [await envWith(1, "local", 1, "web"), await envWith(2, "other", 1, "db")],
      env: { PORTAINER_REFRESH_SECONDS: "0.2" },
    });
    const rec = f.recorder;
    await waitOnline(f, ["local", "other"]);
    await rec.waitForState("docker/local/containers/web/state", { running: true });
    // The broker is unreachable for local's connection while its environment goes away.
    f.broker.refuse("docker-mqtt-bridge_local_");
    f.broker.dropClients("docker-mqtt-bridge_local_");
    portainer.removeEnvironment(1);
    await waitUntil("local no longer followed", () => !hostIds(f).includes("local"));
    // Longer than a retiring runtime waits for its messages to drain (5 s).
    await new Promise((resolve) => setTimeout(resolve, 6000));
    f.broker.refuse(undefined);
    const cleared = ["homeassistant/device/dmb_local__web/config", "docker/local/availability"];
    await rec.waitFor("local's topics cleared", () => cleared.every((t) => rec.last(t) === ""));
    await waitUntil("local's MQTT connection closed", () =>
      f.broker.clientIds().every((id) => !id.startsWith("docker-mqtt-bridge_local_")),
    );
    const retained = await retainedView(f.broker.url, "#");
    expect([...retained.keys()].filter((k) => k.includes("local"))).toEqual([]);
    expect(retained.get("docker/other/availability")).toBe("online");
    // Cleared in an order Home Assistant takes without a warning.
    expect(HaView.from(rec.messages).problems).toEqual([]);
  }, 20_000);

  it("follows only the selected environments, by id and by name=host-id", async () => {
    const envs: FakeEnvironment[] = [
      await envWith(1, "local", 1, "one"),
      await envWith(2, "agent-box", 2, "two"),
      await envWith(4, "other", 4, "three"),
    ];
    const { fleet: f, portainer } = await startWithPortainer({
      envs,
      env: { PORTAINER_ENVIRONMENTS: "1,agent-box=remote" },
    });
    await waitOnline(f, ["local", "remote"]);
    await f.recorder.waitForState("docker/remote/containers/two/state", { running: true });
    expect(hostIds(f)).toEqual(["local", "remote"]);
    expect(portainer.requests.filter((r) => r.path.startsWith("/api/endpoints/4/"))).toEqual([]);
    expect(f.recorder.messages.filter((m) => /other|agent-box|three/.test(m.topic))).toEqual([]);
  });

  it("gives environments clean, unique host ids, never one already taken", async () => {
    const direct = await engineWith("direct-vm", [{ name: "d" }]);
    const envs: FakeEnvironment[] = [
      await envWith(1, "direct", 1, "a"),
      await envWith(2, "Prod Box.eu", 2, "b"),
      await envWith(3, "Prod Box.eu", 2, "c"),
    ];
    const { fleet: f } = await startWithPortainer({ envs, direct });
    const rec = f.recorder;
    const names = ["d", "a", "b", "c"];
    const stateOf = (n: string) =>
      rec.messages.find((m) => m.topic.endsWith(`/containers/${n}/state`));
    await rec.waitFor("every container's state", () => names.every((n) => stateOf(n)));
    const owners = names.map((n) => stateOf(n)?.topic.split("/")[1] ?? "");
    expect(owners[0]).toBe("direct");
    expect(new Set(owners).size).toBe(4);
    for (const id of owners) expect(id).toMatch(HOST_ID);
    expect(owners[2]).toBe(sanitiseId("Prod Box.eu"));
    expect(hostIds(f)).toEqual([...owners].sort());
    await waitOnline(f, owners);
    const discovery = rec.messages.filter((m) => m.topic.startsWith("homeassistant/"));
    expect(discovery.length).toBeGreaterThan(4);
    expect(discovery.filter((m) => !HA_DISCOVERY.test(m.topic)).map((m) => m.topic)).toEqual([]);
  });

  it("sanitises a host id given in the selection (name=host-id)", async () => {
    const envs = [await envWith(5, "lab", 1, "e")];
    const env = { PORTAINER_ENVIRONMENTS: "lab=Lab Host" };
    const { fleet: f } = await startWithPortainer({ envs, env });
    await waitUntil("the environment followed", () => f.service.engines.length === 1);
    expect(hostIds(f)).toEqual([sanitiseId("Lab Host")]);
    await f.recorder.waitFor("its device", () =>
      f.recorder.messages.some((m) => m.topic.startsWith("homeassistant/device/")),
    );
    const topics = f.recorder.messages.map((m) => m.topic).filter((t) => t.startsWith("homea"));
    expect(topics.filter((t) => !HA_DISCOVERY.test(t))).toEqual([]);
  });
});

describe("event streams through Portainer", () => {
  async function startBuffered() {
    const seeds = OPERATED.map((name) => ({ name }));
    const engine = await engineWith("local-vm", seeds);
    const started = await startWithPortainer({
      envs: [{ id: 1, name: "local", type: 1, engine, buffered: true }],
      service: { watchdogMs: 500 },
    });
    await waitOnline(started.fleet, ["local"]);
    await started.portainer.waitForEventStream({ count: 1 });
    return { ...started, engine };
  }

  it("reassembles events Portainer sends in 4 KB slices, in order", async () => {
    const { fleet: f, engine } = await startBuffered();
    const expected = thirtyOperations(engine);
    // One large event pushes everything before it out of Portainer's buffer.
    engine.emitEvent({
      Type: "image",
      Action: "tag",
      Actor: { ID: "sha256:filler", Attributes: { name: "x".repeat(9000) } },
    });
    await expectOperationsApplied(f.recorder, "local", expected, 5000);
  });

  it("applies the last events even while Portainer holds them back", async () => {
    const { fleet: f, engine } = await startBuffered();
    // Nothing follows: under 4 KB of the tail stays in Portainer's buffer unless the bridge
    // asks again in a way Portainer has to answer in full (a bounded since/until query).
    await expectOperationsApplied(f.recorder, "local", thirtyOperations(engine), 5000);
  });

  async function startCut() {
    const engine = await engineWith("edge-vm", [{ name: "web" }, { name: "api" }]);
    const started = await startWithPortainer({
      envs: [{ id: 4, name: "edge", type: 4, engine, cutAfterMs: 300 }],
      service: { offlineDelayMs: 1500 },
    });
    await waitOnline(started.fleet, ["edge"]);
    return { ...started, engine };
  }

  /** Waits for the stream open now to be cut, then stops `web` before the bridge is back. */
  async function stopWebInTheGap(portainer: FakePortainer, engine: FakeEngine) {
    const open = portainer.eventStreams.length - 1;
    await portainer.waitFor(() => portainer.eventStreams[open]?.outcome === "cut");
    engine.stop("web", { exitCode: 4 });
  }

  const dies = (f: Fleet) => f.recorder.on("docker/edge/events/container/die");
  const webDied = (f: Fleet) => dies(f).some((m) => m.payload.includes('"exitCode":"4"'));

  it("resumes a cut stream with since, without flapping offline", async () => {
    const { fleet: f, portainer, engine } = await startCut();
    const rec = f.recorder;
    const e = hostTopics("edge");
    engine.exec("api", "true");
    const execs = () => rec.on("docker/edge/events/container/exec_die");
    await rec.waitFor("the exec seen", () => execs().length === 1);
    await stopWebInTheGap(portainer, engine);
    await rec.waitForState(e.containerState("web"), { status: "exited", exit_code: 4 });
    await rec.waitFor("web's die event, replayed", () => webDied(f), 3000);
    const next = portainer.eventStreams.length + 2;
    await portainer.waitForEventStream({ count: next });
    engine.stop("api", { exitCode: 5 });
    await rec.waitForState(e.containerState("api"), { status: "exited", exit_code: 5 });
    await portainer.waitFor(() => portainer.eventStreams[next - 1]?.outcome === "cut");
    const streams = portainer.eventStreams;
    expect(streams.slice(1).every((s) => /[?&]since=/.test(s.path))).toBe(true);
    expect(streams.slice(0, next).every((s) => s.outcome === "cut")).toBe(true);
    const availability = rec.on(e.availability()).map((m) => m.payload);
    expect(availability.slice(availability.indexOf("online"))).toEqual(["online"]);
    // No flap: once exited, web never shows running again.
    const statuses = rec.on(e.containerState("web")).map((m) => JSON.parse(m.payload).status);
    expect(statuses.filter((v, i) => v !== statuses[i - 1])).toEqual(["running", "exited"]);
    expect(f.logs.text()).not.toContain(API_KEY);
  });

  it("resumes from where an idle stream began when it is cut before any event", async () => {
    const { fleet: f, portainer, engine } = await startCut();
    await stopWebInTheGap(portainer, engine);
    await f.recorder.waitForState(hostTopics("edge").containerState("web"), { exit_code: 4 });
    await f.recorder.waitFor("web's die event, replayed", () => webDied(f), 3000);
  });
});
