// Home Assistant's side of MQTT discovery, for tests: the rules a discovery message must meet to
// be accepted (from PROTOCOLS.md and Home Assistant core: mqtt/discovery.py, mqtt/schemas.py,
// mqtt/sensor.py, the binary_sensor/sensor/event device classes), what each entity would show for
// a state payload (the value templates the bridge uses, evaluated by small JS equivalents). The
// simulated Home Assistant that follows a recording is in ha-view.ts.

import { expandLikeHa } from "./ha-expand.js";

/** Home Assistant's discovery topic regex (after `<prefix>/`), mqtt/discovery.py TOPIC_MATCHER. */
export const HA_DISCOVERY_TOPIC =
  /^(?<component>\w+)\/(?:(?<node>[a-zA-Z0-9_-]+)\/)?(?<object>[a-zA-Z0-9_-]+)\/config$/;

/** homeassistant/core.py VALID_ENTITY_ID: `<domain>.<slug>`, lowercase, no `__`, no edge `_`. */
export const VALID_ENTITY_ID = /^(?!.+__)(?!_)[\da-z_]+(?<!_)\.(?!_)[\da-z_]+(?<!_)$/;

/** binary_sensor BinarySensorDeviceClass. */
export const BINARY_SENSOR_DEVICE_CLASSES = [
  "battery",
  "battery_charging",
  "carbon_monoxide",
  "cold",
  "connectivity",
  "door",
  "garage_door",
  "gas",
  "heat",
  "light",
  "lock",
  "moisture",
  "motion",
  "moving",
  "occupancy",
  "opening",
  "plug",
  "power",
  "presence",
  "problem",
  "running",
  "safety",
  "smoke",
  "sound",
  "tamper",
  "update",
  "vibration",
  "window",
];

/** sensor SensorDeviceClass. */
export const SENSOR_DEVICE_CLASSES = [
  "absolute_humidity",
  "apparent_power",
  "aqi",
  "area",
  "atmospheric_pressure",
  "battery",
  "blood_glucose_concentration",
  "carbon_dioxide",
  "carbon_monoxide",
  "conductivity",
  "current",
  "data_rate",
  "data_size",
  "date",
  "distance",
  "duration",
  "energy",
  "energy_distance",
  "energy_storage",
  "enum",
  "frequency",
  "gas",
  "humidity",
  "illuminance",
  "irradiance",
  "moisture",
  "monetary",
  "nitrogen_dioxide",
  "nitrogen_monoxide",
  "nitrous_oxide",
  "ozone",
  "ph",
  "pm1",
  "pm10",
  "pm25",
  "pm4",
  "power",
  "power_factor",
  "precipitation",
  "precipitation_intensity",
  "pressure",
  "reactive_energy",
  "reactive_power",
  "signal_strength",
  "sound_pressure",
  "speed",
  "sulphur_dioxide",
  "temperature",
  "timestamp",
  "volatile_organic_compounds",
  "volatile_organic_compounds_parts",
  "voltage",
  "volume",
  "volume_flow_rate",
  "volume_storage",
  "water",
  "weight",
  "wind_direction",
  "wind_speed",
];

/** event EventDeviceClass. */
export const EVENT_DEVICE_CLASSES = ["button", "doorbell", "motion"];
export const SENSOR_STATE_CLASSES = [
  "measurement",
  "measurement_angle",
  "total",
  "total_increasing",
];
export const ENTITY_CATEGORIES = ["config", "diagnostic"];
/** The platforms this bridge may announce (all of them are in MQTT's SUPPORTED_COMPONENTS). */
export const PLATFORMS = ["binary_sensor", "sensor", "event", "switch", "button", "update"];
/** button ButtonDeviceClass, switch SwitchDeviceClass. */
export const BUTTON_DEVICE_CLASSES = ["identify", "restart", "update"];
export const SWITCH_DEVICE_CLASSES = ["outlet", "switch"];
/** Platforms that act: command_topic required (mqtt/button.py, mqtt/switch.py). */
const COMMAND_PLATFORMS = ["switch", "button"];
/** One entity as Home Assistant sets it up from a discovery message. */
export interface HaEntity {
  /** The discovery topic it came from. */
  topic: string;
  /** Its key in `components` (device mode), or the topic's object id (component mode). */
  key: string;
  platform: string;
  device: Record<string, unknown>;
  /** The component's options, with the device payload's shared options merged in. */
  config: Record<string, unknown>;
}

