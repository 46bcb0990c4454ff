// Documentation generated from the configuration schema, so --help, the README's reference table
// and config/config.example.yaml can never disagree with what the bridge accepts.
import { createRequire } from "node:module";
import type * as Yaml from "yaml";
import { configKeys, configSchema } from "./loader.js";

export interface KeyDoc {
  /** Dotted key, e.g. `mqtt.url`. */
  key: string;
  env: string;
  arg: string;
  doc: string;
  default: unknown;
  /** What values are allowed, in words: `true or false`, `seconds`, `device, component`... */
  allowed: string;
  /** Placeholder for --help: `URL`, `SECONDS`, `true|false`... */
  placeholder: string;
  sensitive: boolean;
}

const FORMATS: Record<string, { allowed: string; placeholder: string }> = {
  "strict-boolean": { allowed: "true or false", placeholder: "true|false" },
  seconds: { allowed: "seconds", placeholder: "SECONDS" },
  port: { allowed: "port, 0 to 65535", placeholder: "PORT" },
  "docker-host": {
    allowed: "unix://, tcp://, http:// or https:// URL, or empty",
    placeholder: "URL",
  },
  "mqtt-url": { allowed: "mqtt://, mqtts://, ws:// or wss:// URL, or empty", placeholder: "URL" },
  "host-id": { allowed: "A-Z a-z 0-9 _ -, or empty", placeholder: "ID" },
  "topic-path": { allowed: "MQTT topic without + or #", placeholder: "TOPIC" },
  "http-url": { allowed: "http:// or https:// URL, or empty", placeholder: "URL" },
  list: { allowed: "list (comma-separated in env and flags)", placeholder: "LIST" },
  "name-patterns": {
    allowed: "list of globs or /regex/ (comma-separated in env and flags)",
    placeholder: "LIST",
  },
  "entity-groups": { allowed: "comma-separated entity groups", placeholder: "LIST" },
  engines: { allowed: "list of {id, host} maps (JSON in env and flags)", placeholder: "JSON" },
};

function describeFormat(leaf: { format?: unknown; min?: number; max?: number }): {
  allowed: string;
  placeholder: string;
} {
  const { format } = leaf;
  if (format === "seconds") {
    return {
      allowed: `seconds, ${leaf.min ?? 0} to ${leaf.max ?? 86_400}`,
      placeholder: "SECONDS",
    };
  }
  if (format === "hours") {
    return { allowed: `hours, ${leaf.min ?? 0} to ${leaf.max ?? 720}`, placeholder: "HOURS" };
  }
  if (Array.isArray(format)) {
    return { allowed: format.map(String).join(", "), placeholder: format.map(String).join("|") };
  }
  if (typeof format === "string")
    return FORMATS[format] ?? { allowed: format, placeholder: "VALUE" };
  if (format === Number) return { allowed: "number", placeholder: "NUMBER" };
  return { allowed: "text", placeholder: "VALUE" };
}

/** Every key of the schema in schema order, with what the docs and --help show. */
export function keyDocs(): KeyDoc[] {
  return configKeys().map((info) => {
    let node: unknown = configSchema;
    for (const part of info.key.split(".")) node = (node as Record<string, unknown>)[part];
    const leaf = node as {
      doc?: string;
      default: unknown;
      format?: unknown;
      min?: number;
      max?: number;
    };
    return {
      ...info,
      doc: leaf.doc ?? "",
      default: leaf.default,
      ...describeFormat(leaf),
    };
  });
}

/** Whether a default is nothing at all: an empty text or an empty list. */
function isEmpty(value: unknown): boolean {
  return value === "" || (Array.isArray(value) && value.length === 0);
}

/** A default as a person reads it: `(empty)` for an empty text and an empty list alike. */
export function showDefault(value: unknown): string {
  if (isEmpty(value)) return "(empty)";
  return typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
}

const cell = (text: string) => text.replace(/\|/g, "\\|");

