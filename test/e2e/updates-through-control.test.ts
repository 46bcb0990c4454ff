// Install through the whole bridge (issues #14 and #16): the update entity offers Install only for
// containers the control allowlist allows, and only with control on; a press on the discovered
// command topic pulls the new build from the real registry and recreates the container on it.
import { afterAll, beforeAll, expect, it } from "vitest";
import { HaView } from "../helpers/ha-view.js";
import { type BridgeUnderTest, parse, startBridge, uniqueHostId } from "./bridge-kit.js";
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

/** 3.6 s between checks: the first check comes within it. */
const INTERVAL_HOURS = 0.001;

describeE2E("image updates: Install through the bridge, gated by control", () => {
  let ctx: E2EServices;
  let docker: DockerApi;
  let registry: TestRegistry;
  let bridge: BridgeUnderTest | undefined;
  let app: string;
  let newDigest: string;

  const view = () => HaView.from(bridge?.recorder.messages ?? []);
  const update = (name: string) => view().entity(`update.${name.replace(/-/g, "_")}_update`);

  beforeAll(async () => {
    ctx = e2eServices();
    if (!(await registryAvailable())) {
      throw new Error("docker-registry is not installed: run scripts/install-test-deps.sh");
    }
    docker = dockerApi(ctx);
    await docker.removeAll();
    registry = await startRegistry();
    app = `${registry.host}/dmb/gated`;
    await tagImage(ctx, ctx.image, app, "1");
    await pushImage(ctx, app, "1");
    await docker.run({ name: "gate-allowed", image: `${app}:1`, cmd: ["sleep", "600"] });
    await docker.run({ name: "gate-other", image: `${app}:1`, cmd: ["sleep", "600"] });
    // A new build under the same tag.
    await docker.run({ name: "gate-src", cmd: ["sleep", "600"] });
    await commitImage(ctx, "gate-src", app, "1", { version: "2" });
    await docker.rm("gate-src");
    newDigest = await pushImage(ctx, app, "1");
  });

  afterAll(async () => {
    await bridge?.stop();
    if (ctx && (await docker.ping())) await docker.removeAll();
    await registry?.stop();
  });

  async function start(env: Record<string, string>): Promise<BridgeUnderTest> {
    await bridge?.stop();
    bridge = await startBridge(ctx, uniqueHostId("gate"), {
      env: { UPDATES_ENABLED: "true", UPDATES_INTERVAL_HOURS: String(INTERVAL_HOURS), ...env },
    });
    const b = bridge;
    for (const name of ["gate-allowed", "gate-other"]) {
      await b.recorder.waitForState(b.topics.containerUpdate(name), { available: true }, 20_000);
    }
    await b.recorder.waitFor("both update entities", () =>
      ["gate-allowed", "gate-other"].every((n) => update(n) !== undefined),
    );
    return b;
  }

  it("without control, no container is offered Install, and a press sent anyway is not even heard", async () => {
    const b = await start({});
    expect(update("gate-allowed")?.config.command_topic).toBeUndefined();
    expect(update("gate-other")?.config.command_topic).toBeUndefined();
    const before = await docker.inspect("gate-allowed");
    await b.recorder.publish(b.topics.containerUpdateInstall("gate-allowed"), "install");
    await new Promise((r) => setTimeout(r, 1000));
    expect(b.recorder.on(b.topics.containerUpdateResult("gate-allowed"))).toEqual([]);
    expect((await docker.inspect("gate-allowed")).Id).toBe(before.Id);
  }, 60_000);

  it("with control, only the allowed container is offered Install, and Install recreates it on the new build", async () => {
    const b = await start({ CONTROL_ENABLED: "true", CONTROL_CONTAINERS: "gate-allowed" });
    await b.recorder.waitFor(
      "Install offered",
      () => update("gate-allowed")?.config.command_topic !== undefined,
    );
    expect(update("gate-other")?.config.command_topic).toBeUndefined();
    const before = await docker.inspect("gate-allowed");
    const entity = update("gate-allowed");
    const topic = String(entity?.config.command_topic);
    const result = b.topics.containerUpdateResult("gate-allowed");
    await b.recorder.publish(topic, String(entity?.config.payload_install ?? "install"));
    await b.recorder.waitFor("the install result", () => b.recorder.on(result).length > 0, 60_000);
    expect(parse(b.recorder.on(result)[0]?.payload)).toMatchObject({ ok: true });
    const after = await docker.inspect("gate-allowed");
    expect(after.Id).not.toBe(before.Id);
    expect(after.State.Running).toBe(true);
    const image = await docker.request("GET", `/images/${after.Image}/json`);
    expect((image.body as { RepoDigests: string[] }).RepoDigests).toContain(`${app}@${newDigest}`);
    // The one not allowed is untouched.
    const other = await docker.inspect("gate-other");
    expect(other.Image).toBe(before.Image);
    // Once on the newest build there is nothing to install: a press sent anyway is refused.
    await b.recorder.waitForState(
      b.topics.containerUpdate("gate-allowed"),
      { available: false },
      20_000,
    );
    const again = b.recorder.on(result).length;
    await b.recorder.publish(topic, "install");
    await b.recorder.waitFor("the refusal", () => b.recorder.on(result).length > again);
    expect(parse(b.recorder.on(result)[again]?.payload)).toMatchObject({
      ok: false,
      error: "no update known for this container: nothing to install",
    });
    expect((await docker.inspect("gate-allowed")).Id).toBe(after.Id);
  }, 90_000);
});
