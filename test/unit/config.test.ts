import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig, redactUrl } from "../../src/config/loader.js";
import { ConfigError } from "../../src/errors.js";

const dir = mkdtempSync(join(tmpdir(), "dmb-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** The ConfigError loadConfig throws for these sources (fails the test if none). */
function configError(argv: string[], env: Record<string, string> = {}): ConfigError {
  try {
    loadConfig({ argv, env });
  } catch (err: unknown) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`no error for argv ${JSON.stringify(argv)} env ${JSON.stringify(env)}`);
}

/** The documented defaults of the core keys (other keys may exist besides these). */
const DEFAULTS = {
  docker: {
    host: "",
    tls_verify: false,
    cert_path: "",
    reconnect_max_seconds: 30,
  },
  mqtt: {
    url: "",
    username: "",
    password: "",
    password_file: "",
    client_id: "",
    base_topic: "docker",
    embedded_port: 1883,
    embedded_host: "127.0.0.1",
    protocol_version: 4,
    ca_file: "",
    cert_file: "",
    key_file: "",
    reject_unauthorized: true,
    publish_timeout_seconds: 10,
  },
  homeassistant: {
    enabled: true,
    prefix: "homeassistant",
    status_topic: "homeassistant/status",
    discovery_mode: "device",
    republish_delay_seconds: 3,
    entities: "running,health,status,started,exit_code,restart_count,image,oom_killed,events",
    stacks: true,
  },
  host: { id: "" },
  removal: { grace_seconds: 60 },
  events: { healthcheck_exec: false },
  log: { level: "info", format: "auto" },
  http: { port: 0, host: "0.0.0.0" },
};

describe("loadConfig: sources", () => {
  it("gives the defaults when nothing is set, all from 'default'", () => {
    const { config, sources } = loadConfig({ argv: [], env: {} });
    expect(config).toMatchObject(DEFAULTS);
    for (const group of Object.keys(DEFAULTS) as Array<keyof typeof DEFAULTS>) {
      if (group !== "events") expect(config[group], group).toEqual(DEFAULTS[group]);
    }
    expect(new Set(Object.values(sources))).toEqual(new Set(["default"]));
  });

  it("does not read process.env or process.argv when sources are given", () => {
    process.env.MQTT_BASE_TOPIC = "leaked";
    try {
      expect(loadConfig({ argv: [], env: {} }).config.mqtt.base_topic).toBe("docker");
    } finally {
      delete process.env.MQTT_BASE_TOPIC;
    }
  });

  it("reads environment variables, coercing numbers and boolean words", () => {
    const { config, sources } = loadConfig({
      argv: [],
      env: {
        DOCKER_HOST: "tcp://10.0.0.5:2376",
        DOCKER_TLS_VERIFY: "1",
        DOCKER_CERT_PATH: "/certs",
        MQTT_URL: "mqtts://broker.lan:8883",
        MQTT_USERNAME: "bridge",
        MQTT_PASSWORD: "s3cret",
        MQTT_BASE_TOPIC: "home/docker",
        MQTT_PROTOCOL_VERSION: "5",
        MQTT_REJECT_UNAUTHORIZED: "no",
        HA_DISCOVERY: "off",
        HA_DISCOVERY_MODE: "component",
        HA_STACKS: "FALSE",
        HA_ENTITIES: "running, health",
        DOCKER_HOST_ID: "nas-1",
        REMOVAL_GRACE_SECONDS: "2.5",
        EVENTS_HEALTHCHECK_EXEC: "yes",
        LOG_LEVEL: "debug",
        HTTP_PORT: "9100",
      },
    });
    expect(config).toMatchObject({
      ...DEFAULTS,
      docker: {
        host: "tcp://10.0.0.5:2376",
        tls_verify: true,
        cert_path: "/certs",
        reconnect_max_seconds: 30,
      },
      mqtt: {
        ...DEFAULTS.mqtt,
        url: "mqtts://broker.lan:8883",
        username: "bridge",
        password: "s3cret",
        base_topic: "home/docker",
        protocol_version: 5,
        reject_unauthorized: false,
      },
      homeassistant: {
        ...DEFAULTS.homeassistant,
        enabled: false,
        discovery_mode: "component",
        stacks: false,
        entities: "running, health",
      },
      host: { id: "nas-1" },
      removal: { grace_seconds: 2.5 },
      events: { healthcheck_exec: true },
      log: { level: "debug", format: "auto" },
      http: { port: 9100, host: "0.0.0.0" },
    });
    expect(sources["mqtt.url"]).toBe("env MQTT_URL");
    expect(sources["mqtt.embedded_port"]).toBe("default");
  });

  it("reads flags, as --key value and --key=value", () => {
    const { config, sources } = loadConfig({
      argv: [
        "--mqtt-url",
        "mqtt://flag:1883",
        "--ha-discovery=false",
        "--removal-grace-seconds",
        "0",
      ],
      env: {},
    });
    expect(config.mqtt.url).toBe("mqtt://flag:1883");
    expect(config.homeassistant.enabled).toBe(false);
    expect(config.removal.grace_seconds).toBe(0);
    expect(sources["mqtt.url"]).toBe("flag --mqtt-url");
    expect(sources["homeassistant.enabled"]).toBe("flag --ha-discovery");
  });

  const yaml = () =>
    file(
      "config.yaml",
      [
        "mqtt:",
        "  url: mqtt://from-file:1883",
        "  base_topic: file-topic",
        "  embedded_port: 1884",
        "homeassistant:",
        "  enabled: false",
        "  prefix: ha-file",
        "removal:",
        "  grace_seconds: 5",
        "",
      ].join("\n"),
    );

  it("reads a YAML file given with --config", () => {
    const path = yaml();
    const { config, sources } = loadConfig({ argv: ["--config", path], env: {} });
    expect(config.mqtt).toEqual({
      ...DEFAULTS.mqtt,
      url: "mqtt://from-file:1883",
      base_topic: "file-topic",
      embedded_port: 1884,
    });
    expect(config.homeassistant).toEqual({
      ...DEFAULTS.homeassistant,
      enabled: false,
      prefix: "ha-file",
    });
    expect(config.removal.grace_seconds).toBe(5);
    expect(sources["mqtt.url"]).toBe(`file ${path}`);
    expect(sources["mqtt.username"]).toBe("default");
  });

  it("reads a JSON file given with --config=FILE or CONFIG_FILE", () => {
    const path = file(
      "config.json",
      JSON.stringify({ mqtt: { url: "mqtt://json:1883" }, host: { id: "json-host" } }),
    );
    for (const sources of [
      { argv: [`--config=${path}`], env: {} },
      { argv: [], env: { CONFIG_FILE: path } },
    ]) {
      const { config } = loadConfig(sources);
      expect(config.mqtt.url).toBe("mqtt://json:1883");
      expect(config.host.id).toBe("json-host");
    }
  });

  it("prefers --config over CONFIG_FILE", () => {
    const chosen = file("chosen.json", JSON.stringify({ host: { id: "chosen" } }));
    const other = file("other.json", JSON.stringify({ host: { id: "other" } }));
    const { config } = loadConfig({ argv: ["--config", chosen], env: { CONFIG_FILE: other } });
    expect(config.host.id).toBe("chosen");
  });

  it("ranks flags over env over file over defaults", () => {
    const path = yaml();
    const { config, sources } = loadConfig({
      argv: ["--config", path, "--mqtt-base-topic", "flag-topic"],
      env: { MQTT_BASE_TOPIC: "env-topic", MQTT_URL: "mqtt://env:1883" },
    });
    expect(config.mqtt.base_topic).toBe("flag-topic");
    expect(config.mqtt.url).toBe("mqtt://env:1883");
    expect(config.mqtt.embedded_port).toBe(1884);
    expect(config.mqtt.username).toBe("");
    expect(sources["mqtt.base_topic"]).toBe("flag --mqtt-base-topic");
    expect(sources["mqtt.url"]).toBe("env MQTT_URL");
    expect(sources["mqtt.embedded_port"]).toBe(`file ${path}`);
    expect(sources["mqtt.username"]).toBe("default");
  });

  it("takes an empty file as no settings", () => {
    const path = file("empty.yaml", "");
    expect(loadConfig({ argv: ["--config", path], env: {} }).config).toEqual(
      loadConfig({ argv: [], env: {} }).config,
    );
  });

  it("returns a deeply frozen config", () => {
    const { config } = loadConfig({ argv: [], env: {} });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.mqtt)).toBe(true);
    expect(() => {
      (config.mqtt as { url: string }).url = "mqtt://changed";
    }).toThrow(TypeError);
    expect(config.mqtt.url).toBe("");
  });
});

