// Issue #14 on the real engine: a press in Home Assistant (the discovered command topic and payload)
// reaches dockerd, and what Home Assistant then shows is what `docker inspect` says. Also: a
// retained command does nothing at the next start, a container not allowed is left alone, a
// stack restart restarts each of its containers, and prune removes a dangling image and nothing
// else.
import { afterAll, beforeAll, expect, it } from "vitest";
import { idsIn, isSelfBy, ownMounts } from "../../src/control/self.js";
import { HaView } from "../helpers/ha-view.js";
import {
  type BridgeUnderTest,
  followEngineEvents,
  parse,
  startBridge,
  uniqueHostId,
} from "./bridge-kit.js";
import {
  type DockerApi,
  describeE2E,
  dockerApi,
  type E2EServices,
  e2eServices,
  waitFor,
} from "./services.js";

/** Exits at once on SIGTERM, so a stop or restart costs the engine's own time only. */
const POLITE = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"];
const CONTROL = {
  CONTROL_ENABLED: "true",
  CONTROL_CONTAINERS: "ctl-*",
  CONTROL_PRUNE: "true",
  CONTROL_STOP_TIMEOUT_SECONDS: "5",
};

describeE2E("control from Home Assistant on the real engine", () => {
  let ctx: E2EServices;
  let docker: DockerApi;
  let bridge: BridgeUnderTest;
  const hostId = uniqueHostId("ctl");

  const view = () => HaView.from(bridge.recorder.messages);
  const startedAt = async (name: string) => (await docker.inspect(name)).State.StartedAt;

  /** Publishes what Home Assistant publishes for the press, and returns the bridge's answer. */
  async function press(entityId: string, how: "press" | "on" | "off" = "press") {
    const { topic, payload } = view().command(entityId, how);
    const results = () => bridge.recorder.on(`${topic}/result`);
    const before = results().length;
    const sentAt = performance.now();
    await bridge.recorder.publish(topic, payload);
    await bridge.recorder.waitFor(`${topic}/result`, () => results().length > before, 20_000);
    return { answer: parse(results()[before]?.payload), sentAt };
  }

  beforeAll(async () => {
    ctx = e2eServices();
    docker = dockerApi(ctx);
    await docker.removeAll();
    await docker.run({ name: "ctl-web", cmd: POLITE });
    await docker.run({ name: "other", cmd: POLITE });
    const shop = { "com.docker.compose.project": "ctlshop" };
    await docker.run({ name: "ctl-shop-a", cmd: POLITE, labels: shop });
    await docker.run({ name: "ctl-shop-b", cmd: POLITE, labels: shop });
    bridge = await startBridge(ctx, hostId, { env: CONTROL });
    await waitFor(() => view().state("switch.ctl_web_power") === "on" || undefined, {
      timeoutMs: 15_000,
      what: "ctl-web's Power switch to show on",
    });
  });

  afterAll(async () => {
    await bridge?.stop();
    if (ctx && (await docker.ping())) await docker.removeAll();
  });

  it("the Restart button restarts the container: its restart event and exact start time follow", async () => {
    const before = await startedAt("ctl-web");
    const stateTopic = bridge.topics.containerState("ctl-web");
    const { answer, sentAt } = await press("button.ctl_web_restart");
    expect(answer).toMatchObject({
      action: "restart",
      ok: true,
      error: null,
      container: "ctl-web",
    });
    const after = await startedAt("ctl-web");
    expect(after).not.toBe(before);
    // Home Assistant is shown the engine's own start time for the new run.
    await bridge.recorder.waitForState(stateTopic, { running: true, started_at: after }, 10_000);
    const shown = bridge.recorder.on(stateTopic).find((m) => parse(m.payload).started_at === after);
    const events = bridge.recorder.on(bridge.topics.event("container", "restart"));
    expect(events.map((m) => parse(m.payload).name)).toContain("ctl-web");
    expect(view().state("switch.ctl_web_power")).toBe("on");
    const roundTrip = (shown?.at ?? Date.now()) - (Date.now() - (performance.now() - sentAt));
    console.log(
      `[control] press Restart -> state with the new start time: ${roundTrip} ms (command answered in ${String(answer.duration_ms)} ms)`,
    );
  }, 30_000);

  it("the Power switch stops and starts the container, and shows what inspect says", async () => {
    const { answer: off } = await press("switch.ctl_web_power", "off");
    expect(off).toMatchObject({ action: "stop", ok: true });
    expect((await docker.inspect("ctl-web")).State.Running).toBe(false);
    await waitFor(() => view().state("switch.ctl_web_power") === "off" || undefined, {
      timeoutMs: 10_000,
      what: "the switch to show off",
    });
    const { answer: on } = await press("switch.ctl_web_power", "on");
    expect(on).toMatchObject({ action: "start", ok: true });
    expect((await docker.inspect("ctl-web")).State.Running).toBe(true);
    await waitFor(() => view().state("switch.ctl_web_power") === "on" || undefined, {
      timeoutMs: 10_000,
      what: "the switch to show on",
    });
  }, 30_000);

  it("Pause, then Power off: the engine stops a paused container, and the state shown is inspect's", async () => {
    const { answer: paused } = await press("button.ctl_web_pause");
    expect(paused).toMatchObject({ action: "pause", ok: true });
    await bridge.recorder.waitForState(bridge.topics.containerState("ctl-web"), {
      status: "paused",
    });
    const log = await followEngineEvents(ctx, { container: ["ctl-web"], type: ["container"] });
    const { answer: off } = await press("switch.ctl_web_power", "off");
    await new Promise((r) => setTimeout(r, 300));
    log.close();
    console.log(
      `[control] events of a paused container's stop: ${log.events.map((e) => e.Action).join(", ")}`,
    );
    // Engine 20.10 stops a paused container (kill resumes it to deliver the signal).
    expect(off).toMatchObject({ action: "stop", ok: true });
    const inspect = await docker.inspect("ctl-web");
    const shown = await bridge.recorder.waitForState(
      bridge.topics.containerState("ctl-web"),
      { status: inspect.State.Status },
      10_000,
    );
    expect(shown.status).toBe(inspect.State.Status);
    // Back to running for the tests after.
    if (inspect.State.Paused) await docker.unpause("ctl-web");
    if (!(await docker.inspect("ctl-web")).State.Running) await docker.start("ctl-web");
    await bridge.recorder.waitForState(bridge.topics.containerState("ctl-web"), {
      status: "running",
    });
  }, 30_000);

  it("a container that is not allowed gets no control entity and is left alone", async () => {
    expect(view().entity("switch.other_power")).toBeUndefined();
    const topic = bridge.topics.containerCommand("other");
    await bridge.recorder.publish(topic, "stop");
    await bridge.recorder.waitFor(
      "the refusal",
      () => bridge.recorder.on(`${topic}/result`).length > 0,
    );
    expect(parse(bridge.recorder.on(`${topic}/result`)[0]?.payload)).toMatchObject({
      action: "stop",
      ok: false,
    });
    expect((await docker.inspect("other")).State.Running).toBe(true);
  });

  it("Restart stack restarts every container of the Compose project", async () => {
    const before = [await startedAt("ctl-shop-a"), await startedAt("ctl-shop-b")];
    const { answer } = await press("button.ctlshop_stack_restart_stack");
    expect(answer).toMatchObject({ action: "restart", ok: true, stack: "ctlshop" });
    const after = [await startedAt("ctl-shop-a"), await startedAt("ctl-shop-b")];
    expect(after[0]).not.toBe(before[0]);
    expect(after[1]).not.toBe(before[1]);
    for (const [i, name] of ["ctl-shop-a", "ctl-shop-b"].entries()) {
      await bridge.recorder.waitForState(bridge.topics.containerState(name), {
        running: true,
        started_at: after[i],
      });
    }
  }, 30_000);

  it("Prune images removes a dangling image and nothing else", async () => {
    const tagged = async () => {
      const res = await docker.request("GET", "/images/json");
      return (res.body as { RepoTags: string[] | null }[])
        .flatMap((i) => i.RepoTags ?? [])
        .filter((t) => t !== "<none>:<none>")
        .sort();
    };
    const keep = await tagged();
    // A commit without a repository name makes an untagged (dangling) image.
    const committed = await docker.request("POST", "/commit?container=other");
    const dangling = (committed.body as { Id: string }).Id;
    expect((await docker.request("GET", `/images/${dangling}/json`)).status).toBe(200);
    const prune = [...view().entities].find(([, e]) => e.key === "prune_images")?.[0];
    const { answer } = await press(prune ?? "button.prune_images (not announced)");
    expect(answer).toMatchObject({ action: "prune_images", ok: true });
    expect(answer.images_deleted).toBeGreaterThanOrEqual(1);
    expect((await docker.request("GET", `/images/${dangling}/json`)).status).toBe(404);
    expect(await tagged()).toEqual(keep);
  }, 30_000);

  it("finds a container's own id from inside it, as the bridge does when it runs in one", async () => {
    // What the bridge would read in a container: its cgroup and mount tables and its hostname.
    const id = await docker.run({
      name: "ctl-self",
      cmd: [
        "sh",
        "-c",
        "cat /proc/self/cgroup; echo '=== mounts'; cat /proc/self/mountinfo; echo HOST=$(hostname)",
      ],
    });
    await docker.waitForExit("ctl-self");
    const logs = await docker.request("GET", `/containers/${id}/logs?stdout=1`);
    // Multiplexed frames: their 8-byte headers hold no hex digits or blanks that could matter.
    const text = logs.text;
    const hostname = /HOST=(\S+)/.exec(text)?.[1] ?? "";
    const [cgroup = "", mounts = ""] = text.split("=== mounts");
    // Each clue on its own, as readSelfClues() reads them: the mount table's own bind mounts (what
    // cgroup v2 leaves), the cgroup path (v1, as here), the default hostname.
    expect(isSelfBy({ ids: idsIn(ownMounts(mounts)), hostname: "x" }, { id })).toBe(true);
    // Under cgroup v2 (namespaced) the cgroup path is just "/": then it names nothing.
    const fromCgroup = idsIn(cgroup);
    if (fromCgroup.size > 0) expect([...fromCgroup]).toEqual([id]);
    expect(isSelfBy({ ids: new Set(), hostname }, { id })).toBe(true);
    const other = await docker.inspect("ctl-web");
    const all = { ids: idsIn(cgroup, ownMounts(mounts)), hostname };
    expect(isSelfBy(all, { id: other.Id })).toBe(false);
    await docker.rm("ctl-self");
  }, 30_000);

  it("a retained command does nothing at the bridge's next start", async () => {
    await bridge.stop();
    const topic = bridge.topics.containerCommand("ctl-web");
    const before = await startedAt("ctl-web");
    // Left on the broker by someone's retained publish while no bridge was listening.
    const { Recorder } = await import("../helpers/recorder.js");
    const publisher = await Recorder.connect(ctx.mosquittoUrl, [`${topic}/result`]);
    await publisher.publish(topic, "stop", true);
    bridge = await startBridge(ctx, hostId, { env: CONTROL });
    try {
      await publisher.waitFor(
        "the refusal",
        () => publisher.on(`${topic}/result`).length > 0,
        15_000,
      );
      const answer = parse(publisher.on(`${topic}/result`)[0]?.payload);
      expect(answer).toMatchObject({ action: "stop", ok: false });
      expect(String(answer.error)).toMatch(/retained/);
      await new Promise((r) => setTimeout(r, 500));
      const inspect = await docker.inspect("ctl-web");
      expect(inspect.State.Running).toBe(true);
      expect(inspect.State.StartedAt).toBe(before);
    } finally {
      await publisher.publish(topic, "", true);
      await publisher.close();
    }
  }, 30_000);
});
