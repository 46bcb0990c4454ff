// Install from Home Assistant against the real engine and a real registry: the updates feature
// (with installs allowed for one container, as the control allowlist would) recreates the
// container on the new digest with the same name, labels, environment, mounts and networks; a new
// image that does not run is rolled back; retained or disallowed presses do nothing.
import { mkdtemp, rm } from "node:fs/promises";
import pino from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { loadConfig } from "../../src/config/loader.js";
import { DockerClient, endpointFromDockerHost } from "../../src/docker/client.js";
import { MqttPublisher } from "../../src/mqtt/publisher.js";
import type { MirrorView } from "../../src/publish/features.js";
import type { ContainerRecord } from "../../src/state/model.js";
import { isReplacementName, recordFromInspect } from "../../src/state/records.js";
import { UpdatesFeature } from "../../src/updates/feature.js";
import { Recorder } from "../helpers/recorder.js";
import { BASE_TOPIC, exec, parse, topicsFor, uniqueHostId } from "./bridge-kit.js";
import { engineRequest } from "./daemons.js";
import {
  commitImage,
  pushImage,
  registryAvailable,
  startRegistry,
  type TestRegistry,
  tagImage,
} from "./registry.js";
import {
  type DockerApi,
  describeE2E,
  dockerApi,
  type E2EServices,
  e2eServices,
} from "./services.js";

type Json = Record<string, unknown>;

