// Which containers are mirrored (names, labels, Compose projects, opt-in/out labels, one-off
// containers) and which events reach the events topics, as a subscriber to the broker sees it:
// a container filtered out has no discovery, no state and no events, whatever happens to it.
import { afterEach, describe, expect, it } from "vitest";
import type { ContainerSeed } from "../helpers/fake-engine-model.js";
import { retainedView } from "../helpers/fleet.js";
import { type Harness, startHarness } from "../helpers/harness.js";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const ENABLE = "docker-mqtt-bridge.enable";
const project = (name: string, extra: Record<string, string> = {}) => ({
  "com.docker.compose.project": name,
  "com.docker.compose.service": "web",
  "com.docker.compose.container-number": "1",
  ...extra,
});

/** Whether a topic belongs to a container (its state, event entity or discovery). */
function mentions(topic: string, name: string): boolean {
  const levels = topic.split("/");
  return levels.includes(name) || levels.includes(`dmb_test__${name}`);
}

interface Case {
  env?: Record<string, string>;
  seed: ContainerSeed[];
  mirrored: string[];
  /** Started at once, after the bridge follows the engine (they emit create, start...). */
  live?: ContainerSeed[];
}

/**
 * Starts the bridge over the seeded containers, then stops every container (hidden ones first):
 * once the last mirrored one's `die` is out, anything published for a hidden one has been too.
 */
async function expectMirrored(c: Case): Promise<Harness> {
  h = await startHarness({ env: c.env ?? {}, before: (engine) => engine.seed(c.seed) });
  const { engine, recorder: rec, topics } = h;
  await engine.waitForEventStream({ count: 1 });
  // Online: the snapshot is applied, so live containers are new to the bridge.
  await rec.waitFor("online", () => rec.last(topics.availability()) === "online");
  for (const spec of c.live ?? []) engine.run(spec);
  const all = [...c.seed, ...(c.live ?? [])].map((s) => s.name);
  const hidden = all.filter((n) => !c.mirrored.includes(n));
  for (const name of c.mirrored)
    await rec.waitForState(topics.containerState(name), { running: true });
  const last = c.mirrored.at(-1) as string;
  for (const name of [...hidden, ...c.mirrored]) engine.stop(name, { exitCode: 0 });
  await rec.waitForState(topics.containerState(last), { status: "exited" });
  await rec.waitFor(`${last}'s die event`, () =>
    rec.on(topics.event("container", "die")).some((m) => JSON.parse(m.payload).name === last),
  );

  for (const name of hidden) {
    expect(
      rec.messages.filter((m) => mentions(m.topic, name)).map((m) => m.topic),
      name,
    ).toEqual([]);
    const events = rec.messages.filter(
      (m) => m.topic.startsWith("docker/test/events/") && JSON.parse(m.payload).name === name,
    );
    expect(
      events.map((m) => m.topic),
      `${name}'s events`,
    ).toEqual([]);
  }
  const retained = await retainedView(h.broker.url, "docker/test/containers/+/state");
  expect([...retained.keys()].sort()).toEqual(
    c.mirrored.map((n) => topics.containerState(n)).sort(),
  );
  return h;
}

