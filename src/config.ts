// Configuration: one convict schema is the single source of truth for keys, defaults, environment
// variables, flags and the Config type. Sources, lowest to highest: defaults < config file < env < flags.
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import convict from "convict";
import { parse as parseYaml } from "yaml";
import { ConfigError } from "./errors.js";
import { ENTITY_GROUPS, type EntityGroup } from "./homeassistant/entities.js";
import { isCleanId } from "./homeassistant/ids.js";

/** The entity groups of `homeassistant.entities` ("running, health" -> ["running", "health"]). */
export function parseEntityGroups(value: string): EntityGroup[] {
  return value
    .split(",")
    .map((g) => g.trim())
    .filter((g) => g !== "") as EntityGroup[];
}

const BOOLEAN_WORDS: Record<string, boolean> = {
  true: true,
  false: false,
  "1": true,
  "0": false,
  yes: true,
  no: false,
  on: true,
  off: false,
};

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

function assertString(value: unknown): asserts value is string {
  if (typeof value !== "string") throw new Error("must be a string");
}

convict.addFormats({
  "strict-boolean": {
    validate(value: unknown) {
      if (typeof value !== "boolean") throw new Error("must be true or false");
    },
    coerce(value: unknown) {
      const word = String(value).trim().toLowerCase();
      return word in BOOLEAN_WORDS ? BOOLEAN_WORDS[word] : value;
    },
  },
  seconds: {
    validate(value: unknown) {
      if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
        throw new Error("must be a number of seconds, 0 or more");
      }
    },
    coerce(value: unknown) {
      const text = String(value).trim();
      return text !== "" && Number.isFinite(Number(text)) ? Number(text) : value;
    },
  },
  "docker-host": {
    validate(value: unknown) {
      assertString(value);
      if (!/^(unix|tcp|http|https):\/\/.+/.test(value)) {
        throw new Error(
          "must be unix:///path, tcp://host:port, http://host:port or https://host:port",
        );
      }
      if (!value.startsWith("unix://")) new URL(value.replace(/^tcp:/, "http:"));
    },
  },
  "mqtt-url": {
    validate(value: unknown) {
      assertString(value);
      if (value === "") return;
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        throw new Error(
          "must be a URL such as mqtt://host:1883 (or empty for the embedded broker)",
        );
      }
      if (!["mqtt:", "mqtts:", "tcp:", "ssl:", "tls:", "ws:", "wss:"].includes(url.protocol)) {
        throw new Error("must use mqtt://, mqtts://, tcp://, ssl://, ws:// or wss://");
      }
    },
  },
  "entity-groups": {
    validate(value: unknown) {
      assertString(value);
      const unknown = parseEntityGroups(value).filter(
        (g) => !(ENTITY_GROUPS as readonly string[]).includes(g),
      );
      if (unknown.length > 0) {
        throw new Error(
          `unknown entity group ${unknown.join(", ")}; known: ${ENTITY_GROUPS.join(", ")}`,
        );
      }
    },
  },
  "host-id": {
    validate(value: unknown) {
      assertString(value);
      if (value !== "" && !isCleanId(value)) {
        throw new Error(
          "must be 1 to 64 characters from A-Z a-z 0-9 _ -, start with a letter or digit, with no '__' and no trailing '_'",
        );
      }
    },
  },
  "topic-path": {
    validate(value: unknown) {
      assertString(value);
      if (
        value === "" ||
        /[+#]/.test(value) ||
        value.includes("\u0000") ||
        value.startsWith("/") ||
        value.endsWith("/")
      ) {
        throw new Error("must be a non-empty MQTT topic without + # or a leading or trailing /");
      }
    },
  },
});

