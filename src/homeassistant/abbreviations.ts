// Home Assistant's short discovery keys (mqtt/abbreviations.py), for the keys this bridge sends.
// Discovery goes out abbreviated (a third of the bytes); the start-up cleanup reads retained
// payloads in either form, since earlier versions sent the long keys.

/** Entity and payload options: ABBREVIATIONS in Home Assistant's table. */
const OPTIONS: Readonly<Record<string, string>> = {
  availability: "avty",
  availability_mode: "avty_mode",
  availability_template: "avty_tpl",
  command_topic: "cmd_t",
  components: "cmps",
  default_entity_id: "def_ent_id",
  device: "dev",
  device_class: "dev_cla",
  enabled_by_default: "en",
  entity_category: "ent_cat",
  event_types: "evt_typ",
  expire_after: "exp_aft",
  icon: "ic",
  json_attributes_template: "json_attr_tpl",
  json_attributes_topic: "json_attr_t",
  object_id: "obj_id",
  options: "ops",
  origin: "o",
  payload_available: "pl_avail",
  payload_install: "pl_inst",
  payload_not_available: "pl_not_avail",
  payload_off: "pl_off",
  payload_on: "pl_on",
  payload_press: "pl_prs",
  platform: "p",
  state_class: "stat_cla",
  state_off: "stat_off",
  state_on: "stat_on",
  state_topic: "stat_t",
  topic: "t",
  unique_id: "uniq_id",
  unit_of_measurement: "unit_of_meas",
  value_template: "val_tpl",
};

/** DEVICE_ABBREVIATIONS (`via_device` has none). */
const DEVICE: Readonly<Record<string, string>> = {
  identifiers: "ids",
  manufacturer: "mf",
  model: "mdl",
  suggested_area: "sa",
  sw_version: "sw",
};

/** ORIGIN_ABBREVIATIONS. */
const ORIGIN: Readonly<Record<string, string>> = { sw_version: "sw", support_url: "url" };

const invert = (table: Readonly<Record<string, string>>) =>
  Object.fromEntries(Object.entries(table).map(([long, short]) => [short, long]));
const OPTIONS_LONG = invert(OPTIONS);
const DEVICE_LONG = invert(DEVICE);
const ORIGIN_LONG = invert(ORIGIN);

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function rename(obj: Json, table: Readonly<Record<string, string>>): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(obj)) out[table[k] ?? k] = v;
  return out;
}

/** One level of a payload (an entity, or a device payload's top), with its availability items. */
function level(obj: Json, table: Readonly<Record<string, string>>): Json {
  const out = rename(obj, table);
  for (const key of ["avty", "availability"]) {
    const list = out[key];
    if (Array.isArray(list)) out[key] = list.map((i) => (isObject(i) ? rename(i, table) : i));
  }
  return out;
}

/** Rewrites a whole discovery payload (device or component mode) with one set of tables. */
function convert(
  payload: Json,
  options: typeof OPTIONS,
  device: typeof DEVICE,
  origin: typeof ORIGIN,
): Json {
  const out = level(payload, options);
  for (const [key, table] of [
    ["dev", device],
    ["device", device],
    ["o", origin],
    ["origin", origin],
  ] as const) {
    const v = out[key];
    if (isObject(v)) out[key] = rename(v, table);
  }
  for (const key of ["cmps", "components"]) {
    const cmps = out[key];
    if (!isObject(cmps)) continue;
    out[key] = Object.fromEntries(
      Object.entries(cmps).map(([k, c]) => [k, isObject(c) ? level(c, options) : c]),
    );
  }
  return out;
}

/** The payload as sent: Home Assistant's short keys. */
export function abbreviate(payload: Json): Json {
  return convert(payload, OPTIONS, DEVICE, ORIGIN);
}

/** The long-key form of a payload in either form (what earlier versions sent, what the docs show). */
export function expand(payload: Json): Json {
  return convert(payload, OPTIONS_LONG, DEVICE_LONG, ORIGIN_LONG);
}
