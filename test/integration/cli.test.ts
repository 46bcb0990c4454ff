// The command line as an operator meets it: --help, --print-config and --check against a fake
// engine on a unix socket and an in-process broker, including the failures they must explain.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { runCheck } from "../../src/cli/check.js";
import {
  type CliIo,
  helpText,
  parseCliArgs,
  printConfigText,
  runCommand,
} from "../../src/cli/cli.js";
import { configKeys, loadConfig, redactUrl } from "../../src/config/loader.js";
import { startEmbeddedBroker } from "../../src/mqtt/embedded-broker.js";
import { VERSION } from "../../src/version.js";
import { startTestBroker } from "../helpers/broker.js";
import { FakeEngine } from "../helpers/fake-engine.js";

function captureIo(): CliIo & { stdout: () => string; stderr: () => string } {
  let out = "";
  let err = "";
  return {
    out: (text) => {
      out += text;
    },
    err: (text) => {
      err += text;
    },
    stdout: () => out,
    stderr: () => err,
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "dmb-cli-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A port nothing listens on: bound once, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("parseCliArgs", () => {
  it("separates the command from the configuration flags", () => {
    expect(parseCliArgs(["--check", "--config", "c.yaml", "--log-level=debug"])).toEqual({
      mode: "check",
      printConfig: false,
      configArgv: ["--config", "c.yaml", "--log-level=debug"],
    });
    expect(parseCliArgs(["--mqtt-url", "mqtt://b:1883", "--print-config"])).toEqual({
      mode: "print-config",
      printConfig: false,
      configArgv: ["--mqtt-url", "mqtt://b:1883"],
    });
    expect(parseCliArgs(["--print-config", "--check"]).printConfig).toBe(true);
    expect(parseCliArgs(["-h", "--check"]).mode).toBe("help");
    expect(parseCliArgs([]).mode).toBe("run");
  });

  it("rejects what it does not know instead of ignoring a typo", () => {
    expect(() => parseCliArgs(["--mqtt-ulr", "x"])).toThrow(
      "unknown option --mqtt-ulr (see --help)",
    );
    expect(() => parseCliArgs(["run"])).toThrow("unexpected argument 'run'");
    expect(() => parseCliArgs(["--config"])).toThrow("--config needs a file name");
    expect(parseCliArgs(["--mqtt-ulr", "x", "--help"]).mode).toBe("help");
  });
});

describe("--help", () => {
  it("lists every option with its environment variable, key and default", () => {
    const text = helpText();
    for (const k of configKeys()) {
      expect(text).toContain(`--${k.arg} `);
      expect(text).toMatch(new RegExp(`env ${k.env}, key ${k.key.replace(".", "\\.")}, default `));
    }
    expect(text).toContain("env DOCKER_HOST, key docker.host, default (empty)");
    expect(text).toContain("Empty: the first socket that answers of /var/run/docker.sock");
    expect(text).toContain("--check");
    expect(text).toContain("--print-config");
    expect(text).toContain("env CONFIG_FILE");
    expect(text.startsWith(`docker-mqtt-bridge ${VERSION}\n`)).toBe(true);
  });

  it("shows an empty list as (empty), like an empty text, and every default non-blank", () => {
    const text = helpText();
    expect(text).toContain("env EVENTS_TYPES, key events.types, default (empty)\n");
    expect(text).toContain("env DOCKER_ENGINES, key engines, default (empty)\n");
    expect(text).toContain("env MQTT_URL, key mqtt.url, default (empty)\n");
    expect(text).not.toMatch(/default \n/);
  });
});

