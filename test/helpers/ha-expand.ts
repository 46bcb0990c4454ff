// How Home Assistant reads a discovery payload before anything else (mqtt/discovery.py):
// abbreviations expanded (the payload's own keys, `origin`, `device`, each `availability` item,
// and each component of a device payload, `component_only`), a component's `~` base applied to
// its topics, and a device payload's shared options handed to each component that lacks them.
// Its own table, from Home Assistant's mqtt/abbreviations.py, kept apart from the bridge's: a key
// the bridge abbreviates wrongly stays unexpanded here, and the checks in ha-rules.ts fail.

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** mqtt/abbreviations.py ABBREVIATIONS (the entries an entity of these platforms may use). */
const ABBREVIATIONS: Record<string, string> = {
  avty: "availability",
  avty_mode: "availability_mode",
  avty_t: "availability_topic",
  avty_tpl: "availability_template",
  cmd_t: "command_topic",
  cmd_tpl: "command_template",
  cmps: "components",
  def_ent_id: "default_entity_id",
  dev: "device",
  dev_cla: "device_class",
  e: "encoding",
  en: "enabled_by_default",
  ent_cat: "entity_category",
  ent_pic: "entity_picture",
  evt_typ: "event_types",
  exp_aft: "expire_after",
  frc_upd: "force_update",
  ic: "icon",
  json_attr: "json_attributes",
  json_attr_t: "json_attributes_topic",
  json_attr_tpl: "json_attributes_template",
  l_ver_t: "latest_version_topic",
  l_ver_tpl: "latest_version_template",
  lrst_t: "last_reset_topic",
  lrst_val_tpl: "last_reset_value_template",
  migr_discvry: "migrate_discovery",
  name: "name",
  o: "origin",
  obj_id: "object_id",
  off_dly: "off_delay",
  ops: "options",
  opt: "optimistic",
  p: "platform",
  pl: "payload",
  pl_avail: "payload_available",
  pl_inst: "payload_install",
  pl_not_avail: "payload_not_available",
  pl_off: "payload_off",
  pl_on: "payload_on",
  pl_prs: "payload_press",
  rel_s: "release_summary",
  rel_u: "release_url",
  ret: "retain",
  stat_cla: "state_class",
  stat_off: "state_off",
  stat_on: "state_on",
  stat_t: "state_topic",
  stat_tpl: "state_template",
  stat_val_tpl: "state_value_template",
  sug_dsp_prc: "suggested_display_precision",
  dsp_prc: "display_precision",
  t: "topic",
  tit: "title",
  uniq_id: "unique_id",
  unit_of_meas: "unit_of_measurement",
  val_tpl: "value_template",
};

/** DEVICE_ABBREVIATIONS. */
const DEVICE_ABBREVIATIONS: Record<string, string> = {
  cns: "connections",
  cu: "configuration_url",
  ids: "identifiers",
  name: "name",
  mf: "manufacturer",
  mdl: "model",
  mdl_id: "model_id",
  hw: "hw_version",
  sw: "sw_version",
  sa: "suggested_area",
  sn: "serial_number",
};

/** ORIGIN_ABBREVIATIONS. */
const ORIGIN_ABBREVIATIONS: Record<string, string> = {
  name: "name",
  sw: "sw_version",
  url: "support_url",
};

/** mqtt/schemas.py SHARED_OPTIONS. */
export const SHARED_OPTIONS = [
  "availability",
  "availability_mode",
  "availability_template",
  "availability_topic",
  "command_topic",
  "payload_available",
  "payload_not_available",
  "state_topic",
];

/** Options a platform's schema lacks, dropped (REMOVE_EXTRA) when inherited from the device. */
const NOT_IN_SCHEMA: Record<string, string[]> = { button: ["state_topic"] };

/** `_replace_abbreviations`: only the listed keys; an unknown one stays as it is. */
function replace(obj: Json, table: Record<string, string>): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(obj)) out[table[k] ?? k] = v;
  return out;
}

/** `_replace_all_abbreviations`, on a copy. */
function replaceAll(payload: Json, componentOnly: boolean): Json {
  const out = replace(payload, ABBREVIATIONS);
  if (Array.isArray(out.availability))
    out.availability = out.availability.map((i) => (isObject(i) ? replace(i, ABBREVIATIONS) : i));
  if (componentOnly) return out;
  if (isObject(out.origin)) out.origin = replace(out.origin, ORIGIN_ABBREVIATIONS);
  if (isObject(out.device)) out.device = replace(out.device, DEVICE_ABBREVIATIONS);
  if (isObject(out.components))
    out.components = Object.fromEntries(
      Object.entries(out.components).map(([k, c]) => [k, isObject(c) ? replaceAll(c, true) : c]),
    );
  return out;
}

/** `_replace_topic_base`: a component's `~` applied to its `*topic` keys and availability. */
function replaceTopicBase(config: Json): Json {
  if (!("~" in config)) return config;
  const { "~": base, ...out } = config;
  const apply = (v: string) =>
    v.startsWith("~")
      ? `${String(base)}${v.slice(1)}`
      : v.endsWith("~")
        ? `${v.slice(0, -1)}${String(base)}`
        : v;
  for (const [k, v] of Object.entries(out))
    if (typeof v === "string" && v !== "" && k.endsWith("topic")) out[k] = apply(v);
  if (Array.isArray(out.availability))
    out.availability = out.availability.map((i) =>
      isObject(i) && typeof i.topic === "string" ? { ...i, topic: apply(i.topic) } : i,
    );
  return out;
}

/**
 * A discovery payload as Home Assistant reads it, in long keys. For a device payload, each
 * component that announces something (more than its platform) gets the shared options it lacks.
 */
export function expandLikeHa(payload: Json, deviceMode: boolean): Json {
  const out = replaceAll(payload, false);
  if (!deviceMode || !isObject(out.components)) return replaceTopicBase(out);
  const components: Json = {};
  for (const [key, raw] of Object.entries(out.components)) {
    const c = isObject(raw) ? raw : {};
    if (Object.keys(c).length <= 1) {
      components[key] = c;
      continue;
    }
    const merged: Json = { ...c };
    const platform = String(c.platform ?? "");
    for (const option of SHARED_OPTIONS) {
      const dropped = NOT_IN_SCHEMA[platform]?.includes(option) ?? false;
      if (option in out && !(option in merged) && !dropped) merged[option] = out[option];
    }
    components[key] = replaceTopicBase(merged);
  }
  return { ...out, components };
}

/** A retained discovery payload's text as Home Assistant reads it ({} for an empty one). */
export function haPayload(text: string | undefined, topic = ""): Json {
  if (!text) return {};
  const deviceMode = topic === "" || /\/device\/[^/]+(?:\/[^/]+)?\/config$/.test(topic);
  return expandLikeHa(JSON.parse(text) as Json, deviceMode);
}

/** Only the abbreviations expanded (no inheritance): the payload's own structure, in long keys. */
export function expandKeys(payload: Json): Json {
  return replaceAll(payload, false);
}

/**
 * A device payload's components as Home Assistant sets them up (long keys, shared options
 * inherited), from the payload object or its retained text.
 */
export function haComponents(
  payload: Json | string | undefined,
): Record<string, Record<string, unknown>> {
  const obj = typeof payload === "string" ? haPayload(payload) : expandLikeHa(payload ?? {}, true);
  return (isObject(obj.components) ? obj.components : {}) as Record<
    string,
    Record<string, unknown>
  >;
}