describe("loadConfig: invalid values", () => {
  const cases: Array<[string, string[], Record<string, string>, RegExp]> = [
    [
      "bad docker.host",
      [],
      { DOCKER_HOST: "ftp://engine" },
      /docker\.host: .*from env DOCKER_HOST/,
    ],
    [
      "docker.host without an address",
      [],
      { DOCKER_HOST: "tcp://" },
      /docker\.host: .*from env DOCKER_HOST/,
    ],
    [
      "bad mqtt.url",
      [],
      { MQTT_URL: "not a url" },
      /mqtt\.url: .*\(got "not a url"\), from env MQTT_URL/,
    ],
    [
      "http:// as mqtt.url",
      [],
      { MQTT_URL: "http://broker:1883" },
      /mqtt\.url: must use mqtt:\/\/.*from env MQTT_URL/,
    ],
    [
      "port out of range",
      ["--mqtt-embedded-port", "70000"],
      {},
      /mqtt\.embedded_port: .*\(got 70000\), from flag --mqtt-embedded-port/,
    ],
    ["negative port", [], { HTTP_PORT: "-1" }, /http\.port: .*from env HTTP_PORT/],
    [
      "banana for a boolean",
      [],
      { HA_DISCOVERY: "banana" },
      /homeassistant\.enabled: must be true or false \(got "banana"\), from env HA_DISCOVERY/,
    ],
    [
      "banana for a boolean flag",
      ["--docker-tls-verify", "banana"],
      {},
      /docker\.tls_verify: must be true or false \(got "banana"\), from flag --docker-tls-verify/,
    ],
    [
      "negative seconds",
      [],
      { REMOVAL_GRACE_SECONDS: "-5" },
      /removal\.grace_seconds: .*\(got -5\), from env REMOVAL_GRACE_SECONDS/,
    ],
    [
      "words for seconds",
      [],
      { MQTT_PUBLISH_TIMEOUT_SECONDS: "ten" },
      /mqtt\.publish_timeout_seconds: .*from env MQTT_PUBLISH_TIMEOUT_SECONDS/,
    ],
    [
      "base_topic with #",
      [],
      { MQTT_BASE_TOPIC: "docker/#" },
      /mqtt\.base_topic: .*\(got "docker\/#"\), from env MQTT_BASE_TOPIC/,
    ],
    [
      "base_topic with +",
      ["--mqtt-base-topic", "a/+/b"],
      {},
      /mqtt\.base_topic: .*from flag --mqtt-base-topic/,
    ],
    [
      "base_topic with a trailing /",
      [],
      { MQTT_BASE_TOPIC: "docker/" },
      /mqtt\.base_topic: .*from env MQTT_BASE_TOPIC/,
    ],
    [
      "host.id with a dot",
      [],
      { DOCKER_HOST_ID: "nas.lan" },
      /host\.id: .*\(got "nas\.lan"\), from env DOCKER_HOST_ID/,
    ],
    ["host.id with __", [], { DOCKER_HOST_ID: "a__b" }, /host\.id: .*from env DOCKER_HOST_ID/],
    [
      "host.id with a trailing _",
      [],
      { DOCKER_HOST_ID: "nas_" },
      /host\.id: .*from env DOCKER_HOST_ID/,
    ],
    [
      "host.id shaped like a hashed id",
      [],
      { DOCKER_HOST_ID: "nas_deadbeef" },
      /host\.id: .*from env DOCKER_HOST_ID/,
    ],
    [
      "an unknown discovery mode",
      [],
      { HA_DISCOVERY_MODE: "entity" },
      /homeassistant\.discovery_mode: .*from env HA_DISCOVERY_MODE/,
    ],
    [
      "an unknown entity group",
      [],
      { HA_ENTITIES: "running,cpu" },
      /homeassistant\.entities: unknown entity group cpu.*from env HA_ENTITIES/,
    ],
    [
      "MQTT protocol 3",
      [],
      { MQTT_PROTOCOL_VERSION: "3" },
      /mqtt\.protocol_version: .*from env MQTT_PROTOCOL_VERSION/,
    ],
    ["an unknown log level", ["--log-level", "loud"], {}, /log\.level: .*from flag --log-level/],
  ];
  for (const [what, argv, env, message] of cases) {
    it(`rejects ${what}, naming the key and where the value came from`, () => {
      const err = configError(argv, env);
      expect(err.code).toBe("CONFIG_INVALID");
      expect(err.message).toMatch(message);
    });
  }

  it("names each bad key of a file, and the file", () => {
    const path = file(
      "bad.yaml",
      "mqtt:\n  embedded_port: 99999\nhomeassistant:\n  enabled: banana\n",
    );
    const err = configError(["--config", path]);
    expect(err.message).toContain(
      `mqtt.embedded_port: ports must be within range 0 - 65535 (got 99999), from file ${path}`,
    );
    expect(err.message).toContain(
      `homeassistant.enabled: must be true or false (got "banana"), from file ${path}`,
    );
  });

  it("rejects an unknown key in the file, naming it and the file", () => {
    const path = file("typo.json", JSON.stringify({ mqtt: { url: "", pasword: "x" }, bogus: 1 }));
    const err = configError(["--config", path]);
    expect(err.code).toBe("CONFIG_INVALID");
    expect(err.message).toContain(`mqtt.pasword: unknown key in ${path}`);
    expect(err.message).toContain(`bogus: unknown key in ${path}`);
  });

  it("names a config file that cannot be read or parsed", () => {
    const missing = join(dir, "missing.yaml");
    const unreadable = configError(["--config", missing]);
    expect(unreadable.code).toBe("CONFIG_FILE_UNREADABLE");
    expect(unreadable.message).toContain(missing);
    const broken = file("broken.json", '{"mqtt": ');
    expect(configError([], { CONFIG_FILE: broken }).message).toContain(
      `config file ${broken} is not valid`,
    );
    const list = file("list.yaml", "- a\n- b\n");
    expect(configError(["--config", list]).message).toContain(`config file ${list} is not valid`);
  });
});

