// Issue #14: control from Home Assistant. Each case is what a user (or Home Assistant) does on the
// broker, the fake engine acting like moby (test/helpers/fake-engine-control.ts), and what the user
// then sees: the engine's requests, the container's state, the entities, the /result answer.
import { afterEach, describe, expect, it } from "vitest";
import { HaView } from "../helpers/ha-view.js";
import {
  bridgeEnv,
  type Kit,
  startCapturedService,
  startKit,
  waitUntil,
} from "../helpers/resilience-kit.js";
import { runAndWait } from "../helpers/resilience-views.js";

let k: Kit | undefined;
afterEach(async () => {
  await k?.close();
  k = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ON = { CONTROL_ENABLED: "true", CONTROL_CONTAINERS: "web,shop-*" };

function view(kit: Kit): HaView {
  return HaView.from(kit.recorder.messages);
}

/** The non-GET requests the engine received, without the version prefix. */
function actions(kit: Kit): string[] {
  return kit.engine.requests
    .filter((r) => r.method !== "GET" && r.method !== "HEAD")
    .map((r) => `${r.method} ${r.path.replace(/^\/v[0-9.]+/, "")}`);
}

/** Publishes a command as Home Assistant or a user would, and waits for its answer. */
async function command(
  kit: Kit,
  topic: string,
  payload: string,
  retain = false,
): Promise<Record<string, unknown>> {
  const resultTopic = `${topic}/result`;
  const before = kit.recorder.on(resultTopic).length;
  await kit.recorder.publish(topic, payload, retain);
  await kit.recorder.waitFor(
    `an answer on ${resultTopic}`,
    () => kit.recorder.on(resultTopic).length > before,
  );
  const answer = kit.recorder.on(resultTopic)[before];
  expect(answer?.retain).toBe(false);
  return JSON.parse(answer?.payload ?? "{}") as Record<string, unknown>;
}

async function press(kit: Kit, entityId: string, how: "press" | "on" | "off" = "press") {
  const { topic, payload } = view(kit).command(entityId, how);
  return command(kit, topic, payload);
}

describe("control is off by default", () => {
  it("subscribes to no command topic, announces no control entity and sends the engine only GETs", async () => {
    k = await startKit();
    await runAndWait(k, "web");
    await k.recorder.publish(k.topics.containerCommand("web"), "stop");
    await k.recorder.publish(k.topics.hostCommand(), "prune_images");
    await runAndWait(k, "marker");
    await sleep(200);
    expect(k.engine.container("web")?.running).toBe(true);
    expect(k.recorder.messages.filter((m) => m.topic.endsWith("/result"))).toEqual([]);
    expect(actions(k)).toEqual([]);
    const platforms = [...view(k).entities.values()].map((e) => e.platform);
    expect(platforms).not.toContain("switch");
    expect(platforms).not.toContain("button");
  });
});

describe("control of an allowed container", () => {
  it("shows a Power switch with the engine's state and Restart, Pause, Resume buttons", async () => {
    k = await startKit({ env: ON });
    await runAndWait(k, "web");
    await waitUntil("Power on", () => view(k as Kit).state("switch.web_power") === "on", 5000);
    const ha = view(k);
    expect(ha.problems).toEqual([]);
    for (const id of ["button.web_restart", "button.web_pause", "button.web_resume"]) {
      expect(ha.entity(id)?.platform).toBe("button");
    }
    expect(ha.entity("button.web_restart")?.config.device_class).toBe("restart");
  });

  it("the Restart button restarts the container, and the state follows the engine", async () => {
    k = await startKit({ env: ON });
    await runAndWait(k, "web");
    const before = k.engine.container("web")?.startedAt;
    const result = await press(k, "button.web_restart");
    expect(result).toMatchObject({ action: "restart", ok: true, error: null, container: "web" });
    expect(typeof result.duration_ms).toBe("number");
    const id = k.engine.container("web")?.id;
    expect(actions(k)).toEqual([`POST /containers/${id}/restart?t=10`]);
    expect(k.engine.container("web")?.startedAt).not.toBe(before);
    await k.recorder.waitFor(
      "the restart event",
      () => (k as Kit).recorder.on((k as Kit).topics.event("container", "restart")).length === 1,
    );
    await waitUntil("Power on", () => view(k as Kit).state("switch.web_power") === "on", 5000);
    const audit = k.logs.find(/control command/);
    expect(audit.at(-1)).toMatchObject({ action: "restart", container: "web", ok: true });
  });

  it("the Power switch stops and starts the container; Home Assistant shows what the engine says", async () => {
    k = await startKit({ env: { ...ON, CONTROL_STOP_TIMEOUT_SECONDS: "3" } });
    await runAndWait(k, "web");
    expect(await press(k, "switch.web_power", "off")).toMatchObject({ action: "stop", ok: true });
    await waitUntil("Power off", () => view(k as Kit).state("switch.web_power") === "off", 5000);
    expect(k.engine.container("web")?.running).toBe(false);
    expect(await press(k, "switch.web_power", "on")).toMatchObject({ action: "start", ok: true });
    await waitUntil("Power on", () => view(k as Kit).state("switch.web_power") === "on", 5000);
    const id = k.engine.container("web")?.id;
    expect(actions(k)).toEqual([`POST /containers/${id}/stop?t=3`, `POST /containers/${id}/start`]);
  });

  it("Pause and Resume; Power on resumes a paused container", async () => {
    k = await startKit({ env: ON });
    await runAndWait(k, "web");
    expect(await press(k, "button.web_pause")).toMatchObject({ action: "pause", ok: true });
    await k.recorder.waitForState(k.topics.containerState("web"), { status: "paused" });
    await waitUntil(
      "Power off while paused",
      () => view(k as Kit).state("switch.web_power") === "off",
      5000,
    );
    expect(await press(k, "switch.web_power", "on")).toMatchObject({ action: "unpause", ok: true });
    await k.recorder.waitForState(k.topics.containerState("web"), { status: "running" });
    expect(await press(k, "button.web_pause")).toMatchObject({ ok: true });
    expect(await press(k, "button.web_resume")).toMatchObject({ action: "unpause", ok: true });
    await k.recorder.waitForState(k.topics.containerState("web"), { status: "running" });
  });

  it("Power off of a paused container stops it, as the engine does", async () => {
    k = await startKit({ env: ON });
    await runAndWait(k, "web");
    expect(await press(k, "button.web_pause")).toMatchObject({ action: "pause", ok: true });
    await k.recorder.waitForState(k.topics.containerState("web"), { status: "paused" });
    expect(await press(k, "switch.web_power", "off")).toMatchObject({ action: "stop", ok: true });
    await k.recorder.waitForState(k.topics.containerState("web"), { status: "exited" });
    expect(view(k).state("switch.web_power")).toBe("off");
  });

  it("a start of a running container is success (the engine's 304), with unchanged: true", async () => {
    k = await startKit({ env: ON });
    await runAndWait(k, "web");
    expect(await command(k, k.topics.containerCommand("web"), '{"action": "start"}')).toMatchObject(
      {
        action: "start",
        ok: true,
        unchanged: true,
      },
    );
  });

  it("the engine's errors (409, 404, 500) come back with its message, and the state stays the engine's", async () => {
    k = await startKit({ env: ON });
    await runAndWait(k, "web");
    const id = k.engine.container("web")?.id as string;
    k.engine.failNext(
      `/containers/${id}/restart`,
      500,
      1,
      "Cannot restart container web: driver failed",
    );
    const failed = await command(k, k.topics.containerCommand("web"), "restart");
    expect(failed).toMatchObject({
      ok: false,
      error: "Cannot restart container web: driver failed",
    });
    k.engine.failNext(`/containers/${id}/stop`, 404, 1, `No such container: ${id}`);
    expect(await command(k, k.topics.containerCommand("web"), "stop")).toMatchObject({
      ok: false,
      error: `No such container: ${id}`,
    });
    expect(await command(k, k.topics.containerCommand("web"), "unpause")).toMatchObject({
      ok: false,
      error: `Container ${id} is not paused`,
    });
    expect(k.recorder.lastJson(k.topics.containerState("web"))).toMatchObject({ running: true });
    expect(k.service.bridge.containers.get("web")?.status).toBe("running");
  });
});

describe("what commands refuse", () => {
  it("a retained command acts only live: at the bridge's next start it is ignored, answered and warned about", async () => {
    k = await startKit({ env: ON });
    await runAndWait(k, "web");
    const topic = k.topics.containerCommand("web");
    // A retained publish reaches a subscriber already there as a live message (retain flag 0).
    await k.recorder.publish(topic, "stop", true);
    await k.recorder.waitForState(k.topics.containerState("web"), { running: false });
    k.engine.start("web");
    await k.recorder.waitForState(k.topics.containerState("web"), { running: true });
    await k.service.stop();
    const before = k.recorder.on(`${topic}/result`).length;
    const again = await startCapturedService(bridgeEnv(k.engine, k.broker.url, ON));
    try {
      await k.recorder.waitFor(
        "the answer to the retained command",
        () => (k as Kit).recorder.on(`${topic}/result`).length > before,
      );
      const answer = JSON.parse(k.recorder.on(`${topic}/result`)[before]?.payload ?? "{}");
      expect(answer).toMatchObject({ action: "stop", ok: false, container: "web" });
      expect(String(answer.error)).toMatch(/retained/);
      await sleep(300);
      expect(k.engine.container("web")?.running).toBe(true);
      const id = k.engine.container("web")?.id;
      expect(actions(k)).toEqual([`POST /containers/${id}/stop?t=10`]);
      expect(again.logs.find(/retained command ignored/)[0]).toMatchObject({
        level: 40,
        container: "web",
      });
    } finally {
      await again.service.stop();
    }
  });

  it("a container not allowed has no control entity and its commands are refused; the label decides over the list", async () => {
    k = await startKit({ env: ON });
    await k.engine.waitForEventStream({ count: 1 });
    k.engine.run({ name: "db" });
    k.engine.run({ name: "cache", labels: { "docker-mqtt-bridge.control": "true" } });
    k.engine.run({ name: "shop-api", labels: { "docker-mqtt-bridge.control": "false" } });
    await runAndWait(k, "web");
    await waitUntil(
      "cache's switch",
      () => view(k as Kit).entity("switch.cache_power") !== undefined,
      5000,
    );
    const ha = view(k);
    expect(ha.entity("switch.web_power")).toBeDefined();
    expect(ha.entity("switch.db_power")).toBeUndefined();
    expect(ha.entity("button.db_restart")).toBeUndefined();
    expect(ha.entity("switch.shop_api_power")).toBeUndefined();
    const db = await command(k, k.topics.containerCommand("db"), "stop");
    expect(db).toMatchObject({ action: "stop", ok: false, container: "db" });
    expect(String(db.error)).toMatch(/^not allowed: not in control.containers/);
    const shop = await command(k, k.topics.containerCommand("shop-api"), "stop");
    expect(String(shop.error)).toMatch(/labelled docker-mqtt-bridge.control=false/);
    expect(actions(k)).toEqual([]);
    expect(k.engine.container("db")?.running).toBe(true);
  });

  it("a command for a container that is unknown or filtered out is refused", async () => {
    k = await startKit({ env: { ...ON, FILTER_EXCLUDE: "web" } });
    await runAndWait(k, "marker");
    k.engine.run({ name: "web" });
    const hidden = await command(k, k.topics.containerCommand("web"), "stop");
    expect(hidden).toMatchObject({
      ok: false,
      error: "no mirrored container named web on this host",
    });
    const unknown = await command(k, k.topics.containerCommand("nothing"), "restart");
    expect(unknown).toMatchObject({ ok: false, container: "nothing" });
    const garbage = await command(k, k.topics.containerCommand("marker"), "explode");
    expect(garbage).toMatchObject({ action: null, ok: false });
    expect(String(garbage.error)).toMatch(/unknown action "explode"/);
    expect(actions(k)).toEqual([]);
  });

  it("refuses to stop, pause or restart the container the bridge runs in, and announces no control for it", async () => {
    let selfId = "";
    k = await startKit({
      env: { ...ON, CONTROL_CONTAINERS: "*" },
      service: { isSelf: (r) => r.id === selfId },
      before: (engine) => {
        selfId = engine.run({ name: "bridge" });
      },
    });
    await runAndWait(k, "web");
    for (const action of ["stop", "pause", "restart"]) {
      const answer = await command(k, k.topics.containerCommand("bridge"), action);
      expect(answer).toMatchObject({ action, ok: false });
      expect(String(answer.error)).toMatch(/the bridge runs in this container/);
    }
    expect(actions(k)).toEqual([]);
    expect(view(k).entity("switch.bridge_power")).toBeUndefined();
    expect(view(k).entity("switch.web_power")).toBeDefined();
  });

  it("one command per container at a time: a second while the first runs is refused as busy", async () => {
    k = await startKit({ env: ON });
    await runAndWait(k, "web");
    const id = k.engine.container("web")?.id as string;
    const release = k.engine.delayEndpoint(`/containers/${id}/restart`, 800);
    const topic = k.topics.containerCommand("web");
    await k.recorder.publish(topic, "restart");
    await waitUntil(
      "the first restart to reach the engine",
      () => actions(k as Kit).length === 1,
      5000,
    );
    await k.recorder.publish(topic, "stop");
    await k.recorder.waitFor(
      "both answers",
      () => (k as Kit).recorder.on(`${topic}/result`).length === 2,
    );
    const [second, first] = k.recorder.on(`${topic}/result`).map((m) => JSON.parse(m.payload));
    expect(second).toMatchObject({ action: "stop", ok: false });
    expect(String(second.error)).toMatch(/^busy/);
    expect(first).toMatchObject({ action: "restart", ok: true });
    release();
    expect(actions(k)).toEqual([`POST /containers/${id}/restart?t=10`]);
  });

  it("a flood of commands reaches the engine as a trickle: the rest are refused as rate limited", async () => {
    k = await startKit({ env: ON });
    await runAndWait(k, "web");
    const topic = k.topics.containerCommand("web");
    const answers: Record<string, unknown>[] = [];
    for (let i = 0; i < 12; i++) answers.push(await command(k, topic, "start"));
    const limited = answers.filter((a) => String(a.error).startsWith("rate limited"));
    expect(answers.filter((a) => a.ok)).toHaveLength(5);
    expect(limited).toHaveLength(7);
    expect(actions(k)).toHaveLength(5);
  });
});

describe("stacks and the host", () => {
  it("a stack whose containers are all allowed gets Start/Stop/Restart stack buttons, and Restart stack restarts each", async () => {
    k = await startKit({ env: ON });
    await k.engine.waitForEventStream({ count: 1 });
    const shop = { "com.docker.compose.project": "shop" };
    const blog = { "com.docker.compose.project": "blog" };
    k.engine.run({ name: "shop-api", labels: shop });
    k.engine.run({ name: "shop-db", labels: shop });
    k.engine.run({ name: "blog-web", labels: blog });
    await runAndWait(k, "marker");
    await waitUntil(
      "the stack buttons",
      () => view(k as Kit).entity("button.shop_stack_restart_stack") !== undefined,
      5000,
    );
    const ha = view(k);
    expect(ha.problems).toEqual([]);
    expect(ha.entity("button.shop_stack_stop_stack")).toBeDefined();
    expect(ha.entity("button.shop_stack_start_stack")).toBeDefined();
    // blog-web is not allowed: no stack control for blog.
    expect(ha.entity("button.blog_stack_restart_stack")).toBeUndefined();
    const started = ["shop-api", "shop-db"].map((n) => (k as Kit).engine.container(n)?.startedAt);
    const result = await press(k, "button.shop_stack_restart_stack");
    expect(result).toMatchObject({ action: "restart", ok: true, stack: "shop" });
    expect(result.containers).toEqual([
      { container: "shop-api", ok: true, error: null },
      { container: "shop-db", ok: true, error: null },
    ]);
    expect(
      ["shop-api", "shop-db"].map((n) => (k as Kit).engine.container(n)?.startedAt),
    ).not.toEqual(started);
    expect(actions(k).sort()).toEqual(
      ["shop-api", "shop-db"]
        .map((n) => `POST /containers/${(k as Kit).engine.container(n)?.id}/restart?t=10`)
        .sort(),
    );
    const blogAnswer = await command(k, k.topics.stackCommand("blog"), "stop");
    expect(blogAnswer).toMatchObject({ ok: false, error: "not allowed: blog-web" });
  });

  it("Prune images only with control.prune: a host button, and the engine's dangling-only prune", async () => {
    k = await startKit({ env: { ...ON, CONTROL_PRUNE: "true" } });
    await runAndWait(k, "web");
    await waitUntil(
      "the prune button",
      () => view(k as Kit).entity("button.test_prune_images") !== undefined,
      5000,
    );
    const result = await press(k, "button.test_prune_images");
    expect(result).toMatchObject({
      action: "prune_images",
      ok: true,
      images_deleted: 0,
      space_reclaimed: 0,
    });
    expect(actions(k)).toEqual([
      `POST /images/prune?filters=${encodeURIComponent('{"dangling":["true"]}')}`,
    ]);
  });

  it("without control.prune the host command is refused", async () => {
    k = await startKit({ env: ON });
    await runAndWait(k, "web");
    expect(await command(k, k.topics.hostCommand(), "prune_images")).toMatchObject({
      ok: false,
      error: "control.prune is off",
    });
    expect(view(k).entity("button.test_prune_images")).toBeUndefined();
  });
});

describe("when control is turned off or a container stops being allowed", () => {
  it("removes the control entities that an earlier run announced", async () => {
    k = await startKit({ env: ON });
    await runAndWait(k, "web");
    await waitUntil(
      "web's switch",
      () => view(k as Kit).entity("switch.web_power") !== undefined,
      5000,
    );
    await k.service.stop();
    const off = await startCapturedService(bridgeEnv(k.engine, k.broker.url, {}));
    try {
      await waitUntil(
        "the switch removed",
        () => view(k as Kit).entity("switch.web_power") === undefined,
        5000,
      );
      const ha = view(k);
      expect(ha.entity("button.web_restart")).toBeUndefined();
      expect(ha.entity("binary_sensor.web_running")).toBeDefined();
      expect(ha.problems).toEqual([]);
    } finally {
      await off.service.stop();
    }
  });
});