describe("--print-config", () => {
  it("redacts the password and says where each value came from", async () => {
    const dir = await tempDir();
    const file = join(dir, "bridge.yaml");
    await writeFile(file, "mqtt:\n  base_topic: lab\nhost:\n  id: nas\n");
    const loaded = loadConfig({
      argv: ["--config", file, "--log-level", "debug"],
      env: { MQTT_PASSWORD: "hunter2", MQTT_URL: "mqtt://bridge:s3cret@broker:1883" },
    });
    const text = printConfigText(loaded);
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("s3cret");
    expect(text).toContain('  password: "[redacted]"  # env MQTT_PASSWORD\n');
    expect(text).toContain("  url: mqtt://***@broker:1883  # env MQTT_URL\n");
    expect(text).toContain(`  base_topic: lab  # file ${file}\n`);
    expect(text).toContain(`  id: nas  # file ${file}\n`);
    expect(text).toContain("  level: debug  # flag --log-level\n");
    expect(text).toContain(`  host: ""  # default\n`);
  });

  it("names the password file as the password's source", async () => {
    const dir = await tempDir();
    const secret = join(dir, "password");
    await writeFile(secret, "from-a-file\n");
    const io = captureIo();
    const status = await runCommand(
      parseCliArgs(["--print-config"]),
      { MQTT_PASSWORD_FILE: secret, MQTT_USERNAME: "bridge" },
      io,
    );
    expect(status).toBe(0);
    expect(io.stdout()).not.toContain("from-a-file");
    expect(io.stdout()).toContain(
      `  password: "[redacted]"  # file ${secret} (mqtt.password_file)\n`,
    );
  });

  it("prints YAML that, loaded back with --config, gives the same configuration", async () => {
    const dir = await tempDir();
    const password = join(dir, "portainer-key");
    await writeFile(password, "ptr_secret-key\n");
    const loaded = loadConfig({
      argv: ["--events-types", "container,image", "--log-level", "debug"],
      env: {
        DOCKER_ENGINES: JSON.stringify([
          { id: "nas", host: "unix:///var/run/docker.sock" },
          { id: "pi", host: "tcp://pi.lan:2376", tls_verify: true, cert_path: "/certs/pi" },
        ]),
        MQTT_URL: "mqtt://bridge:s3cret@broker:1883",
        MQTT_USERNAME: "bridge",
        MQTT_PASSWORD: "hunter2",
        PORTAINER_URL: "https://portainer.lan:9443",
        PORTAINER_API_KEY_FILE: password,
        PORTAINER_ENVIRONMENTS: "3,edge-box=garage",
        FILTER_EXCLUDE: "/^tmp-.*$/,*-old",
        FILTER_LABELS_INCLUDE: "com.example.watch=yes",
        EVENTS_ACTIONS: "start,die,health_status: unhealthy",
        HA_ENTITIES: "running, health",
        REMOVAL_GRACE_SECONDS: "2.5",
        HTTP_HOST: "::",
      },
    });
    const text = printConfigText(loaded);
    for (const secret of ["s3cret", "hunter2", "ptr_secret-key"])
      expect(text).not.toContain(secret);
    expect(text).toContain("  types: [ container, image ]  # flag --events-types\n");
    expect(() => parseYaml(text)).not.toThrow();
    const file = join(dir, "printed.yaml");
    await writeFile(file, text);
    const back = loadConfig({ argv: ["--config", file], env: {} });
    // Secrets aside: they are printed as [redacted] and come back as that text.
    const withoutSecrets = (c: typeof loaded.config) => ({
      ...c,
      mqtt: { ...c.mqtt, url: redactUrl(c.mqtt.url), password: "" },
    });
    expect(withoutSecrets(back.config)).toEqual(withoutSecrets(loaded.config));
    expect(back.config.mqtt.password).toBe("[redacted]");
    expect(new Set(Object.values(back.sources))).toEqual(new Set([`file ${file}`]));
  });

  it("redacts a user and password in any URL, inside lists too", () => {
    const loaded = loadConfig({ argv: [], env: {} });
    const engines = [{ id: "a", host: "https://u:SECRET@h:2376" }];
    const text = printConfigText({ ...loaded, config: { ...loaded.config, engines } });
    expect(text).not.toContain("SECRET");
    expect(text).toContain("engines: [ { id: a, host: https://***@h:2376 } ]  # default\n");
  });

  it("exits 2 with the configuration error", async () => {
    const io = captureIo();
    const status = await runCommand(parseCliArgs(["--print-config"]), { HTTP_PORT: "x" }, io);
    expect(status).toBe(2);
    expect(io.stderr()).toMatch(/^docker-mqtt-bridge: invalid configuration: http\.port: /);
  });
});