describe("container filters", () => {
  it("includes and excludes by name, glob or /regex/", async () => {
    await expectMirrored({
      env: { FILTER_INCLUDE: "web-*,/^api[0-9]+$/", FILTER_EXCLUDE: "web-debug,/-2$/" },
      seed: ["web-1", "web-2", "web-debug", "api1", "apiX", "db"].map((name) => ({ name })),
      mirrored: ["web-1", "api1"],
    });
  });

  it("includes and excludes by label key or key=value", async () => {
    await expectMirrored({
      env: {
        FILTER_LABELS_INCLUDE: "tier=front,monitor",
        FILTER_LABELS_EXCLUDE: "secret,tier=test",
      },
      seed: [
        { name: "a", labels: { tier: "front" } },
        { name: "b", labels: { tier: "back" } },
        { name: "c", labels: { monitor: "yes" } },
        { name: "d", labels: { tier: "front", secret: "1" } },
        { name: "e" },
        { name: "f", labels: { monitor: "1", tier: "test" } },
      ],
      mirrored: ["a", "c"],
    });
  });

  it("includes and excludes Compose projects", async () => {
    await expectMirrored({
      env: { FILTER_PROJECTS_INCLUDE: "shop,blog", FILTER_PROJECTS_EXCLUDE: "blog" },
      seed: [
        { name: "shop-web-1", labels: project("shop") },
        { name: "blog-web-1", labels: project("blog") },
        { name: "misc-web-1", labels: project("misc") },
        { name: "standalone" },
      ],
      mirrored: ["shop-web-1"],
    });
  });

  it("leaves out containers labelled docker-mqtt-bridge.enable=false", async () => {
    await expectMirrored({
      seed: [
        { name: "keep" },
        { name: "out", labels: { [ENABLE]: "false" } },
        { name: "out-too", labels: { [ENABLE]: "False" } },
      ],
      mirrored: ["keep"],
    });
  });

  it("mirrors only docker-mqtt-bridge.enable=true with FILTER_LABELLED_ONLY", async () => {
    await expectMirrored({
      env: { FILTER_LABELLED_ONLY: "true" },
      seed: [
        { name: "yes", labels: { [ENABLE]: "true" } },
        { name: "unlabelled" },
        { name: "no", labels: { [ENABLE]: "false" } },
      ],
      mirrored: ["yes"],
    });
  });

  const oneoffs: ContainerSeed[] = [
    { name: "app-web-1", labels: project("app", { "com.docker.compose.oneoff": "False" }) },
    { name: "app-web-run-0a1b2c", labels: project("app", { "com.docker.compose.oneoff": "True" }) },
  ];

  it("leaves out Compose one-off containers by default", async () => {
    await expectMirrored({ seed: oneoffs, mirrored: ["app-web-1"] });
  });

  it("mirrors Compose one-off containers with FILTER_INCLUDE_ONEOFF", async () => {
    await expectMirrored({
      env: { FILTER_INCLUDE_ONEOFF: "true" },
      seed: oneoffs,
      mirrored: ["app-web-1", "app-web-run-0a1b2c"],
    });
  });

  it("publishes nothing, not even `create`, for a filtered-out container started later", async () => {
    const marker = { name: "marker" };
    await expectMirrored({
      env: { FILTER_EXCLUDE: "tmp-*" },
      seed: [],
      live: [{ name: "tmp-job" }, { name: "job-run", labels: { [ENABLE]: "false" } }, marker],
      mirrored: ["marker"],
    });
  });
});

describe("event filters", () => {
  it("publishes only the chosen types and actions, asks the engine for no more, and still follows every change", async () => {
    h = await startHarness({ env: { EVENTS_TYPES: "container", EVENTS_ACTIONS: "start,die" } });
    const { engine, recorder: rec, topics } = h;
    const stream = await engine.waitForEventStream({ count: 1 });
    const filters = JSON.parse(stream.filters ?? "{}") as Record<string, string[]>;
    expect(filters.type).toEqual(["container"]);
    expect(filters.event).toEqual(expect.arrayContaining(["start", "die", "pause", "unpause"]));
    expect(filters.event).toEqual(expect.arrayContaining(["health_status", "rename", "destroy"]));
    expect(filters.event).not.toContain("exec_create");
    expect(filters.event).not.toContain("attach");

    engine.run({ name: "api", healthcheck: true });
    await rec.waitForState(topics.containerState("api"), { status: "running" });
    engine.setHealth("api", "healthy", { probe: true });
    await rec.waitForState(topics.containerState("api"), { health: "healthy" });
    engine.pause("api");
    await rec.waitForState(topics.containerState("api"), { status: "paused" });
    engine.unpause("api");
    await rec.waitForState(topics.containerState("api"), { status: "running" });
    engine.exec("api", "sh -c date");
    engine.emitEvent({ Type: "image", Action: "pull", Actor: { ID: "nginx:1", Attributes: {} } });
    engine.stop("api", { exitCode: 2 });
    await rec.waitForState(topics.containerState("api"), { status: "exited", exit_code: 2 });
    await rec.waitFor("the die event", () => rec.on(topics.event("container", "die")).length === 1);

    const published = rec.messages.filter((m) => m.topic.startsWith("docker/test/events/"));
    expect(published.map((m) => m.topic)).toEqual([
      topics.event("container", "start"),
      topics.event("container", "die"),
    ]);
    expect(JSON.parse(published[1]?.payload ?? "{}")).toMatchObject({
      name: "api",
      attributes: { exitCode: "2" },
    });
  });
});