/** What one discovery message announces and removes. */
export interface ParsedDiscovery {
  entities: HaEntity[];
  /** Components sent with their platform only: Home Assistant removes them. */
  removed: { key: string; platform: string }[];
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Every key of every object in a JSON value, at any depth. */
export function allKeys(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(allKeys);
  if (isObject(value)) return Object.entries(value).flatMap(([k, v]) => [k, ...allKeys(v)]);
  return [];
}

/**
 * Splits a discovery message into the entities Home Assistant would set up or remove, read as
 * Home Assistant reads it (ha-expand.ts: abbreviations expanded, shared options inherited).
 */
export function parseDiscovery(
  prefix: string,
  topic: string,
  raw: Record<string, unknown>,
): ParsedDiscovery {
  const match = HA_DISCOVERY_TOPIC.exec(topic.slice(prefix.length + 1));
  const component = match?.groups?.component ?? "";
  const payload = expandLikeHa(raw, component === "device");
  const device = isObject(payload.device) ? payload.device : {};
  if (component !== "device") {
    return {
      entities: [
        {
          topic,
          key: match?.groups?.object ?? "",
          platform: component,
          device,
          config: payload,
        },
      ],
      removed: [],
    };
  }
  const parsed: ParsedDiscovery = { entities: [], removed: [] };
  const components = isObject(payload.components) ? payload.components : {};
  for (const [key, c] of Object.entries(components)) {
    const config = isObject(c) ? c : {};
    const platform = String(config.platform ?? "");
    if (Object.keys(config).length === 1) parsed.removed.push({ key, platform });
    else parsed.entities.push({ topic, key, platform, device, config });
  }
  return parsed;
}

/** An ISO 8601 datetime as Home Assistant's dt_util.parse_datetime reads it (DATETIME_RE). */
const HA_DATETIME =
  /^\d{4}-\d{1,2}-\d{1,2}[T ]\d{1,2}:\d{1,2}(?::\d{1,2}(?:\.\d{1,6}\d{0,6})?)?(?<tz>Z|[+-]\d{2}(?::?\d{2})?)?$/;

/** True when a timestamp sensor accepts the text: a datetime with a time zone. */
export function isHaTimestamp(text: string): boolean {
  const m = HA_DATETIME.exec(text);
  return m !== null && m.groups?.tz !== undefined && !Number.isNaN(Date.parse(text));
}

function checkEntity(entity: HaEntity, problems: string[]): void {
  const { platform, config, key } = entity;
  const at = `${entity.topic} [${key}]`;
  const fail = (text: string) => problems.push(`${at}: ${text}`);
  if (!PLATFORMS.includes(platform)) fail(`platform ${platform} is not one this bridge announces`);
  if (typeof config.unique_id !== "string" || config.unique_id === "")
    fail("unique_id is required (device-based discovery requires it of every entity)");
  const entityId = config.default_entity_id;
  if (typeof entityId !== "string") fail("default_entity_id missing");
  else {
    if (!entityId.startsWith(`${platform}.`))
      fail(`default_entity_id ${entityId} must start with its domain ${platform}.`);
    if (!VALID_ENTITY_ID.test(entityId)) fail(`default_entity_id ${entityId} is not a valid id`);
  }
  if (COMMAND_PLATFORMS.includes(platform)) {
    // valid_publish_topic: no wildcards; a button has no state at all.
    if (typeof config.command_topic !== "string" || config.command_topic === "")
      fail("command_topic is required");
    else if (/[#+]/.test(config.command_topic)) fail("command_topic must not hold wildcards");
    if (platform === "button" && "state_topic" in config) fail("a button has no state_topic");
  }
  if (platform === "button") {
    // A button has no state: nothing else to check about topics.
  } else if (platform === "switch" && !("state_topic" in config)) {
    fail(
      "a switch without state_topic is optimistic: it would show what it was told, not the engine",
    );
  } else if (typeof config.state_topic !== "string" || config.state_topic === "")
    fail("state_topic is required");
  else if (/[#+]/.test(config.state_topic)) fail("state_topic must not hold wildcards");
  if ("name" in config && config.name !== null && typeof config.name !== "string")
    fail("name must be a string or null");
  // helpers/config_validation.py `icon`: any text holding a `:`; else the entity is rejected.
  if ("icon" in config && !String(config.icon).includes(":"))
    fail(`icon ${String(config.icon)} is not prefix:name`);
  if ("object_id" in config) {
    // 2024.12-2025.9 read object_id, 2025.10+ default_entity_id: both must name the same entity,
    // and object_id alone is deprecated (warned about from 2025.10, ignored from 2026.4).
    if (typeof entityId !== "string") fail("object_id without default_entity_id is deprecated");
    else if (config.object_id !== entityId.slice(platform.length + 1))
      fail(`object_id ${String(config.object_id)} names another entity than ${entityId}`);
  }
  if ("enabled_by_default" in config && typeof config.enabled_by_default !== "boolean")
    fail("enabled_by_default must be a boolean");
  if ("entity_category" in config) {
    const category = String(config.entity_category);
    if (!ENTITY_CATEGORIES.includes(category)) fail(`entity_category ${category}`);
    // Sensors may only be diagnostic (sensor.mqtt docs: "must be diagnostic for sensors").
    if (platform === "sensor" && category !== "diagnostic")
      fail("a sensor's entity_category must be diagnostic");
  }
  if ("availability" in config) {
    if ("availability_topic" in config)
      fail("availability and availability_topic exclude each other");
    const list = config.availability;
    if (!Array.isArray(list) || list.length === 0) fail("availability must be a non-empty list");
    else
      for (const item of list)
        if (!isObject(item) || typeof item.topic !== "string")
          fail("availability item needs topic");
  }
  if (
    "availability_mode" in config &&
    !["all", "any", "latest"].includes(String(config.availability_mode))
  )
    fail("availability_mode must be all, any or latest");
  if ("qos" in config && ![0, 1, 2].includes(Number(config.qos))) fail("qos must be 0, 1 or 2");
  const deviceClass = config.device_class;
  if (platform === "binary_sensor") {
    if (deviceClass !== undefined && !BINARY_SENSOR_DEVICE_CLASSES.includes(String(deviceClass)))
      fail(`binary_sensor device_class ${String(deviceClass)}`);
  }
  if (platform === "sensor") {
    if (deviceClass !== undefined && !SENSOR_DEVICE_CLASSES.includes(String(deviceClass)))
      fail(`sensor device_class ${String(deviceClass)}`);
    if ("state_class" in config && !SENSOR_STATE_CLASSES.includes(String(config.state_class)))
      fail(`sensor state_class ${String(config.state_class)}`);
    const options = config.options;
    if (options !== undefined) {
      // mqtt/sensor.py validate_sensor_state_and_device_class_config
      if (!Array.isArray(options) || options.length === 0) fail("options must be a non-empty list");
      if (deviceClass !== "enum") fail("options need device_class enum");
      if ("state_class" in config || "unit_of_measurement" in config)
        fail("options exclude state_class and unit_of_measurement");
    }
    if (deviceClass === "enum" && options === undefined) fail("device_class enum needs options");
    if (["enum", "timestamp", "date"].includes(String(deviceClass)) && "state_class" in config)
      fail(`device_class ${String(deviceClass)} takes no state_class`);
  }
  if (platform === "button" && deviceClass !== undefined) {
    if (!BUTTON_DEVICE_CLASSES.includes(String(deviceClass)))
      fail(`button device_class ${String(deviceClass)}`);
  }
  if (platform === "switch" && deviceClass !== undefined) {
    if (!SWITCH_DEVICE_CLASSES.includes(String(deviceClass)))
      fail(`switch device_class ${String(deviceClass)}`);
  }
  if (platform === "switch" && config.optimistic === true)
    fail("an optimistic switch assumes its state");
  if (platform === "update") {
    // mqtt/update.py: command_topic optional (Install offered only with it), payload_install a
    // string, device_class firmware or none.
    if ("command_topic" in config && /[#+]/.test(String(config.command_topic)))
      fail("command_topic must not hold wildcards");
    if ("payload_install" in config && typeof config.payload_install !== "string")
      fail("payload_install must be a string");
    if ("command_topic" in config !== "payload_install" in config)
      fail("command_topic and payload_install go together");
    if (deviceClass !== undefined && deviceClass !== "firmware")
      fail(`update device_class ${String(deviceClass)}`);
  }
  if (platform === "event") {
    const types = config.event_types;
    if (!Array.isArray(types) || types.length === 0 || !types.every((t) => typeof t === "string"))
      fail("event_types (a non-empty list of strings) is required");
    if (deviceClass !== undefined && !EVENT_DEVICE_CLASSES.includes(String(deviceClass)))
      fail(`event device_class ${String(deviceClass)}`);
  }
}

/**
 * Everything Home Assistant would object to in one retained discovery message ([] when it is
 * accepted as is). Empty payloads (removals) are fine by definition.
 */
export function discoveryProblems(prefix: string, topic: string, text: string): string[] {
  const problems: string[] = [];
  if (!topic.startsWith(`${prefix}/`)) return [`${topic}: not below ${prefix}/`];
  const match = HA_DISCOVERY_TOPIC.exec(topic.slice(prefix.length + 1));
  if (!match) problems.push(`${topic}: does not match Home Assistant's discovery topic regex`);
  if (text === "") return problems;
  let parsedText: unknown;
  try {
    parsedText = JSON.parse(text);
  } catch {
    return [...problems, `${topic}: payload is not JSON`];
  }
  if (!isObject(parsedText)) return [...problems, `${topic}: payload is not a JSON object`];
  const payload = expandLikeHa(parsedText, match?.groups?.component === "device");
  const origin = payload.origin;
  if (!isObject(origin) || typeof origin.name !== "string" || origin.name === "")
    problems.push(`${topic}: origin.name is required`);
  const device = payload.device;
  if (!isObject(device)) problems.push(`${topic}: device is required`);
  else {
    const ids = device.identifiers;
    const idList = typeof ids === "string" ? [ids] : Array.isArray(ids) ? ids : [];
    if (idList.length === 0 || !idList.every((i) => typeof i === "string" && i !== ""))
      problems.push(`${topic}: device.identifiers is required`);
    if (typeof device.name !== "string" || device.name === "")
      problems.push(`${topic}: device.name is required`);
    if ("via_device" in device && typeof device.via_device !== "string")
      problems.push(`${topic}: device.via_device must be an identifier`);
  }
  if (match?.groups?.component === "device") {
    if (!isObject(payload.components)) problems.push(`${topic}: components is required`);
    else
      for (const [key, c] of Object.entries(payload.components)) {
        if (!isObject(c) || !PLATFORMS.includes(String(c.platform)))
          problems.push(`${topic} [${key}]: platform is required`);
      }
  }
  if (!match) return problems;
  for (const entity of parseDiscovery(prefix, topic, parsedText).entities)
    checkEntity(entity, problems);
  return problems;
}

// --- which entity id each Home Assistant version gives -------------------------------------------

/** util/__init__.py slugify, for the ASCII-foldable text the bridge sends. */
export function haSlugify(text: string): string {
  const slug = text
    .normalize("NFKD")
    .replace(/\p{M}+/gu, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "");
  return slug || "unknown";
}

function versionNumber(version: string): number {
  const [year = "0", month = "0"] = version.split(".");
  return Number(year) * 100 + Number(month);
}

/**
 * The entity id a Home Assistant version gives a newly discovered entity (no clash, no registry
 * entry yet). Discovery drops unknown keys (DISCOVERY_SCHEMA, extra=REMOVE_EXTRA), so before
 * 2025.10 `default_entity_id` is unseen; `object_id` counts until 2026.4 (core PRs 151775,
 * 151996, 164460); without either, the id is the slug of the device name and the entity name
 * (has_entity_name).
 */
export function entityIdOn(version: string, entity: HaEntity): string {
  const v = versionNumber(version);
  const { config, platform } = entity;
  if (v >= 202510 && typeof config.default_entity_id === "string") return config.default_entity_id;
  if (v < 202604 && typeof config.object_id === "string")
    return `${platform}.${haSlugify(config.object_id)}`;
  const deviceName = typeof entity.device.name === "string" ? entity.device.name : "";
  const name = typeof config.name === "string" ? config.name : "";
  return `${platform}.${haSlugify([deviceName, name].filter(Boolean).join(" "))}`;
}

// --- what Home Assistant renders ---------------------------------------------------------------

type Json = unknown;

/** Jinja's str() of a JSON value, as Python prints it. */
function pyStr(value: Json): string {
  if (value === undefined) return ""; // Jinja's Undefined renders as nothing
  if (value === null) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number" || typeof value === "string") return String(value);
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}

function pyTruthy(value: Json): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (isObject(value)) return Object.keys(value).length > 0;
  return value !== undefined && value !== null && value !== false && value !== 0 && value !== "";
}

/**
 * The value templates the bridge uses, each shape with a JS equivalent of what Jinja renders.
 * An unknown shape fails the test: add it here with its Jinja semantics.
 */
const TEMPLATE_SHAPES: {
  shape: RegExp;
  render: (m: string[], v: Record<string, Json>, payload: string, isJson: boolean) => string;
}[] = [
  {
    // {% if value_json is defined %}...{% else %}None{% endif %}: None for a payload that is not
    // JSON (the empty payload that clears a retained state), the inner template otherwise.
    shape: /^\{% if value_json is defined %\}(.*)\{% else %\}None\{% endif %\}$/,
    render: ([, inner], _v, payload, isJson) =>
      isJson ? renderValueTemplate(String(inner), payload) : "None",
  },
  {
    // {% if value %}...{% else %}None{% endif %}: None for an empty payload, the inner template
    // otherwise (which fails, as in Jinja, if a non-empty payload is not JSON).
    shape: /^\{% if value %\}(.*)\{% else %\}None\{% endif %\}$/,
    render: ([, inner], _v, payload) =>
      payload !== "" ? renderValueTemplate(String(inner), payload) : "None",
  },
  {
    // {{ (expression) if value else None }}: None for an empty payload, else the expression
    // (Jinja evaluates it only then; it fails, as in Jinja, if the payload is not JSON).
    shape: /^\{\{ \((.*)\) if value else None \}\}$/,
    render: ([, inner], _v, payload) =>
      payload !== "" ? renderValueTemplate(`{{ ${String(inner)} }}`, payload) : "None",
  },
  {
    // {{ value if value else '{}' }}: the payload, or an empty object for an empty payload
    shape: /^\{\{ value if value else '\{\}' \}\}$/,
    render: (_m, _v, payload) => payload || "{}",
  },
  {
    // {{ value or '{}' }}: the same, shorter
    shape: /^\{\{ value or '\{\}' \}\}$/,
    render: (_m, _v, payload) => payload || "{}",
  },
  {
    // {{ 'ON' if value_json.running else 'OFF' }}
    shape: /^\{\{ '(\w+)' if value_json\.(\w+) else '(\w+)' \}\}$/,
    render: ([, a, key, b], v) => (pyTruthy(v[key as string]) ? String(a) : String(b)),
  },
  {
    // {{ value_json.status }}
    shape: /^\{\{ value_json\.(\w+) \}\}$/,
    render: ([, key], v) => pyStr(v[key as string]),
  },
  {
    // {{ value_json.started_at or None }}
    shape: /^\{\{ value_json\.(\w+) or None \}\}$/,
    render: ([, key], v) => (pyTruthy(v[key as string]) ? pyStr(v[key as string]) : "None"),
  },
  {
    // {{ value_json.exit_code if value_json.exit_code is not none else None }}
    shape: /^\{\{ value_json\.(\w+) if value_json\.\1 is not none else None \}\}$/,
    render: ([, key], v) => (v[key as string] == null ? "None" : pyStr(v[key as string])),
  },
  {
    // {{ value_json.cpu_percent if value_json.cpu_percent is number else None }} (statistics)
    shape: /^\{\{ value_json\.(\w+) if value_json\.\1 is number else None \}\}$/,
    render: ([, key], v) =>
      typeof v[key as string] === "number" ? pyStr(v[key as string]) : "None",
  },
  {
    // {{ (value_json.memory_bytes / 1048576) | round(2) if value_json.memory_bytes is number else None }}
    shape:
      /^\{\{ \(value_json\.(\w+) \/ (\d+)\) \| round\((\d)\) if value_json\.\1 is number else None \}\}$/,
    render: ([, key, divisor, digits], v) => {
      const x = v[key as string];
      if (typeof x !== "number") return "None";
      // Jinja's round: half away from zero; Python prints floats with a decimal point.
      const f = 10 ** Number(digits);
      const r = Math.round((x / Number(divisor)) * f) / f;
      return Number.isInteger(r) ? `${r}.0` : String(r);
    },
  },
  {
    // {{ 'online' if value_json is defined and value_json.running else 'offline' }} (availability)
    shape: /^\{\{ '(\w+)' if value_json is defined and value_json\.(\w+) else '(\w+)' \}\}$/,
    render: ([, a, key, b], v, _p, isJson) =>
      isJson && pyTruthy(v[key as string]) ? String(a) : String(b),
  },
  {
    // {% if value_json.running and value_json.health == 'unhealthy' %}ON{% elif ... %}OFF{% else %}None{% endif %}
    shape:
      /^\{% if value_json\.(\w+) and value_json\.(\w+) == '(\w+)' %\}(\w+)\{% elif value_json\.\1 and value_json\.\2 == '(\w+)' %\}(\w+)\{% else %\}(\w+)\{% endif %\}$/,
    render: ([, gate, key, v1, out1, v2, out2, other], v) => {
      const open = pyTruthy(v[gate as string]);
      if (open && v[key as string] === v1) return String(out1);
      if (open && v[key as string] === v2) return String(out2);
      return String(other);
    },
  },
];

/** A payload as Home Assistant's templates see it: `value_json` only when it is JSON. */
function valueJson(payload: string): Record<string, Json> | undefined {
  try {
    return JSON.parse(payload) as Record<string, Json>;
  } catch {
    return undefined;
  }
}

/**
 * Renders one of the bridge's value templates against a state payload. Where the payload is not
 * JSON (an empty clear) and the template reads `value_json` unguarded, Home Assistant's template
 * fails ("'value_json' is undefined") and it logs the error: thrown here.
 */
export function renderValueTemplate(template: string, payload: string): string {
  const value = valueJson(payload);
  for (const { shape, render } of TEMPLATE_SHAPES) {
    const m = shape.exec(template);
    if (!m) continue;
    const guarded =
      /value_json is defined|^\{\{ value |^\{% if value %\}|if value else None \}\}$/.test(
        template,
      );
    if (value === undefined && !guarded)
      throw new Error(`'value_json' is undefined rendering ${template} for payload '${payload}'`);
    return render([...m], value ?? {}, payload, value !== undefined);
  }
  throw new Error(`value_template of an unknown shape: ${template}`);
}

/** True when the template is one of the known shapes. */
export function isKnownTemplate(template: string): boolean {
  return TEMPLATE_SHAPES.some(({ shape }) => shape.test(template));
}

/** The state Home Assistant shows for an entity after a message on its state topic. */
export interface RenderedState {
  state: string;
  attributes: Record<string, Json>;
}

/**
 * What Home Assistant does with a state message: binary_sensor (payload_on/off, `None` unknown),
 * sensor (`None` unknown, enum options, timestamps with a time zone, numbers when a state class
 * is set), event (event_type among event_types; the other keys become attributes). Throws where
 * Home Assistant would log a warning and ignore the message.
 */
export function renderState(entity: HaEntity, payload: string, eventTime = ""): RenderedState {
  const { platform, config } = entity;
  if (platform === "event") {
    const data = JSON.parse(payload) as Record<string, Json>;
    const types = config.event_types as string[];
    if (typeof data.event_type !== "string" || !types.includes(data.event_type))
      throw new Error(`event_type ${String(data.event_type)} is not among ${types.join(", ")}`);
    return { state: eventTime, attributes: { ...data } };
  }
  const template = config.value_template;
  const value = typeof template === "string" ? renderValueTemplate(template, payload) : payload;
  let attributes: Record<string, Json> = {};
  if (config.json_attributes_topic === config.state_topic) {
    // mqtt/mixins.py MqttAttributesMixin: the attributes template, then json_loads or a warning.
    const attrTemplate = config.json_attributes_template;
    const text =
      typeof attrTemplate === "string" ? renderValueTemplate(attrTemplate, payload) : payload;
    const parsed = valueJson(text);
    if (parsed === undefined) throw new Error(`Erroneous JSON: '${text}'`);
    attributes = parsed;
  }
  if (platform === "switch") {
    // mqtt/switch.py: state_on/state_off default to payload_on/payload_off; others are ignored.
    const on = String(config.state_on ?? config.payload_on ?? "ON");
    const off = String(config.state_off ?? config.payload_off ?? "OFF");
    if (value === on) return { state: "on", attributes };
    if (value === off) return { state: "off", attributes };
    if (value === "None") return { state: "unknown", attributes };
    throw new Error(`${entity.key}: '${value}' is neither ${on} nor ${off} nor None`);
  }
  if (platform === "binary_sensor") {
    const on = String(config.payload_on ?? "ON");
    const off = String(config.payload_off ?? "OFF");
    if (value === on) return { state: "on", attributes };
    if (value === off) return { state: "off", attributes };
    if (value === "None") return { state: "unknown", attributes };
    throw new Error(`${entity.key}: '${value}' is neither ${on} nor ${off} nor None`);
  }
  if (value === "None") return { state: "unknown", attributes };
  const options = config.options as string[] | undefined;
  if (options && !options.includes(value))
    throw new Error(`${entity.key}: '${value}' is not among the options ${options.join(", ")}`);
  if (config.device_class === "timestamp") {
    if (!isHaTimestamp(value))
      throw new Error(`${entity.key}: '${value}' is no datetime with a time zone`);
    return { state: new Date(value).toISOString(), attributes };
  }
  if (config.state_class !== undefined || config.unit_of_measurement !== undefined) {
    if (value.trim() === "" || Number.isNaN(Number(value)))
      throw new Error(`${entity.key}: '${value}' is not numeric`);
  }
  if (value.length > 255) throw new Error(`${entity.key}: state longer than 255 characters`);
  return { state: value, attributes };
}

// The simulated Home Assistant lives in ha-view.ts; re-exported for existing imports.
export { type HaDevice, HaView, type StateChange, topicMatches } from "./ha-view.js";
