// Configuration: one convict schema is the single source of truth for keys, defaults, environment
// variables, flags and the Config type. Sources, lowest to highest: defaults < config file < env < flags.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { extname } from "node:path";
import convict from "convict";
import type * as Yaml from "yaml";
import "./formats.js";
import { ConfigError } from "../errors.js";
import { type Config, configSchema } from "./schema.js";

/** The YAML parser, loaded only for a YAML file: most runs are configured by the environment. */
function parseYaml(text: string): unknown {
  const yaml = createRequire(import.meta.url)("yaml") as typeof Yaml;
  return yaml.parse(text);
}

export { parseEntityGroups } from "./formats.js";
export { type Config, configSchema } from "./schema.js";

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
  // Up to the last `@` of the address: a password may itself hold `@` or `/`.
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s"]*@/gi, "$1***@");
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
        // convict leaves out falsy values (0, "", false): show those too.
        const got = m[4] ?? (byKey.has(key) ? JSON.stringify(cfg.get(key as never)) : undefined);
        const shown =
          byKey.get(key)?.sensitive || got === undefined ? "" : ` (got ${redactUrl(got)})`;
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
  if (password !== "" && config.mqtt.username === "" && !urlHasUser(config.mqtt.url)) {
    // MQTT sends no password without a user name: the broker would only say "not authorized".
    const from =
      config.mqtt.password_file !== ""
        ? `mqtt.password_file, from ${sourceMap["mqtt.password_file"]}`
        : `from ${sourceMap["mqtt.password"]}`;
    throw new ConfigError(
      `invalid configuration: mqtt.password is set (${from}) but mqtt.username is empty: set MQTT_USERNAME too, or drop the password`,
    );
  }
  return { config, sources: sourceMap };
}

/** Whether an MQTT URL carries its own user name (mqtt://user:password@host). */
function urlHasUser(url: string): boolean {
  try {
    return url !== "" && new URL(url).username !== "";
  } catch {
    return false;
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