describeE2E("image updates: Install recreates the container", () => {
  let ctx: E2EServices;
  let docker: DockerApi;
  let registry: TestRegistry;
  let client: DockerClient;
  let publisher: MqttPublisher;
  let recorder: Recorder;
  let feature: UpdatesFeature;
  let settings: ReturnType<typeof loadConfig>["config"]["updates"];
  let hostDir: string;
  let app: string;
  let networks = false;
  const records = new Map<string, ContainerRecord>();
  const hostId = uniqueHostId("install");
  const topics = topicsFor(hostId);

  const view: MirrorView = {
    announced: () => records.values(),
    get: (name) => records.get(name),
    engine: () => undefined,
  };

  /** What the bridge's model would hold now: every container, from inspect. */
  async function refresh(): Promise<void> {
    records.clear();
    for (const summary of await client.listContainers()) {
      const inspect = await client.inspectContainer(summary.Id);
      const record = inspect && recordFromInspect(inspect);
      if (record && !isReplacementName(record.name, record.id)) records.set(record.name, record);
    }
    // As the bridge does after every change of a mirrored container.
    for (const record of records.values()) feature?.announced(record);
  }

  async function request(method: string, path: string, body?: unknown): Promise<Json> {
    const res = await engineRequest(
      ctx.dockerSocket,
      method,
      path,
      body === undefined ? {} : { json: body },
    );
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${res.text}`);
    return (typeof res.body === "object" && res.body ? res.body : {}) as Json;
  }

  /** Pushes a new build under app:1: a busybox container committed with a label (and config). */
  async function pushNewBuild(version: string, config: Json = {}): Promise<string> {
    await docker.run({ name: `upd-src-${version}`, cmd: ["sleep", "600"] });
    await commitImage(ctx, `upd-src-${version}`, app, "1", { version }, config);
    await docker.rm(`upd-src-${version}`);
    return pushImage(ctx, app, "1");
  }

  const updateOf = (name: string) => {
    const msgs = recorder.messages.filter(
      (m) => m.topic === topics.containerUpdate(name) && m.payload !== "",
    );
    const last = msgs[msgs.length - 1];
    return last ? parse(last.payload) : undefined;
  };

  async function press(name: string, retain = false): Promise<Json | undefined> {
    const from = recorder.messages.length;
    await refresh();
    await recorder.publish(topics.containerUpdateInstall(name), "install", retain);
    if (retain) return undefined;
    await recorder.waitFor(
      `the install result of ${name}`,
      () =>
        recorder.messages.slice(from).some((m) => m.topic === topics.containerUpdateResult(name)),
      60_000,
    );
    const result = recorder.messages
      .slice(from)
      .find((m) => m.topic === topics.containerUpdateResult(name));
    await refresh();
    return parse(result?.payload);
  }

  beforeAll(async () => {
    ctx = e2eServices();
    if (!(await registryAvailable())) {
      throw new Error("docker-registry is not installed: run scripts/install-test-deps.sh");
    }
    docker = dockerApi(ctx);
    await docker.removeAll();
    registry = await startRegistry();
    app = `${registry.host}/dmb/inst`;
    await tagImage(ctx, ctx.image, app, "1");
    await pushImage(ctx, app, "1");
    hostDir = await mkdtemp("/tmp/dmb-upd-host-");
    // User-defined networks for aliases and a static address (the throwaway dockerd has no default bridge).
    try {
      await request("POST", "/networks/create", {
        Name: "upd-net",
        Driver: "bridge",
        IPAM: { Config: [{ Subnet: "172.29.77.0/24" }] },
      });
      await request("POST", "/networks/create", { Name: "upd-net2", Driver: "bridge" });
      networks = true;
    } catch (err: unknown) {
      console.warn(`[e2e] no user-defined networks here, network checks skipped: ${String(err)}`);
    }
    await request("POST", "/containers/create?name=upd-inst", {
      Image: `${app}:1`,
      Cmd: ["sleep", "600"],
      Env: ["MODE=test"],
      Labels: { keep: "me", "com.docker.compose.project": "site" },
      Volumes: { "/anon": {} },
      StopTimeout: 1,
      HostConfig: {
        NetworkMode: networks ? "upd-net" : "none",
        Binds: [`${hostDir}:/host:ro`, "upd-named:/data"],
        RestartPolicy: { Name: "unless-stopped" },
      },
      ...(networks
        ? {
            NetworkingConfig: {
              EndpointsConfig: {
                "upd-net": { Aliases: ["web-alias"], IPAMConfig: { IPv4Address: "172.29.77.10" } },
              },
            },
          }
        : {}),
    });
    if (networks) {
      await request("POST", "/networks/upd-net2/connect", {
        Container: "upd-inst",
        EndpointConfig: { Aliases: ["second"] },
      });
    }
    await docker.start("upd-inst");
    expect(await exec(docker, "upd-inst", ["sh", "-c", "echo kept > /anon/mark"])).toBe(0);
    await docker.run({ name: "upd-other", image: `${app}:1`, cmd: ["sleep", "600"] });
    await docker.run({
      name: "upd-rm",
      image: `${app}:1`,
      cmd: ["sleep", "600"],
      autoRemove: true,
    });

    client = new DockerClient(endpointFromDockerHost(ctx.dockerHost));
    await client.negotiate();
    await refresh();
    const log = pino({ level: process.env.DMB_E2E_LOG_LEVEL ?? "silent" });
    recorder = await Recorder.connect(ctx.mosquittoUrl, [`${BASE_TOPIC}/${hostId}/#`]);
    publisher = new MqttPublisher({
      url: ctx.mosquittoUrl,
      clientId: `dmb-e2e-${hostId}`,
      will: { topic: topics.availability(), payload: "offline" },
      log,
    });
    publisher.start();
    const { config } = loadConfig({
      argv: [],
      env: { UPDATES_ENABLED: "true", UPDATES_INTERVAL_HOURS: "0.001" },
    });
    settings = config.updates;
    feature = newFeature();
    feature.start(view);
  });

  function newFeature(): UpdatesFeature {
    return new UpdatesFeature({
      settings,
      docker: client,
      topics,
      publisher,
      log: pino({ level: process.env.DMB_E2E_LOG_LEVEL ?? "silent" }),
      mayAct: (r) => r.name === "upd-inst" || r.name === "upd-rm",
      isSelf: () => false,
      random: () => 0,
    });
  }

  afterAll(async () => {
    feature?.stop();
    await publisher?.stop();
    await recorder?.close();
    await client?.close();
    if (ctx && (await docker.ping())) await docker.removeAll();
    for (const n of ["upd-net", "upd-net2"])
      await engineRequest(ctx.dockerSocket, "DELETE", `/networks/${n}`).catch(() => undefined);
    await engineRequest(ctx.dockerSocket, "DELETE", "/volumes/upd-named").catch(() => undefined);
    await registry?.stop();
    if (hostDir) await rm(hostDir, { recursive: true, force: true });
  });

  it("shows the update, then Install recreates the container on the new digest, same config", {
    timeout: 90_000,
  }, async () => {
    const before = await request("GET", "/containers/upd-inst/json");
    const anonBefore = (before.Mounts as Json[]).find((m) => m.Destination === "/anon");
    const pushed = await pushNewBuild("2");
    await recorder.waitFor(
      "an update for upd-inst",
      () => updateOf("upd-inst")?.available === true,
      20_000,
    );
    expect(updateOf("upd-inst")).toMatchObject({ latest: pushed, available: true });

    const result = await press("upd-inst");
    expect(result).toMatchObject({
      ok: true,
      container: "upd-inst",
      action: "install",
      to: pushed,
      changed: true,
    });
    // Progress was shown while it ran, and cleared after.
    const states = recorder.messages
      .filter((m) => m.topic === topics.containerUpdate("upd-inst") && m.payload !== "")
      .map((m) => (parse(m.payload).home_assistant as Json).in_progress);
    expect(states).toContain(true);
    await recorder.waitFor(
      "the update shown as installed",
      () => {
        const u = updateOf("upd-inst");
        return u?.available === false && (u.home_assistant as Json).in_progress === false;
      },
      20_000,
    );

    const after = await request("GET", "/containers/upd-inst/json");
    expect(after.Id).not.toBe(before.Id);
    const image = await request("GET", `/images/${String(after.Image)}/json`);
    expect(image.RepoDigests).toContain(`${app}@${pushed}`);
    const config = after.Config as Json;
    expect(config.Image).toBe(`${app}:1`);
    expect(config.Labels).toMatchObject({
      keep: "me",
      "com.docker.compose.project": "site",
      version: "2",
    });
    expect(config.Env).toEqual(expect.arrayContaining(["MODE=test", "PATH=/bin"]));
    expect(config.Cmd).toEqual(["sleep", "600"]);
    expect((after.HostConfig as Json).RestartPolicy).toMatchObject({ Name: "unless-stopped" });
    expect((after.State as Json).Running).toBe(true);
    const mounts = after.Mounts as Json[];
    expect(mounts.find((m) => m.Destination === "/host")).toMatchObject({
      Type: "bind",
      Source: hostDir,
      RW: false,
    });
    expect(mounts.find((m) => m.Destination === "/data")).toMatchObject({
      Type: "volume",
      Name: "upd-named",
    });
    expect(mounts.find((m) => m.Destination === "/anon")).toMatchObject({
      Type: "volume",
      Name: anonBefore?.Name,
    });
    expect(await exec(docker, "upd-inst", ["sh", "-c", "grep -q kept /anon/mark"])).toBe(0);
    if (networks) {
      const nets = (after.NetworkSettings as Json).Networks as Record<string, Json>;
      expect(nets["upd-net"]?.Aliases).toEqual(expect.arrayContaining(["web-alias"]));
      expect(nets["upd-net"]?.IPAMConfig).toMatchObject({ IPv4Address: "172.29.77.10" });
      expect(nets["upd-net"]?.IPAddress).toBe("172.29.77.10");
      expect(nets["upd-net2"]?.Aliases).toEqual(expect.arrayContaining(["second"]));
    }
    // The old container is gone, under either name.
    const names = (await request("GET", "/containers/json?all=1")) as unknown as {
      Names: string[];
    }[];
    expect(names.flatMap((c) => c.Names).sort()).toEqual(["/upd-inst", "/upd-other", "/upd-rm"]);
  });

  it("rolls back when the new image does not run", { timeout: 90_000 }, async () => {
    const before = await request("GET", "/containers/upd-inst/json");
    await pushNewBuild("3", { Entrypoint: ["/bin/false"] });
    // Install needs a check that found this newer build.
    await refresh();
    await feature.checkNow();
    await recorder.waitFor("the newer build found", () => updateOf("upd-inst")?.available === true);
    const result = await press("upd-inst");
    expect(result).toMatchObject({ ok: false, step: "verify", rolled_back: true });
    const after = await request("GET", "/containers/upd-inst/json");
    expect(after.Id).toBe(before.Id);
    expect((after.State as Json).Running).toBe(true);
    const names = (await request("GET", "/containers/json?all=1")) as unknown as {
      Names: string[];
    }[];
    expect(names.flatMap((c) => c.Names).sort()).toEqual(["/upd-inst", "/upd-other", "/upd-rm"]);
  });

  it("refuses a container it may not act on", { timeout: 90_000 }, async () => {
    const before = await request("GET", "/containers/upd-other/json");
    const refused = await press("upd-other");
    expect(refused).toMatchObject({
      ok: false,
      error: "install is not allowed for this container",
    });
    expect((await request("GET", "/containers/upd-other/json")).Id).toBe(before.Id);
    // Allowed, but stopping it would delete it (--rm): left alone.
    const rm = await request("GET", "/containers/upd-rm/json");
    expect(await press("upd-rm")).toMatchObject({ ok: false, step: "inspect", rolled_back: false });
    const after = await request("GET", "/containers/upd-rm/json");
    expect(after.Id).toBe(rm.Id);
    expect((after.State as Json).Running).toBe(true);
  });

  it("never acts on a retained press it finds when it (re)subscribes", {
    timeout: 90_000,
  }, async () => {
    // The broker hands a retained message to a new subscription with the retain flag set: a
    // press stored while the bridge was away must not recreate anything when it comes back.
    feature.stop();
    const before = await request("GET", "/containers/upd-inst/json");
    await pushNewBuild("4");
    // Let the old subscription's UNSUBSCRIBE reach the broker first.
    await new Promise((r) => setTimeout(r, 500));
    const from = recorder.messages.length;
    await recorder.publish(topics.containerUpdateInstall("upd-inst"), "install", true);
    feature = newFeature();
    feature.start(view);
    await new Promise((r) => setTimeout(r, 2500));
    await recorder.publish(topics.containerUpdateInstall("upd-inst"), "", true);
    const results = recorder.messages
      .slice(from)
      .filter((m) => m.topic === topics.containerUpdateResult("upd-inst"));
    expect(results).toEqual([]);
    expect((await request("GET", "/containers/upd-inst/json")).Id).toBe(before.Id);
  });
});