describe("--check", () => {
  it("passes against a reachable engine and broker", async () => {
    const engine = await FakeEngine.start({ fixtureSnapshot: true });
    cleanups.push(() => engine.close());
    const broker = await startTestBroker();
    cleanups.push(() => broker.close());
    const io = captureIo();
    const status = await runCheck(
      [],
      { DOCKER_HOST: engine.dockerHost, MQTT_URL: broker.url, DOCKER_HOST_ID: "lab" },
      io,
    );
    expect(io.stdout()).toBe(
      [
        `docker-mqtt-bridge ${VERSION} check`,
        "  ok    config  valid (3 from env)",
        `  ok    engine  lab at ${engine.dockerHost}: Docker 20.10.24+dfsg1, API 1.41, name "vm", 4 containers; events readable`,
        `  ok    broker  ${broker.url}: connected`,
        "all checks passed",
        "",
      ].join("\n"),
    );
    expect(status).toBe(0);
    // Every request the bridge will need was tried, and nothing but GET.
    const paths = engine.requests.map((r) => `${r.method} ${r.path.replace(/\?.*/, "")}`);
    expect(paths).toEqual([
      "GET /_ping",
      "GET /v1.41/version",
      "GET /v1.41/info",
      "GET /v1.41/containers/json",
      "GET /v1.41/events",
    ]);
  });

  it("fails with the missing socket's path and the likely fix", async () => {
    const dir = await tempDir();
    const broker = await startTestBroker();
    cleanups.push(() => broker.close());
    const socket = join(dir, "docker.sock");
    const io = captureIo();
    const status = await runCheck(
      [],
      { DOCKER_HOST: `unix://${socket}`, MQTT_URL: broker.url },
      io,
    );
    expect(status).toBe(1);
    expect(io.stdout()).toContain(
      `  FAIL  engine  no socket at ${socket}: is the Docker Engine running, and is the socket mounted here`,
    );
    expect(io.stdout()).toContain(`  ok    broker  ${broker.url}: connected\n`);
    expect(io.stdout()).toMatch(/\n1 check failed\n$/);
  });

  it("fails when the broker refuses the connection", async () => {
    const engine = await FakeEngine.start();
    cleanups.push(() => engine.close());
    const port = await closedPort();
    const io = captureIo();
    const status = await runCheck(
      [],
      { DOCKER_HOST: engine.dockerHost, MQTT_URL: `mqtt://127.0.0.1:${port}` },
      io,
    );
    expect(status).toBe(1);
    expect(io.stdout()).toContain(
      `  FAIL  broker  connection refused at mqtt://127.0.0.1:${port}: is the broker running and reachable from here?\n`,
    );
    expect(io.stdout()).toMatch(/ {2}ok {4}engine /);
  });

  it("fails when the broker rejects the credentials, without showing them", async () => {
    const engine = await FakeEngine.start();
    cleanups.push(() => engine.close());
    const broker = await startEmbeddedBroker({
      host: "127.0.0.1",
      port: 0,
      username: "bridge",
      password: "right",
    });
    cleanups.push(() => broker.close());
    const io = captureIo();
    const status = await runCheck(
      [],
      {
        DOCKER_HOST: engine.dockerHost,
        MQTT_URL: broker.url,
        MQTT_USERNAME: "bridge",
        MQTT_PASSWORD: "wrong",
      },
      io,
    );
    expect(status).toBe(1);
    expect(io.stdout()).toMatch(
      /FAIL {2}broker {2}mqtt:\/\/127\.0\.0\.1:\d+ refused the connection \(.*[Bb]ad username or password.*\): check MQTT_USERNAME and MQTT_PASSWORD/,
    );
    expect(io.stdout()).not.toContain("wrong");
  });

  it("prints the configuration first when --print-config comes with it", async () => {
    const dir = await tempDir();
    const io = captureIo();
    const status = await runCommand(
      parseCliArgs(["--check", "--print-config", "--docker-host", `unix://${dir}/none.sock`]),
      { MQTT_URL: `mqtt://127.0.0.1:${await closedPort()}` },
      io,
    );
    expect(status).toBe(1);
    const out = io.stdout();
    expect(out).toMatch(/^# docker-mqtt-bridge .*: effective configuration/);
    expect(out).toContain(`  host: unix://${dir}/none.sock  # flag --docker-host\n`);
    expect(out.indexOf("  FAIL  engine")).toBeGreaterThan(out.indexOf("# flag --docker-host"));
    expect(out).toMatch(/\n2 checks failed\n$/);
  });

  it("reports an invalid configuration and checks nothing else", async () => {
    const io = captureIo();
    const status = await runCheck([], { MQTT_URL: "http://nope" }, io);
    expect(status).toBe(1);
    expect(io.stdout()).toContain(
      "  FAIL  config  invalid configuration: mqtt.url: must use mqtt://",
    );
    expect(io.stdout()).not.toContain("engine");
  });
});
