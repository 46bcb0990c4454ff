// Several engines through one bridge (`engines`, DOCKER_ENGINES as JSON): each host has its own
// devices, topics and availability, one engine failing leaves the others alone, and a bridge that
// stops or dies marks every host offline.
import { afterEach, describe, expect, it } from "vitest";
import { FakeEngine } from "../helpers/fake-engine.js";
import { type Fleet, hostTopics, retainedView, startFleet } from "../helpers/fleet.js";
import { haPayload } from "../helpers/ha-expand.js";

const alphaTopics = hostTopics("alpha");
const betaTopics = hostTopics("beta");

let fleet: Fleet | undefined;
afterEach(async () => {
  await fleet?.close();
  fleet = undefined;
});

interface Two {
  fleet: Fleet;
  alpha: FakeEngine;
  beta: FakeEngine;
}

/** Two engines, each already running a container named `web`, and the bridge following both. */
async function startTwo(): Promise<Two> {
  const alpha = await FakeEngine.start({ name: "alpha-vm", id: "ALPHA:ID" });
  const beta = await FakeEngine.start({ name: "beta-vm", id: "BETA:ID" });
  alpha.seed([{ name: "web", image: "nginx:1" }]);
  beta.seed([{ name: "web", image: "httpd:2" }]);
  const engines = [
    { id: "alpha", host: alpha.dockerHost },
    { id: "beta", host: beta.dockerHost },
  ];
  fleet = await startFleet({
    env: { DOCKER_ENGINES: JSON.stringify(engines) },
    owned: [alpha, beta],
  });
  const rec = fleet.recorder;
  for (const t of [alphaTopics, betaTopics]) {
    await rec.waitFor(`${t.hostId} online`, () => rec.last(t.availability()) === "online");
    await rec.waitForState(t.containerState("web"), { running: true });
  }
  return { fleet, alpha, beta };
}

type Discovery = {
  device: Record<string, unknown>;
  components: Record<string, { unique_id?: string; state_topic?: string }>;
};