/** The README's configuration reference: one table row per key. */
export function configReferenceMarkdown(): string {
  const rows = keyDocs().map(
    (k) =>
      `| \`${k.key}\` | \`${k.env}\` | \`--${k.arg}\` | ${cell(isEmpty(k.default) ? "" : `\`${showDefault(k.default)}\``)} | ${cell(k.allowed)} | ${cell(k.doc)} |`,
  );
  return [
    "| key | environment | flag | default | allowed | meaning |",
    "|---|---|---|---|---|---|",
    ...rows,
  ].join("\n");
}

/** config/config.example.yaml: every key with its default and its documentation. */
export function exampleConfigYaml(): string {
  const lines = [
    "# docker-mqtt-bridge configuration: every key, set to its default.",
    "# Generated from the schema (src/config/schema.ts) by `npm run docs`: do not edit by hand.",
    "#",
    "# Use it with `docker-mqtt-bridge --config FILE` (or CONFIG_FILE=FILE). Sources, lowest to",
    "# highest: defaults < this file < environment variables < command-line flags.",
    "# Keep only the keys you change, so that later releases can improve the other defaults.",
  ];
  lines.push(
    ...yamlLines(
      keyDocs().map((k) => ({
        key: k.key,
        value: k.default,
        before: [k.doc, `${k.allowed}; env ${k.env}, flag --${k.arg}`],
      })),
      true,
    ),
  );
  return `${lines.join("\n")}\n`;
}

export interface YamlItem {
  /** Dotted key; its sections are opened as needed (keys of one section must be adjacent). */
  key: string;
  value: unknown;
  /** Comment lines above the key. */
  before?: string[];
  /** Comment after the value, on the same line. */
  after?: string;
}

/** YAML for dotted keys in schema order, with comments. */
export function yamlLines(items: readonly YamlItem[], blankBetweenSections = false): string[] {
  const lines: string[] = [];
  let open: string[] = [];
  for (const item of items) {
    const parts = item.key.split(".");
    const name = parts.pop() ?? "";
    // Open the sections this key needs that the previous key did not.
    let same = 0;
    while (same < parts.length && open[same] === parts[same]) same++;
    for (let depth = same; depth < parts.length; depth++) {
      if (depth === 0 && blankBetweenSections) lines.push("");
      lines.push(`${"  ".repeat(depth)}${parts[depth]}:`);
    }
    open = parts;
    const indent = "  ".repeat(parts.length);
    for (const comment of item.before ?? []) lines.push(`${indent}# ${comment}`);
    const after = item.after ? `  # ${item.after}` : "";
    lines.push(`${indent}${name}: ${inlineYaml(item.value)}${after}`);
  }
  return lines;
}

/**
 * A value on the same line as its key, so a comment can follow it: lists and maps in flow style
 * (`[ container, image ]`), anything that would still span lines as JSON (which YAML reads too).
 */
function inlineYaml(value: unknown): string {
  // Loaded here, not at import: the service reads these docs for its flags but never prints YAML.
  const { stringify } = createRequire(import.meta.url)("yaml") as typeof Yaml;
  const text = stringify(value, { collectionStyle: "flow", lineWidth: 0 }).trimEnd();
  return text.includes("\n") ? JSON.stringify(value) : text;
}

export const CONFIG_START = "<!-- config:start -->";
export const CONFIG_END = "<!-- config:end -->";

/** The README with the text between the config markers replaced by the generated table. */
export function withConfigReference(readme: string): string {
  const start = readme.indexOf(CONFIG_START);
  const end = readme.indexOf(CONFIG_END);
  if (start === -1 || end < start) {
    throw new Error(`README.md has no ${CONFIG_START} ... ${CONFIG_END} markers`);
  }
  return `${readme.slice(0, start + CONFIG_START.length)}\n${configReferenceMarkdown()}\n${readme.slice(end)}`;
}
