// Value formats of the configuration schema (registered once with convict): each validates, and
// coerces what arrives as text from the environment or a flag.
import convict from "convict";
import { ENTITY_GROUPS, type EntityGroup } from "../homeassistant/entities.js";
import { isCleanId } from "../homeassistant/ids.js";
import { compilePattern } from "../state/filter.js";

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

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

function assertString(value: unknown): asserts value is string {
  if (typeof value !== "string") throw new Error("must be a string");
}

/** A list from text: comma-separated, blanks dropped. */
function listFromText(value: unknown): unknown {
  if (typeof value !== "string") return value;
  return value
    .split(",")
    .map((v) => v.trim())
    .filter((v) => v !== "");
}

function assertStringList(value: unknown): asserts value is string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
    throw new Error("must be a list of strings (comma-separated in the environment)");
  }
}

/** One engine of `engines`: an id and a DOCKER_HOST-style address. */
export interface EngineEntry {
  id: string;
  host: string;
  tls_verify?: boolean;
  cert_path?: string;
}

const DOCKER_HOST_PATTERN = /^(unix|tcp|http|https):\/\/.+/;
const DOCKER_HOST_FORMS =
  "must be unix:///path, tcp://host:port, http://host:port or https://host:port";

/** What is wrong with a DOCKER_HOST-style address, or undefined. */
function dockerHostProblem(value: string): string | undefined {
  if (!DOCKER_HOST_PATTERN.test(value)) return DOCKER_HOST_FORMS;
  if (value.startsWith("unix://")) return undefined;
  let url: URL;
  try {
    url = new URL(value.replace(/^tcp:/, "http:"));
  } catch {
    return DOCKER_HOST_FORMS;
  }
  // The Engine API has no password login: a user and password here would be silently dropped.
  if (url.username !== "" || url.password !== "") {
    return "must not hold a user or password (the Engine API has no password login): use TLS client certificates (tls_verify, cert_path) or a socket proxy";
  }
  return undefined;
}

/** A number within the schema's own `min` and `max` (default 0 and `defaultMax`), in `unit`. */
function rangedNumber(unit: string, defaultMax: number): convict.Format {
  return {
    validate(value: unknown, schema: convict.SchemaObj) {
      const range = schema as { min?: number; max?: number };
      const min = range.min ?? 0;
      const max = range.max ?? defaultMax;
      if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
        throw new Error(`must be ${min} to ${max} ${unit}`);
      }
    },
    coerce(value: unknown) {
      const text = String(value).trim();
      return text !== "" && Number.isFinite(Number(text)) ? Number(text) : value;
    },
  };
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
  // The schema gives each duration its own range (`min`, `max`): 0 would make some loops spin,
  // and more than setTimeout's 24.8 days would fire at once.
  seconds: rangedNumber("seconds", 86_400),
  hours: rangedNumber("hours", 720),
  "docker-host": {
    validate(value: unknown) {
      assertString(value);
      // Empty: the usual sockets are tried at start-up (src/docker/discover.ts).
      if (value === "") return;
      const problem = dockerHostProblem(value);
      if (problem) throw new Error(problem);
    },
  },
  "http-url": {
    validate(value: unknown) {
      assertString(value);
      if (value === "") return;
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        throw new Error("must be an http:// or https:// URL, or empty");
      }
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        throw new Error("must be an http:// or https:// URL, or empty");
      }
      if (url.username !== "" || url.password !== "") {
        throw new Error("must not hold a user or password: give an access token as the API key");
      }
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
  list: {
    validate(value: unknown) {
      assertStringList(value);
    },
    coerce: listFromText,
  },
  "name-patterns": {
    validate(value: unknown) {
      assertStringList(value);
      for (const pattern of value) {
        try {
          compilePattern(pattern);
        } catch (err: unknown) {
          throw new Error(
            `${pattern} is not a valid regular expression: ${(err as Error).message}`,
          );
        }
      }
    },
    coerce: listFromText,
  },
  engines: {
    validate(value: unknown) {
      if (!Array.isArray(value)) throw new Error("must be a list of {id, host} entries");
      const ids = new Set<string>();
      value.forEach((entry: unknown, i) => {
        const e = entry as Partial<EngineEntry> | null;
        if (typeof e !== "object" || e === null) throw new Error(`entry ${i} must be a map`);
        if (typeof e.id !== "string" || !isCleanId(e.id)) {
          throw new Error(
            `entry ${i}: id must be 1 to 64 characters from A-Z a-z 0-9 _ - (no '__')`,
          );
        }
        if (ids.has(e.id)) throw new Error(`entry ${i}: id ${e.id} is used twice`);
        ids.add(e.id);
        const problem = typeof e.host === "string" ? dockerHostProblem(e.host) : DOCKER_HOST_FORMS;
        if (problem) throw new Error(`entry ${i} (${e.id}): host ${problem}`);
        const extra = Object.keys(e).filter(
          (k) => !["id", "host", "tls_verify", "cert_path"].includes(k),
        );
        if (extra.length > 0)
          throw new Error(`entry ${i} (${e.id}): unknown key ${extra.join(", ")}`);
      });
    },
    coerce(value: unknown) {
      if (typeof value !== "string") return value;
      try {
        return JSON.parse(value) as unknown;
      } catch {
        return value;
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