describe("two engines through one bridge", () => {
  it("gives the same container name on each engine its own device, ids and topics", async () => {
    const { fleet: f } = await startTwo();
    expect(f.service.engines.map((e) => e.hostId).sort()).toEqual(["alpha", "beta"]);

    const retained = await retainedView(f.broker.url, "#");
    const discovery = (t: typeof alphaTopics) =>
      haPayload(retained.get(t.deviceDiscovery(t.containerDeviceId("web")))) as Discovery | null;
    const a = discovery(alphaTopics);
    const b = discovery(betaTopics);
    if (!a || !b) throw new Error("a container device is missing");

    expect(a.device).toMatchObject({
      identifiers: ["dmb_alpha__web"],
      name: "web",
      model: "nginx:1",
      via_device: "dmb_alpha",
    });
    expect(b.device).toMatchObject({
      identifiers: ["dmb_beta__web"],
      name: "web",
      model: "httpd:2",
      via_device: "dmb_beta",
    });
    // Each host device exists, so via_device points at something Home Assistant knows.
    expect(retained.has("homeassistant/device/dmb_alpha/config")).toBe(true);
    expect(retained.has("homeassistant/device/dmb_beta/config")).toBe(true);

    const uniqueIds = (d: Discovery) => Object.values(d.components).map((c) => c.unique_id);
    const idsA = uniqueIds(a);
    const idsB = uniqueIds(b);
    expect(idsA.length).toBeGreaterThan(0);
    expect(idsA.filter((id) => idsB.includes(id))).toEqual([]);
    expect(new Set([...idsA, ...idsB]).size).toBe(idsA.length + idsB.length);

    expect(a.components.running?.state_topic).toBe("docker/alpha/containers/web/state");
    expect(b.components.running?.state_topic).toBe("docker/beta/containers/web/state");
    expect(JSON.parse(retained.get("docker/alpha/containers/web/state") ?? "{}")).toMatchObject({
      name: "web",
      image: "nginx:1",
    });
    expect(JSON.parse(retained.get("docker/beta/containers/web/state") ?? "{}")).toMatchObject({
      name: "web",
      image: "httpd:2",
    });
  });

  it("sends a change on one engine to that host's topics only", async () => {
    const { fleet: f, alpha } = await startTwo();
    const rec = f.recorder;
    await alpha.waitForEventStream({ count: 1 });
    alpha.stop("web", { exitCode: 0 });
    await rec.waitForState(alphaTopics.containerState("web"), { status: "exited" });
    await rec.waitFor(
      "alpha's die event",
      () => rec.on("docker/alpha/events/container/die").length === 1,
    );
    expect(rec.lastJson(betaTopics.containerState("web"))).toMatchObject({ running: true });
    expect(rec.on("docker/beta/events/container/die")).toEqual([]);
  });

  it("marks only the lost engine offline while the other keeps publishing", async () => {
    const { fleet: f, alpha, beta } = await startTwo();
    const rec = f.recorder;
    await alpha.waitForEventStream({ count: 1 });
    const from = rec.messages.length;
    await beta.refuseConnections(true);
    await beta.cutStreams();
    await rec.waitFor("beta offline", () => rec.last(betaTopics.availability()) === "offline");

    alpha.run({ name: "api" });
    await rec.waitForState(alphaTopics.containerState("api"), { running: true });
    alpha.stop("web", { exitCode: 0 });
    await rec.waitForState(alphaTopics.containerState("web"), { status: "exited" });
    const alphaSince = rec.messages
      .slice(from)
      .filter((m) => m.topic === alphaTopics.availability());
    expect(alphaSince.map((m) => m.payload)).not.toContain("offline");
    expect(rec.last(alphaTopics.availability())).toBe("online");
    // Beta's entities stay (its availability says why they are unavailable), and are not removed.
    expect(rec.on(betaTopics.containerState("web")).map((m) => m.payload)).not.toContain("");

    // Beta comes back: online again, and what changed meanwhile shows.
    beta.stop("web", { exitCode: 0 });
    await beta.refuseConnections(false);
    await rec.waitFor("beta online again", () => rec.last(betaTopics.availability()) === "online");
    await rec.waitForState(betaTopics.containerState("web"), { status: "exited" });
  });

  it("marks every host offline when the bridge stops", async () => {
    const { fleet: f } = await startTwo();
    const rec = f.recorder;
    await f.stopBridge();
    await rec.waitFor(
      "both hosts offline",
      () =>
        rec.last(alphaTopics.availability()) === "offline" &&
        rec.last(betaTopics.availability()) === "offline",
    );
    const retained = await retainedView(f.broker.url, "docker/+/availability");
    expect(Object.fromEntries(retained)).toEqual({
      "docker/alpha/availability": "offline",
      "docker/beta/availability": "offline",
    });
    expect(f.broker.clientIds().filter((id) => id.startsWith("docker-mqtt-bridge"))).toEqual([]);
  });

  it("has each host's last will mark it offline when its connection dies", async () => {
    const { fleet: f } = await startTwo();
    const rec = f.recorder;
    const bridgeClients = f.broker.clientIds().filter((id) => id.startsWith("docker-mqtt-bridge"));
    // One MQTT connection per host, each with a distinct client id.
    expect(bridgeClients).toHaveLength(2);
    expect(bridgeClients.some((id) => id.startsWith("docker-mqtt-bridge_alpha_"))).toBe(true);
    expect(bridgeClients.some((id) => id.startsWith("docker-mqtt-bridge_beta_"))).toBe(true);

    const before = rec.messages.length;
    expect(f.broker.dropClients("docker-mqtt-bridge_")).toBe(2);
    const offlineSince = (topic: string) =>
      rec.messages.slice(before).some((m) => m.topic === topic && m.payload === "offline");
    await rec.waitFor(
      "both last wills",
      () => offlineSince(alphaTopics.availability()) && offlineSince(betaTopics.availability()),
    );
    // The bridge itself is alive: it reconnects and says online again.
    await rec.waitFor(
      "both hosts online after reconnecting",
      () =>
        rec.last(alphaTopics.availability()) === "online" &&
        rec.last(betaTopics.availability()) === "online",
    );
  });
});