describe("loadConfig: secrets", () => {
  it("never shows the password in an error about another key", () => {
    const err = configError([], { MQTT_PASSWORD: "hunter2-secret", MQTT_EMBEDDED_PORT: "x" });
    expect(err.message).toContain("mqtt.embedded_port");
    expect(err.message).not.toContain("hunter2-secret");
  });

  it("never shows a password given in a file", () => {
    const path = file("secret.yaml", "mqtt:\n  password: hunter2-secret\n  embedded_port: -1\n");
    const err = configError(["--config", path]);
    expect(err.message).toContain("mqtt.embedded_port");
    expect(err.message).not.toContain("hunter2-secret");
  });

  it("never shows a password of the wrong type", () => {
    const path = file("number.yaml", "mqtt:\n  password: 123456789\n");
    const err = configError(["--config", path]);
    expect(err.message).toContain("mqtt.password");
    expect(err.message).not.toContain("123456789");
  });

  it("shows a bad mqtt.url with its user and password redacted", () => {
    const err = configError([], { MQTT_URL: "http://bridge:hunter2-secret@broker:1883" });
    expect(err.message).toContain('(got "http://***@broker:1883"), from env MQTT_URL');
    expect(err.message).not.toContain("hunter2-secret");
    expect(err.message).not.toContain("bridge:");
  });

  it("redacts a password that holds an @ in full", () => {
    const err = configError([], { MQTT_URL: "http://bridge:p@ss-secret@broker:1883" });
    expect(err.message).toContain("mqtt.url");
    expect(err.message).not.toContain("ss-secret");
  });

  it("redactUrl strips user:password from every URL in a text", () => {
    expect(redactUrl("a mqtt://u:p@h:1 and wss://x:y@z/p")).toBe(
      "a mqtt://***@h:1 and wss://***@z/p",
    );
    expect(redactUrl("mqtt://host:1883")).toBe("mqtt://host:1883");
  });

  it("reads the password from MQTT_PASSWORD_FILE, without its trailing newline", () => {
    const path = file("password", "from-file\n");
    const { config } = loadConfig({
      argv: [],
      env: { MQTT_PASSWORD_FILE: path, MQTT_PASSWORD: "from-env", MQTT_USERNAME: "bridge" },
    });
    expect(config.mqtt.password).toBe("from-file");
    expect(config.mqtt.password_file).toBe(path);
    const crlf = file("password-crlf", "with spaces \r\n");
    const env = { MQTT_PASSWORD_FILE: crlf, MQTT_USERNAME: "bridge" };
    expect(loadConfig({ argv: [], env }).config.mqtt.password).toBe("with spaces ");
  });

  it("names a password file that cannot be read, without its content", () => {
    const missing = join(dir, "no-such-password");
    const err = configError([], { MQTT_PASSWORD_FILE: missing });
    expect(err.code).toBe("CONFIG_FILE_UNREADABLE");
    expect(err.message).toContain(`mqtt.password_file: ${missing} cannot be read`);
    // A folder cannot be read as a file, even by root (file modes would not stop root).
    const folder = mkdtempSync(join(dir, "password-dir-"));
    const notAFile = configError(["--mqtt-password-file", folder]);
    expect(notAFile.code).toBe("CONFIG_FILE_UNREADABLE");
    expect(notAFile.message).toContain(`mqtt.password_file: ${folder} cannot be read`);
  });
});