export const configSchema = {
  docker: {
    host: {
      doc: "Where the Docker Engine is: unix:///path, tcp://host:port, http:// or https://",
      format: "docker-host",
      default: "unix:///var/run/docker.sock",
      env: "DOCKER_HOST",
      arg: "docker-host",
    },
    tls_verify: {
      doc: "Use TLS with the client certificate from docker.cert_path (tcp:// becomes https://)",
      format: "strict-boolean",
      default: false,
      env: "DOCKER_TLS_VERIFY",
      arg: "docker-tls-verify",
    },
    cert_path: {
      doc: "Folder with ca.pem, cert.pem and key.pem for Docker over TLS",
      format: String,
      default: "",
      env: "DOCKER_CERT_PATH",
      arg: "docker-cert-path",
    },
    reconnect_max_seconds: {
      doc: "Longest wait between attempts to reach a lost engine (capped exponential backoff)",
      format: "seconds",
      default: 30,
      env: "DOCKER_RECONNECT_MAX_SECONDS",
      arg: "docker-reconnect-max-seconds",
    },
  },
  mqtt: {
    url: {
      doc: "The MQTT broker. Empty: an embedded broker serves on mqtt.embedded_port",
      format: "mqtt-url",
      default: "",
      env: "MQTT_URL",
      arg: "mqtt-url",
      sensitive: false,
    },
    username: {
      doc: "MQTT user name",
      format: String,
      default: "",
      env: "MQTT_USERNAME",
      arg: "mqtt-username",
    },
    password: {
      doc: "MQTT password",
      format: String,
      default: "",
      env: "MQTT_PASSWORD",
      arg: "mqtt-password",
      sensitive: true,
    },
    password_file: {
      doc: "File holding the MQTT password (Docker secrets); overrides mqtt.password",
      format: String,
      default: "",
      env: "MQTT_PASSWORD_FILE",
      arg: "mqtt-password-file",
    },
    client_id: {
      doc: "MQTT client id. Empty: docker-mqtt-bridge_<host id>_<random>",
      format: String,
      default: "",
      env: "MQTT_CLIENT_ID",
      arg: "mqtt-client-id",
    },
    base_topic: {
      doc: "First level of every topic the bridge publishes",
      format: "topic-path",
      default: "docker",
      env: "MQTT_BASE_TOPIC",
      arg: "mqtt-base-topic",
    },
    embedded_port: {
      doc: "Port of the embedded broker (used when mqtt.url is empty)",
      format: "port",
      default: 1883,
      env: "MQTT_EMBEDDED_PORT",
      arg: "mqtt-embedded-port",
    },
    embedded_host: {
      doc: "Address the embedded broker listens on",
      format: String,
      default: "127.0.0.1",
      env: "MQTT_EMBEDDED_HOST",
      arg: "mqtt-embedded-host",
    },
    protocol_version: {
      doc: "MQTT protocol version: 4 (3.1.1) or 5",
      format: [4, 5],
      default: 4 as 4 | 5,
      env: "MQTT_PROTOCOL_VERSION",
      arg: "mqtt-protocol-version",
    },
    ca_file: {
      doc: "CA certificate file for mqtts:// (otherwise the system's CAs)",
      format: String,
      default: "",
      env: "MQTT_CA_FILE",
      arg: "mqtt-ca-file",
    },
    cert_file: {
      doc: "Client certificate file for mqtts://",
      format: String,
      default: "",
      env: "MQTT_CERT_FILE",
      arg: "mqtt-cert-file",
    },
    key_file: {
      doc: "Client key file for mqtts://",
      format: String,
      default: "",
      env: "MQTT_KEY_FILE",
      arg: "mqtt-key-file",
    },
    reject_unauthorized: {
      doc: "Refuse a broker whose TLS certificate does not verify",
      format: "strict-boolean",
      default: true,
      env: "MQTT_REJECT_UNAUTHORIZED",
      arg: "mqtt-reject-unauthorized",
    },
    publish_timeout_seconds: {
      doc: "How long a publish may wait for the broker before it counts as failed",
      format: "seconds",
      default: 10,
      env: "MQTT_PUBLISH_TIMEOUT_SECONDS",
      arg: "mqtt-publish-timeout-seconds",
    },
  },
  homeassistant: {
    enabled: {
      doc: "Publish Home Assistant MQTT discovery",
      format: "strict-boolean",
      default: true,
      env: "HA_DISCOVERY",
      arg: "ha-discovery",
    },
    prefix: {
      doc: "Home Assistant discovery prefix",
      format: "topic-path",
      default: "homeassistant",
      env: "HA_DISCOVERY_PREFIX",
      arg: "ha-discovery-prefix",
    },
    status_topic: {
      doc: "Topic of Home Assistant's birth message; on 'online' everything is republished",
      format: "topic-path",
      default: "homeassistant/status",
      env: "HA_STATUS_TOPIC",
      arg: "ha-status-topic",
    },
    discovery_mode: {
      doc: "'device': one config per device (HA 2024.12+); 'component': one config per entity",
      format: ["device", "component"],
      default: "device" as "device" | "component",
      env: "HA_DISCOVERY_MODE",
      arg: "ha-discovery-mode",
    },
    republish_delay_seconds: {
      doc: "Upper bound of the random delay before republishing after Home Assistant's birth",
      format: "seconds",
      default: 3,
      env: "HA_REPUBLISH_DELAY_SECONDS",
      arg: "ha-republish-delay-seconds",
    },
    entities: {
      doc: `Entity groups announced per container, comma-separated: ${ENTITY_GROUPS.join(", ")}`,
      format: "entity-groups",
      default: ENTITY_GROUPS.join(","),
      env: "HA_ENTITIES",
      arg: "ha-entities",
    },
    stacks: {
      doc: "A device per Compose project, parent of its containers' devices",
      format: "strict-boolean",
      default: true,
      env: "HA_STACKS",
      arg: "ha-stacks",
    },
  },
  host: {
    id: {
      doc: "Id of this Docker host in topics and unique ids. Empty: the engine's name, sanitised",
      format: "host-id",
      default: "",
      env: "DOCKER_HOST_ID",
      arg: "host-id",
    },
  },
  removal: {
    grace_seconds: {
      doc: "How long a removed container's entities stay, so a Compose recreate keeps them",
      format: "seconds",
      default: 60,
      env: "REMOVAL_GRACE_SECONDS",
      arg: "removal-grace-seconds",
    },
  },
  events: {
    healthcheck_exec: {
      doc: "Also publish the exec_* events of healthcheck probes (three per probe)",
      format: "strict-boolean",
      default: false,
      env: "EVENTS_HEALTHCHECK_EXEC",
      arg: "events-healthcheck-exec",
    },
  },
  log: {
    level: {
      doc: "Log level",
      format: LOG_LEVELS as unknown as string[],
      default: "info" as (typeof LOG_LEVELS)[number],
      env: "LOG_LEVEL",
      arg: "log-level",
    },
    format: {
      doc: "'json': one JSON object a line; 'pretty': human-readable; 'auto': pretty when stdout is a terminal",
      format: ["json", "pretty", "auto"],
      default: "auto" as "json" | "pretty" | "auto",
      env: "LOG_FORMAT",
      arg: "log-format",
    },
  },
  http: {
    port: {
      doc: "Port of the HTTP server for /healthz, /readyz and /metrics. 0: no HTTP server",
      format: "port",
      default: 0,
      env: "HTTP_PORT",
      arg: "http-port",
    },
    host: {
      doc: "Address the HTTP server listens on",
      format: String,
      default: "0.0.0.0",
      env: "HTTP_HOST",
      arg: "http-host",
    },
  },
};

