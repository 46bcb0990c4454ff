// Hostile input: garbage on the event stream, names and labels built to break topics and
// templates, and invalid configuration. Each must leave the process up (or exit 2 for
// configuration), say what happened, and leave what the broker holds uncorrupted.
import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { haPayload } from "../helpers/ha-expand.js";
import { buildPackage, runProcess } from "../helpers/process.js";
import { type Kit, startKit } from "../helpers/resilience-kit.js";
import { eventsOn, runAndWait } from "../helpers/resilience-views.js";

let k: Kit | undefined;
afterEach(async () => {
  await k?.close();
  k = undefined;
});

const stateOf = (kit: Kit, name: string) => kit.recorder.lastJson(kit.topics.containerState(name));

describe("event lines", () => {
  it("skips lines that are not events, says why, and leaves the state alone", async () => {
    k = await startKit();
    const { engine, recorder: rec, topics, service, logs } = k;
    await runAndWait(k, "web");
    const id = String(stateOf(k, "web")?.id);
    const before = rec.on(topics.containerState("web")).length;
    const notJson = [
      "this is not json\n",
      `{"Type":"container","Action":"die","Actor":{"ID":"${id}","Attributes":{"name":"web"\n`,
      Buffer.from([0x7b, 0xff, 0xfe, 0xc3, 0x28, 0x7d, 0x0a]), // invalid UTF-8 bytes
    ];
    const wrongShape = [
      "null\n",
      "{}\n",
      '["container","die"]\n',
      '{"Type":5,"Action":"die","time":1}\n',
      `{"Type":"container","Action":"die","Actor":{"ID":"${id}","Attributes":{"name":"web","exitCode":"66"}},"time":"yesterday"}\n`,
    ];
    for (const line of [...notJson, ...wrongShape]) engine.emitRaw(line);
    engine.die("web", 3);
    await rec.waitForState(topics.containerState("web"), { status: "exited", exit_code: 3 });
    expect(service.watcher.stats.eventsInvalid).toBe(notJson.length + wrongShape.length);
    const skipped = logs.find(/invalid event line; skipped/).map((l) => l.reason);
    expect(skipped).toEqual([
      ...notJson.map(() => "not-json"),
      ...wrongShape.map(() => "wrong-shape"),
    ]);
    // Only the real die changed anything; the malformed one (exit code 66) was never applied. The
    // die shows at once from the event, then with the engine's own finish time from its answer.
    const after = rec
      .on(topics.containerState("web"))
      .slice(before)
      .map((m) => JSON.parse(m.payload) as { status: string; exit_code: number | null });
    expect(after.filter((s) => s.status === "exited").map((s) => s.exit_code)).toContain(3);
    expect(after.map((s) => s.exit_code)).not.toContain(66);
    expect(eventsOn(k, "container", "die").map((e) => e.attributes.exitCode)).toEqual(["3"]);
  });

  it("publishes events of unknown types and actions on sanitised topics without touching containers", async () => {
    k = await startKit();
    const { engine, recorder: rec, topics } = k;
    await runAndWait(k, "web");
    const webTopics = [
      topics.containerState("web"),
      topics.containerEvents("web"),
      topics.deviceDiscovery(topics.containerDeviceId("web")),
    ];
    const aboutWeb = () => rec.messages.filter((m) => webTopics.includes(m.topic)).length;
    const before = aboutWeb();
    const attributes = { name: "web", image: "x" };
    engine.emitEvent({
      Type: "spaceship",
      Action: "launch: now",
      Actor: { ID: "s1", Attributes: attributes },
    });
    engine.emitEvent({
      Type: "we/ird+#",
      Action: "a+b/#c",
      Actor: { ID: "s2", Attributes: attributes },
    });
    engine.emitEvent({
      Type: "container",
      Action: "teleport",
      Actor: { ID: String(stateOf(k, "web")?.id), Attributes: attributes },
    });
    // A valid event whose attribute holds invalid UTF-8: decoded with U+FFFD, not dropped.
    const now = BigInt(Date.now()) * 1_000_000n;
    engine.emitRaw(
      Buffer.concat([
        Buffer.from(
          '{"Type":"network","Action":"connect","Actor":{"ID":"n1","Attributes":{"name":"bad',
        ),
        Buffer.from([0xff, 0xfe]),
        Buffer.from(`"}},"scope":"local","time":${now / 1_000_000_000n},"timeNano":${now}}\n`),
      ]),
    );
    await runAndWait(k, "marker"); // events are handled in order: all the above are done
    await rec.waitFor("the marker's create event", () =>
      eventsOn(k as Kit, "container", "create").some((e) => e.name === "marker"),
    );
    expect(eventsOn(k, "spaceship", "launch").map((e) => e.detail)).toEqual(["now"]);
    const weird = topics.event("we/ird+#", "a+b/#c");
    expect(weird.split("/")).toHaveLength(5);
    expect(weird).not.toMatch(/[+#]/);
    expect(rec.on(weird)).toHaveLength(1);
    expect(eventsOn(k, "container", "teleport")).toHaveLength(1);
    expect(eventsOn(k, "network", "connect").map((e) => e.name)).toContain("bad\ufffd\ufffd");
    // None of these changed web: not its state, not its device.
    expect(aboutWeb()).toBe(before);
    expect(stateOf(k, "web")).toMatchObject({ status: "running", running: true });
  });

  it("skips a several-megabyte line, counts it, and applies the next one", async () => {
    k = await startKit();
    const { engine, recorder: rec, topics, service, logs } = k;
    await runAndWait(k, "web");
    const id = String(stateOf(k, "web")?.id);
    const pad = "x".repeat(3 * 1024 * 1024);
    const time = Math.floor(Date.now() / 1000);
    engine.emitRaw(
      `{"Type":"container","Action":"die","Actor":{"ID":"${id}","Attributes":{"name":"web","exitCode":"99","pad":"${pad}"}},"time":${time}}\n`,
    );
    engine.die("web", 3);
    await rec.waitForState(topics.containerState("web"), { status: "exited", exit_code: 3 });
    expect(service.watcher.stats.eventsInvalid).toBe(1);
    expect(logs.find(/too long/)[0]?.bytes).toBeGreaterThan(3 * 1024 * 1024);
    expect(eventsOn(k, "container", "die").map((e) => e.attributes.exitCode)).toEqual(["3"]);
  });
});

describe("names and labels", () => {
  const names = [
    ...["a+b", "a#b", "+", "#", "a/b/c", "with space", "a.b", "a_b", "dots.in.name"],
    ...["café", "名前", "🐳-whale", "x".repeat(255), "web_1a2b3c4d"],
  ];
  const labels = {
    "docker-mqtt-bridge.name": "{{ states('sensor.secret') }}",
    "docker-mqtt-bridge.area": '{"area": "{{ 7*7 }}"}',
    "docker-mqtt-bridge.icon": "{% if true %}mdi:evil{% endif %}",
    "com.docker.compose.project": "proj/+#",
    note: "{{ value_json }}",
  };

  it("gives every container distinct, wildcard-free topics and devices, and evaluates no label", async () => {
    k = await startKit({
      before: (engine) =>
        engine.seed([...names.map((name) => ({ name })), { name: "labelled", labels }]),
    });
    const { engine, recorder: rec, topics } = k;
    for (const name of [...names, "labelled"]) {
      await rec.waitForState(topics.containerState(name), { name, running: true });
    }
    engine.kill("labelled", "HUP", { survive: true });
    await rec.waitFor("the kill event", () => eventsOn(k as Kit, "container", "kill").length === 1);
    expect(await k.service.publisher.drain(2000)).toBe(true);

    const ours = rec.messages.filter((m) => m.topic !== "homeassistant/status");
    for (const { topic } of ours) {
      expect(topic, topic).not.toMatch(/[+#]|\/\/|^\/|\/$/);
      expect(topic.includes("\u0000"), topic).toBe(false);
    }
    // One state topic and one device per container: `a.b` and `a_b` do not collide.
    const stateTopics = new Set(
      ours
        .filter((m) => /^docker\/test\/containers\/[^/]+\/state$/.test(m.topic))
        .map((m) => m.topic),
    );
    expect(stateTopics.size).toBe(names.length + 1);
    const devices = new Map<string, Record<string, unknown>>();
    for (const m of ours) {
      if (m.topic.startsWith("homeassistant/") && m.payload !== "") {
        // Home Assistant drops any discovery topic that does not match its regex.
        expect(m.topic).toMatch(/^homeassistant\/device\/[a-zA-Z0-9_-]+\/config$/);
        devices.set(m.topic, haPayload(m.payload));
      }
    }
    const containerDevices = [...devices.values()].filter((d) =>
      String((d.device as { model?: string }).model ?? "").includes("busybox"),
    );
    expect(containerDevices).toHaveLength(names.length + 1);
    const components = [...devices.values()].flatMap((d) =>
      Object.values(d.components as Record<string, Record<string, unknown>>),
    );
    const uniqueIds = components.map((c) => c.unique_id);
    expect(new Set(uniqueIds).size).toBe(uniqueIds.length);

    // Label text reaches Home Assistant only as plain strings, never inside a template field.
    for (const c of components) {
      for (const [key, value] of Object.entries(c)) {
        if (!key.endsWith("_template")) continue;
        for (const text of Object.values(labels)) expect(String(value)).not.toContain(text);
        expect(String(value)).not.toMatch(/states\(|7\*7|mdi:evil/);
      }
    }
    const labelled = devices.get(topics.deviceDiscovery(topics.containerDeviceId("labelled")));
    expect(labelled?.device).toMatchObject({
      name: labels["docker-mqtt-bridge.name"],
      suggested_area: labels["docker-mqtt-bridge.area"],
    });
    // And an automation reading the raw event gets the label values as they were set.
    expect(eventsOn(k, "container", "kill")[0]?.attributes).toMatchObject(labels);
    expect(rec.lastJson(topics.stackState("proj/+#"))).toMatchObject({ project: "proj/+#" });
  });
});

describe("configuration", () => {
  let dir = "";
  let main = "";
  const secret = `pw-${Math.random().toString(36).slice(2)}`;

  beforeAll(async () => {
    // A private build (not dist/, which others may be building), with the project's node_modules,
    // as main.js expects. Type errors are the type check's business; only the program matters here.
    const built = await buildPackage("dmb-config-", { timeoutMs: 10_000 });
    dir = built.dir;
    const outDir = join(dir, "dist");
    const { stdout, stderr } = built.build;
    expect(existsSync(join(outDir, "main.js")), stdout + stderr).toBe(true);
    main = join(outDir, "main.js");
    await writeFile(join(dir, "bridge.yaml"), "mqtt:\n  url: mqtt://127.0.0.1:1\n  colour: blue\n");
    await mkdir(join(dir, "a-directory"));
  }, 60_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const cases: [string, Record<string, string>, string[], RegExp][] = [
    ["DOCKER_HOST=ftp://x", { DOCKER_HOST: "ftp://x" }, [], /docker\.host.*DOCKER_HOST/],
    ["MQTT_URL=notaurl", { MQTT_URL: "notaurl" }, [], /mqtt\.url.*MQTT_URL/],
    ["a URL holding the password", { MQTT_URL: `ftp://u:${secret}@h` }, [], /mqtt\.url/],
    [
      "MQTT_EMBEDDED_PORT=70000",
      { MQTT_EMBEDDED_PORT: "70000" },
      [],
      /mqtt\.embedded_port.*MQTT_EMBEDDED_PORT/,
    ],
    ["HA_DISCOVERY=banana", { HA_DISCOVERY: "banana" }, [], /homeassistant\.enabled.*HA_DISCOVERY/],
    [
      "REMOVAL_GRACE_SECONDS=-1",
      { REMOVAL_GRACE_SECONDS: "-1" },
      [],
      /removal\.grace_seconds.*REMOVAL_GRACE_SECONDS/,
    ],
    ["MQTT_BASE_TOPIC=a/#", { MQTT_BASE_TOPIC: "a/#" }, [], /mqtt\.base_topic.*MQTT_BASE_TOPIC/],
    ["DOCKER_HOST_ID=a__b", { DOCKER_HOST_ID: "a__b" }, [], /host\.id.*DOCKER_HOST_ID/],
    ["LOG_LEVEL=loud", { LOG_LEVEL: "loud" }, [], /log\.level.*LOG_LEVEL/],
    [
      "an unknown key in a YAML file",
      {},
      ["--config", "bridge.yaml"],
      /mqtt\.colour.*bridge\.yaml/,
    ],
    ["an unreadable --config file", {}, ["--config", "missing.yaml"], /missing\.yaml/],
    [
      "an unreadable MQTT_PASSWORD_FILE",
      { MQTT_PASSWORD_FILE: "a-directory" },
      [],
      /mqtt\.password_file.*a-directory/,
    ],
  ];

  it.concurrent.each(cases)("exits 2 naming the culprit: %s", async (_name, env, args, culprit) => {
    // Killed if it has not exited after 10 s.
    const result = await runProcess("node", [main, ...args], {
      cwd: dir,
      env: {
        PATH: process.env.PATH ?? "",
        DOCKER_HOST: "unix:///nonexistent/docker.sock",
        DOCKER_HOST_ID: "t",
        MQTT_URL: "mqtt://127.0.0.1:1",
        MQTT_PASSWORD: secret,
        ...env,
      },
      timeoutMs: 10_000,
    });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(culprit);
    expect(result.stdout + result.stderr).not.toContain(secret);
  });
});