describe("loadConfig: durations", () => {
  // Each duration has a floor (0 made the publisher, the engine reconnect and the Portainer
  // refresh loop spin thousands of times a second) and a ceiling below setTimeout's 24.8 days.
  const ranges: Array<[string, string, number, number]> = [
    ["docker.reconnect_max_seconds", "DOCKER_RECONNECT_MAX_SECONDS", 0.1, 3600],
    ["mqtt.publish_timeout_seconds", "MQTT_PUBLISH_TIMEOUT_SECONDS", 0.1, 600],
    ["homeassistant.republish_delay_seconds", "HA_REPUBLISH_DELAY_SECONDS", 0, 600],
    ["removal.grace_seconds", "REMOVAL_GRACE_SECONDS", 0, 86_400],
    ["portainer.refresh_seconds", "PORTAINER_REFRESH_SECONDS", 0.1, 86_400],
  ];
  for (const [key, env, min, max] of ranges) {
    it(`rejects ${env} outside ${min} to ${max}, naming the key, the source and the range`, () => {
      const range = `${key}: must be ${min} to ${max} seconds`;
      const below = min === 0 ? "-1" : "0";
      expect(configError([], { [env]: below }).message).toBe(
        `invalid configuration: ${range} (got ${below}), from env ${env}`,
      );
      expect(configError([], { [env]: String(max * 10) }).message).toContain(
        `${range} (got ${max * 10}), from env ${env}`,
      );
      const at = (value: number) => {
        let node: unknown = loadConfig({ argv: [], env: { [env]: String(value) } }).config;
        for (const part of key.split(".")) node = (node as Record<string, unknown>)[part];
        return node;
      };
      expect(at(min)).toBe(min);
      expect(at(max)).toBe(max);
    });
  }

  it("names the file a bad duration came from", () => {
    const path = file("spin.yaml", "portainer:\n  refresh_seconds: 0\n");
    expect(configError(["--config", path]).message).toBe(
      `invalid configuration: portainer.refresh_seconds: must be 0.1 to 86400 seconds (got 0), from file ${path}`,
    );
  });
});