type Schema = typeof configSchema;
type Leaf = { default: unknown };
type ValuesOf<S> = {
  readonly [K in keyof S]: S[K] extends Leaf ? S[K]["default"] : ValuesOf<S[K]>;
};

/** The validated configuration; `mqtt.password` already holds the password file's content. */
export type Config = ValuesOf<Schema>;

export interface ConfigSources {
  /** Command-line arguments after the program name. */
  argv?: readonly string[];
  env?: NodeJS.ProcessEnv;
}

interface LeafInfo {
  key: string;
  env: string;
  arg: string;
  sensitive: boolean;
}

/** Every key of the schema with its env variable and flag, in schema order (for --help and docs). */
export function configKeys(): LeafInfo[] {
  const out: LeafInfo[] = [];
  const walk = (node: Record<string, unknown>, prefix: string) => {
    for (const [name, child] of Object.entries(node)) {
      const item = child as Record<string, unknown>;
      if ("default" in item) {
        out.push({
          key: prefix + name,
          env: String(item.env),
          arg: String(item.arg),
          sensitive: item.sensitive === true,
        });
      } else {
        walk(item, `${prefix}${name}.`);
      }
    }
  };
  walk(configSchema, "");
  return out;
}

/** The --config value from argv, else CONFIG_FILE. */
function configFilePath(argv: readonly string[], env: NodeJS.ProcessEnv): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--config") return argv[i + 1];
    if (arg.startsWith("--config=")) return arg.slice("--config=".length);
  }
  return env.CONFIG_FILE || undefined;
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err: unknown) {
    throw new ConfigError(`config file ${path} cannot be read: ${(err as Error).message}`, {
      code: "CONFIG_FILE_UNREADABLE",
      cause: err,
    });
  }
  try {
    const ext = extname(path).toLowerCase();
    const data: unknown = ext === ".json" ? JSON.parse(text) : parseYaml(text);
    if (data === null || data === undefined) return {};
    if (typeof data !== "object" || Array.isArray(data)) throw new Error("top level must be a map");
    return data as Record<string, unknown>;
  } catch (err: unknown) {
    throw new ConfigError(`config file ${path} is not valid: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

function hasPath(obj: Record<string, unknown>, key: string): boolean {
  let node: unknown = obj;
  for (const part of key.split(".")) {
    if (typeof node !== "object" || node === null || !(part in node)) return false;
    node = (node as Record<string, unknown>)[part];
  }
  return true;
}

/** Where a key's value came from, for error messages and --print-config. */
function sourceOf(
  info: LeafInfo | undefined,
  key: string,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  file: { path: string; data: Record<string, unknown> } | undefined,
): string {
  if (info && argv.some((a) => a === `--${info.arg}` || a.startsWith(`--${info.arg}=`))) {
    return `flag --${info.arg}`;
  }
  if (info && env[info.env] !== undefined) return `env ${info.env}`;
  if (file && hasPath(file.data, key)) return `file ${file.path}`;
  return "default";
}

/** Strips user:password from anything that looks like a URL, so no error line leaks a secret. */
export function redactUrl(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s"]*@/gi, "$1***@");
}

export interface LoadedConfig {
  config: Config;
  /** key -> where its value came from ("default", "env X", "flag --x", "file F"). */
  sources: Record<string, string>;
}

/** Loads, validates and freezes the configuration. Throws ConfigError naming each bad key. */
export function loadConfig(sources: ConfigSources = {}): LoadedConfig {
  const argv = sources.argv ?? process.argv.slice(2);
  const env = sources.env ?? process.env;
  const keys = configKeys();
  const byKey = new Map(keys.map((k) => [k.key, k]));
  const filePath = configFilePath(argv, env);
  const file = filePath ? { path: filePath, data: readConfigFile(filePath) } : undefined;

  // convict reads the flags it knows; hide --config and its value from it.
  const convictArgs = argv.filter((a, i) => a !== "--config" && argv[i - 1] !== "--config");
  const cfg = convict(configSchema, {
    env,
    args: convictArgs.filter((a) => !a.startsWith("--config=")),
  });
  const describe = (key: string) => sourceOf(byKey.get(key), key, argv, env, file);
  try {
    if (file) cfg.load(file.data);
    cfg.validate({ allowed: "strict" });
  } catch (err: unknown) {
    const lines = String((err as Error).message)
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((line) => {
        const undeclared = /configuration param '([^']+)' not declared/.exec(line);
        if (undeclared) {
          const where = file ? ` in ${file.path}` : "";
          return `${undeclared[1]}: unknown key${where}`;
        }
        const m = /^([\w.]+): (.*?)(: value was (.*))?$/.exec(line);
        if (!m) return redactUrl(line);
        const key = m[1] ?? "";
        const shown = byKey.get(key)?.sensitive ? "" : m[4] ? ` (got ${redactUrl(m[4])})` : "";
        return `${key}: ${m[2]}${shown}, from ${describe(key)}`;
      });
    throw new ConfigError(`invalid configuration: ${lines.join("; ")}`, { cause: err });
  }

  const values = cfg.getProperties() as unknown as Config;
  let password = values.mqtt.password;
  if (values.mqtt.password_file !== "") {
    try {
      password = readFileSync(values.mqtt.password_file, "utf8").replace(/\r?\n$/, "");
    } catch (err: unknown) {
      throw new ConfigError(
        `mqtt.password_file: ${values.mqtt.password_file} cannot be read: ${(err as Error).message}`,
        { code: "CONFIG_FILE_UNREADABLE", cause: err },
      );
    }
  }
  const config = deepFreeze({ ...values, mqtt: { ...values.mqtt, password } }) as Config;
  const sourceMap: Record<string, string> = {};
  for (const k of keys) sourceMap[k.key] = describe(k.key);
  return { config, sources: sourceMap };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