describe("loadConfig: credentials", () => {
  it("rejects a password without a user name, naming where the password came from", () => {
    expect(configError([], { MQTT_PASSWORD: "hunter2" }).message).toBe(
      "invalid configuration: mqtt.password is set (from env MQTT_PASSWORD) but mqtt.username is empty: set MQTT_USERNAME too, or drop the password",
    );
    const secret = file("lone-password", "hunter2\n");
    const err = configError(["--mqtt-password-file", secret]);
    expect(err.code).toBe("CONFIG_INVALID");
    expect(err.message).toContain(
      "mqtt.password is set (mqtt.password_file, from flag --mqtt-password-file) but mqtt.username is empty",
    );
    expect(err.message).not.toContain("hunter2");
  });

  it("takes a password whose user name is in mqtt.url", () => {
    const env = { MQTT_URL: "mqtt://bridge@broker:1883", MQTT_PASSWORD: "hunter2" };
    expect(loadConfig({ argv: [], env }).config.mqtt.password).toBe("hunter2");
  });

  const hosts: Array<[string, Record<string, string>, RegExp]> = [
    [
      "docker.host",
      { DOCKER_HOST: "https://u:hunter2@engine:2376" },
      /^invalid configuration: docker\.host: must not hold a user or password \(the Engine API has no password login\): use TLS client certificates .* \(got "https:\/\/\*\*\*@engine:2376"\), from env DOCKER_HOST$/,
    ],
    [
      "an engine of engines",
      {
        DOCKER_ENGINES: JSON.stringify([
          { id: "nas", host: "unix:///var/run/docker.sock" },
          { id: "pi", host: "tcp://admin:hunter2@pi.lan:2375" },
        ]),
      },
      /^invalid configuration: engines: entry 1 \(pi\): host must not hold a user or password .*, from env DOCKER_ENGINES$/,
    ],
    [
      "portainer.url",
      { PORTAINER_URL: "https://admin:hunter2@portainer:9443" },
      /^invalid configuration: portainer\.url: must not hold a user or password: give an access token as the API key .*, from env PORTAINER_URL$/,
    ],
  ];
  for (const [what, env, message] of hosts) {
    it(`rejects a user and password in ${what} instead of dropping them, without showing them`, () => {
      const err = configError([], env);
      expect(err.message).toMatch(message);
      expect(err.message).not.toContain("hunter2");
    });
  }

  it("rejects a portainer.url that is not http:// or https://", () => {
    expect(configError([], { PORTAINER_URL: "portainer:9443" }).message).toContain(
      'portainer.url: must be an http:// or https:// URL, or empty (got "portainer:9443"), from env PORTAINER_URL',
    );
  });
});
