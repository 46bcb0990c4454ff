// The README's Home Assistant automations and dashboard card, run against what the bridge really
// publishes. Each automation is parsed from README.md and "run" by a small interpreter for the
// trigger and condition shapes used there: mqtt triggers (topic wildcards, trigger.payload_json),
// state triggers on an entity id (found through the discovered default_entity_id, its state
// rendered from the published payloads by HaView), `to` / `not_from` / `for`, and template
// conditions in the small expression language the README uses. Topics, entity ids and field
// names all come from the README text, so these tests fail when the README drifts from the
// bridge's real output.
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { FakeEngine } from "../helpers/fake-engine.js";
import { HaView, type StateChange, topicMatches } from "../helpers/ha-rules.js";
import { type Harness, startHarness } from "../helpers/harness.js";

const README = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

/** The text of a README section, from its heading to the next heading of the same or higher level. */
function section(heading: string): string {
  const start = README.indexOf(`\n${heading}\n`);
  if (start === -1) throw new Error(`README has no section "${heading}"`);
  const level = heading.split(" ")[0] ?? "###";
  const rest = README.slice(start + heading.length + 2);
  const next = rest.search(new RegExp(`\\n#{1,${level.length}} `));
  return next === -1 ? rest : rest.slice(0, next);
}

function yamlBlocks(text: string): unknown[] {
  return [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parse(m[1] ?? ""));
}

type Json = unknown;
type Obj = Record<string, Json>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

interface Automation {
  alias: string;
  triggers: Obj[];
  conditions?: Obj[];
  actions: Obj[];
}

const AUTOMATIONS: Automation[] = yamlBlocks(section("### Automations")).flatMap(
  (block) => block as Automation[],
);
const DASHBOARD = yamlBlocks(section("### Dashboard"))[0] as { entities: string[] };

// --- the template expressions the README uses -------------------------------------------------

const UNDEFINED = Symbol("undefined");
type Value = Json | typeof UNDEFINED;

const TOKEN =
  /\s*(?:(==|!=|\||\(|\))|'([^']*)'|(-?\d+)|([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*))/y;

function tokenize(expr: string): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < expr.length) {
    if (/^\s*$/.test(expr.slice(TOKEN.lastIndex))) break;
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(expr);
    if (!m) throw new Error(`unsupported template syntax at "${expr.slice(at)}"`);
    tokens.push(m[1] ?? (m[2] !== undefined ? `'${m[2]}` : (m[3] ?? `@${m[4]}`)));
  }
  return tokens;
}

function truthy(v: Value): boolean {
  if (v === UNDEFINED || v === null || v === false || v === 0 || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isObj(v)) return Object.keys(v).length > 0;
  return true;
}

/** Python/Jinja equality: no coercion between strings and numbers; Undefined equals nothing. */
function pyEquals(a: Value, b: Value): boolean {
  if (a === UNDEFINED || b === UNDEFINED) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Jinja's `int(default)` filter. */
function toInt(v: Value, fallback: number): number {
  if (typeof v === "number") return Math.trunc(v);
  if (typeof v === "boolean") return v ? 1 : 0;
  if (typeof v === "string" && /^\s*[-+]?\d+(\.\d*)?\s*$/.test(v)) return Math.trunc(Number(v));
  return fallback;
}

/**
 * Evaluates `a.b.c`, `'text'`, numbers, `x | int(n)`, `==`, `!=`, `and`, `or`, over the given
 * variables; anything else throws, so a README using more of Jinja fails here first.
 */
function evaluate(expr: string, vars: Obj): Value {
  const tokens = tokenize(expr);
  let i = 0;
  const peek = () => tokens[i];
  const take = (expected?: string) => {
    const t = tokens[i++];
    if (t === undefined || (expected !== undefined && t !== expected))
      throw new Error(`expected ${expected ?? "more"} in "${expr}"`);
    return t;
  };
  const primary = (): Value => {
    const t = take();
    if (t.startsWith("'")) return t.slice(1);
    if (/^-?\d+$/.test(t)) return Number(t);
    if (!t.startsWith("@")) throw new Error(`unexpected ${t} in "${expr}"`);
    let v: Value = vars;
    for (const part of t.slice(1).split(".")) v = isObj(v) && part in v ? v[part] : UNDEFINED;
    return v;
  };
  const filtered = (): Value => {
    let v = primary();
    while (peek() === "|") {
      take("|");
      const name = take();
      if (name !== "@int") throw new Error(`unsupported filter ${name} in "${expr}"`);
      take("(");
      const fallback = Number(take());
      take(")");
      v = toInt(v, fallback);
    }
    return v;
  };
  const comparison = (): Value => {
    const left = filtered();
    const op = peek();
    if (op !== "==" && op !== "!=") return left;
    take();
    const equal = pyEquals(left, filtered());
    return op === "==" ? equal : !equal;
  };
  const conjunction = (): Value => {
    let v = comparison();
    while (peek() === "@and") {
      take();
      const right = comparison();
      v = truthy(v) ? right : v;
    }
    return v;
  };
  let v = conjunction();
  while (peek() === "@or") {
    take();
    const right = conjunction();
    v = truthy(v) ? v : right;
  }
  if (i !== tokens.length) throw new Error(`unsupported template syntax in "${expr}"`);
  return v;
}

function pyStr(v: Value): string {
  if (v === UNDEFINED) return "";
  if (v === null) return "None";
  if (v === true) return "True";
  if (v === false) return "False";
  return String(v);
}

/** Renders a template string: each `{{ expr }}` replaced by its value. */
function render(template: string, vars: Obj): string {
  return template.replace(/\{\{([\s\S]*?)\}\}/g, (_, expr: string) => pyStr(evaluate(expr, vars)));
}

// --- the automation interpreter ---------------------------------------------------------------

interface Firing {
  alias: string;
  /** notify: the rendered message. */
  message?: string;
  /** button.press: the entity pressed. */
  press?: string;
  /** For a trigger with `for`: the state still held at the end of the recording. */
  waitingFor?: number;
}

function durationMs(text: unknown): number {
  const m = /^(\d+):(\d\d):(\d\d)$/.exec(String(text));
  if (!m) throw new Error(`unsupported duration ${String(text)}`);
  return ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1000;
}

function only(obj: Obj, keys: string[], what: string): void {
  for (const k of Object.keys(obj))
    if (!keys.includes(k)) throw new Error(`${what}: unsupported key ${k}`);
}

const asList = (v: unknown): string[] =>
  v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)];

/** The trigger variables of every time a trigger fires over the recording. */
function triggerRuns(trigger: Obj, harness: Harness, ha: HaView): { vars: Obj; wait?: number }[] {
  if (trigger.trigger === "mqtt") {
    only(trigger, ["trigger", "topic"], "mqtt trigger");
    const filter = String(trigger.topic);
    return harness.recorder.messages
      .filter((m) => topicMatches(filter, m.topic))
      .map((m) => {
        let payloadJson: Value = UNDEFINED;
        try {
          payloadJson = JSON.parse(m.payload) as Json;
        } catch {}
        return {
          vars: { platform: "mqtt", topic: m.topic, payload: m.payload, payload_json: payloadJson },
        };
      });
  }
  if (trigger.trigger === "state") {
    only(trigger, ["trigger", "entity_id", "to", "not_from", "for"], "state trigger");
    const runs: { vars: Obj; wait?: number }[] = [];
    for (const entityId of asList(trigger.entity_id)) {
      if (!ha.entity(entityId))
        throw new Error(`the README's ${entityId} is not an entity the bridge announces`);
      const changes = ha.changesOf(entityId);
      changes.forEach((change: StateChange, n: number) => {
        if (trigger.to !== undefined && !asList(trigger.to).includes(change.to)) return;
        if (asList(trigger.not_from).includes(change.from)) return;
        const before = changes[n - 1];
        const vars = {
          platform: "state",
          entity_id: entityId,
          from_state: { state: change.from, attributes: before?.attributes ?? {} },
          to_state: { state: change.to, attributes: change.attributes },
        };
        if (trigger.for === undefined) {
          runs.push({ vars });
          return;
        }
        // `for`: fires only if the state holds that long; here, if nothing changed it since.
        if (n === changes.length - 1) runs.push({ vars, wait: durationMs(trigger.for) });
      });
    }
    return runs;
  }
  throw new Error(`unsupported trigger ${JSON.stringify(trigger)}`);
}

function conditionsHold(automation: Automation, vars: Obj): boolean {
  return (automation.conditions ?? []).every((c) => {
    only(c, ["condition", "value_template"], "condition");
    if (c.condition !== "template") throw new Error(`unsupported condition ${String(c.condition)}`);
    return truthy(evaluate(String(c.value_template).replace(/^\s*\{\{|\}\}\s*$/g, ""), vars));
  });
}

/** Every firing of the automation over what the bridge published. */
function run(automation: Automation, harness: Harness): Firing[] {
  const ha = HaView.from(harness.recorder.messages);
  expect(ha.problems).toEqual([]);
  const firings: Firing[] = [];
  for (const trigger of automation.triggers) {
    for (const { vars, wait } of triggerRuns(trigger, harness, ha)) {
      const context = { trigger: vars };
      if (!conditionsHold(automation, context)) continue;
      for (const action of automation.actions) {
        only(action, ["action", "data", "target"], "action");
        const data = isObj(action.data) ? action.data : {};
        const target = isObj(action.target) ? action.target : {};
        const what =
          action.action === "button.press"
            ? { press: String(target.entity_id) }
            : { message: render(String(data.message ?? ""), context) };
        firings.push({
          alias: automation.alias,
          ...what,
          ...(wait === undefined ? {} : { waitingFor: wait }),
        });
      }
    }
  }
  return firings;
}

function automation(alias: string): Automation {
  const found = AUTOMATIONS.find((a) => a.alias === alias);
  if (!found) throw new Error(`README has no automation "${alias}"`);
  return found;
}

/** How many times each README automation fired. */
function counts(harness: Harness): Record<string, number> {
  return Object.fromEntries(AUTOMATIONS.map((a) => [a.alias, run(a, harness).length]));
}

// --- the scenarios ------------------------------------------------------------------------------

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const media = (service: string) => ({
  "com.docker.compose.project": "media",
  "com.docker.compose.service": service,
});

/** The README's host: "nas", jellyfin (healthcheck, project media) and backup. */
async function startNas(
  more: (engine: FakeEngine) => void = () => {},
  env: Record<string, string> = {},
): Promise<Harness> {
  h = await startHarness({
    env: { DOCKER_HOST_ID: "nas", ...env },
    before: (engine) => {
      engine.seed([
        { name: "jellyfin", healthcheck: true, labels: media("jellyfin") },
        { name: "backup", image: "restic/restic:0.16", state: "exited", exitCode: 0 },
      ]);
      more(engine);
    },
  });
  const { recorder: rec, topics } = h;
  await rec.waitForState(topics.containerState("jellyfin"), { health: "healthy" });
  if (h.engine.container("backup"))
    await rec.waitForState(topics.containerState("backup"), { status: "exited" });
  await rec.waitFor("stack state", () => rec.last(topics.stackState("media")) !== undefined);
  await h.engine.waitForEventStream({ count: 1 });
  return h;
}

describe("the README's automations", () => {
  it("are all understood by the interpreter", () => {
    expect(AUTOMATIONS.map((a) => a.alias)).toEqual([
      "Jellyfin unhealthy",
      "A container turned unhealthy",
      "Backup job failed",
      "Backup job failed (event entity)",
      "Restart Jellyfin when unhealthy",
      "Media stack down",
    ]);
    for (const a of AUTOMATIONS) {
      expect(a.triggers.length).toBeGreaterThan(0);
      expect(a.actions.length).toBeGreaterThan(0);
    }
  });

  it("a container turning unhealthy triggers both unhealthy automations, once", async () => {
    const harness = await startNas();
    const { engine, recorder: rec, topics } = harness;
    expect(counts(harness)).toEqual({
      "Jellyfin unhealthy": 0,
      "A container turned unhealthy": 0,
      "Backup job failed": 0,
      "Backup job failed (event entity)": 0,
      "Media stack down": 0,
      "Restart Jellyfin when unhealthy": 0,
    });
    engine.setHealth("jellyfin", "unhealthy", { probe: true });
    await rec.waitForState(topics.containerState("jellyfin"), { health: "unhealthy" });
    expect(run(automation("Jellyfin unhealthy"), harness)).toEqual([
      { alias: "Jellyfin unhealthy", message: "Jellyfin is unhealthy" },
    ]);
    expect(run(automation("A container turned unhealthy"), harness)).toEqual([
      { alias: "A container turned unhealthy", message: "jellyfin is unhealthy" },
    ]);
    // Healthy again: nothing more.
    engine.setHealth("jellyfin", "healthy", { probe: true });
    await rec.waitForState(topics.containerState("jellyfin"), { health: "healthy" });
    await rec.waitFor("the healthy event", () =>
      rec
        .on(topics.event("container", "health_status"))
        .some((m) => m.payload.includes('"detail":"healthy"')),
    );
    expect(counts(harness)).toEqual({
      "Jellyfin unhealthy": 1,
      "A container turned unhealthy": 1,
      "Backup job failed": 0,
      "Backup job failed (event entity)": 0,
      "Media stack down": 0,
      "Restart Jellyfin when unhealthy": 0,
    });
  });

  it("backup dying with exit code 3 triggers both 'Backup job failed' automations; exit 0 neither", async () => {
    const harness = await startNas();
    const { engine, recorder: rec, topics } = harness;
    const dies = () => rec.on(topics.event("container", "die")).length;

    engine.start("backup");
    await rec.waitForState(topics.containerState("backup"), { running: true });
    engine.die("backup", 0);
    await rec.waitForState(topics.containerState("backup"), { status: "exited", exit_code: 0 });
    await rec.waitFor("the first die event", () => dies() === 1);
    expect(run(automation("Backup job failed"), harness)).toEqual([]);
    expect(run(automation("Backup job failed (event entity)"), harness)).toEqual([]);

    engine.start("backup");
    await rec.waitForState(topics.containerState("backup"), { running: true });
    engine.die("backup", 3);
    await rec.waitForState(topics.containerState("backup"), { exit_code: 3 });
    await rec.waitFor("the second die event", () => dies() === 2);
    await rec.waitFor("the event entity's die", () =>
      rec.on(topics.containerEvents("backup")).some((m) => m.payload.includes('"exit_code":3')),
    );
    expect(run(automation("Backup job failed"), harness)).toEqual([
      { alias: "Backup job failed", message: "backup exited with code 3" },
    ]);
    expect(run(automation("Backup job failed (event entity)"), harness)).toEqual([
      { alias: "Backup job failed (event entity)", message: "backup exited with code 3" },
    ]);

    // Another container failing is not the backup job.
    engine.die("jellyfin", 4);
    await rec.waitFor("jellyfin's die", () => dies() === 3);
    await rec.waitForState(topics.stackState("media"), { all_running: false });
    expect(counts(harness)).toEqual({
      "Jellyfin unhealthy": 0,
      "A container turned unhealthy": 0,
      "Backup job failed": 1,
      "Backup job failed (event entity)": 1,
      "Media stack down": 1,
      "Restart Jellyfin when unhealthy": 0,
    });
  });

  it("a backup job run as a fresh container (`docker run --rm`) that fails triggers both 'Backup job failed' automations", async () => {
    const harness = await startNas((engine) =>
      engine.seed([{ name: "jellyfin", healthcheck: true, labels: media("jellyfin") }]),
    );
    const { engine, recorder: rec, topics } = harness;
    engine.run({ name: "backup", image: "restic/restic:0.16" });
    await rec.waitForState(topics.containerState("backup"), { running: true });
    engine.die("backup", 3);
    engine.remove("backup");
    await rec.waitForState(topics.containerState("backup"), { exit_code: 3 });
    await rec.waitFor("the event entity's die", () =>
      rec.on(topics.containerEvents("backup")).some((m) => m.payload.includes('"exit_code":3')),
    );
    expect(run(automation("Backup job failed"), harness)).toEqual([
      { alias: "Backup job failed", message: "backup exited with code 3" },
    ]);
    expect(run(automation("Backup job failed (event entity)"), harness)).toEqual([
      { alias: "Backup job failed (event entity)", message: "backup exited with code 3" },
    ]);
  });

  it("the media stack not fully running turns All running off, and it stays off", async () => {
    const harness = await startNas((engine) =>
      engine.seed([
        { name: "jellyfin", healthcheck: true, labels: media("jellyfin") },
        { name: "sonarr", labels: media("sonarr") },
        { name: "backup", image: "restic/restic:0.16", state: "exited", exitCode: 0 },
      ]),
    );
    const { engine, recorder: rec, topics } = harness;
    const stack = topics.stackState("media");
    await rec.waitForState(stack, { containers: 2, all_running: true });
    expect(run(automation("Media stack down"), harness)).toEqual([]);

    engine.stop("sonarr", { exitCode: 0 });
    await rec.waitForState(stack, { all_running: false });
    // Other things happen meanwhile; All running stays off, so the 5 minutes run on.
    engine.setHealth("jellyfin", "unhealthy");
    engine.setHealth("jellyfin", "healthy");
    engine.start("backup");
    await rec.waitForState(topics.containerState("backup"), { running: true });
    await rec.waitForState(stack, { all_running: false, problem: false });
    const ha = HaView.from(rec.messages);
    expect(ha.state("binary_sensor.media_stack_all_running")).toBe("off");
    expect(run(automation("Media stack down"), harness)).toEqual([
      {
        alias: "Media stack down",
        message: "The media stack has not been fully running for 5 minutes",
        waitingFor: 5 * 60 * 1000,
      },
    ]);

    // Back to all running before the 5 minutes: the automation does not fire.
    engine.start("sonarr");
    await rec.waitForState(stack, { all_running: true });
    expect(run(automation("Media stack down"), harness)).toEqual([]);
  });
});

describe("the README's entities and dashboard", () => {
  it("every entity id of the dashboard card exists, enabled, for a host nas with jellyfin and backup", async () => {
    const harness = await startNas();
    const ha = HaView.from(harness.recorder.messages);
    expect(ha.problems).toEqual([]);
    expect(DASHBOARD.entities.length).toBeGreaterThan(0);
    const missing = DASHBOARD.entities.filter((id) => !ha.entity(id));
    expect(missing, `discovered: ${[...ha.entities.keys()].join(", ")}`).toEqual([]);
    for (const id of DASHBOARD.entities) {
      expect(ha.entity(id)?.config.enabled_by_default ?? true, id).toBe(true);
      expect(["unknown", "unavailable", "absent"], id).not.toContain(ha.state(id));
    }
  });

  it("every entity id and unique id pattern in the README's Entities section is what the bridge announces", async () => {
    const harness = await startNas();
    const ha = HaView.from(harness.recorder.messages);
    const text = section("### Entities");
    const fill = (pattern: string) =>
      pattern.replace("<c>", "jellyfin").replace("<p>", "media").replace("<h>", "nas");
    const patterns = [...text.matchAll(/`((?:binary_sensor|sensor|event)\.<[chp]>_[a-z_]+)`/g)].map(
      (m) => m[1] ?? "",
    );
    expect(patterns.length).toBeGreaterThanOrEqual(12);
    expect(patterns.map(fill).filter((id) => !ha.entity(id))).toEqual([]);

    // The per-container table: kind (platform, device class, diagnostic) and default.
    const rows = [...text.matchAll(/^\| ([^|]+) \| `([^`]+)` \| ([^|]+) \| ([^|]+) \|$/gm)];
    expect(rows).toHaveLength(9);
    for (const [, name, pattern, kind, enabled] of rows) {
      const entity = ha.entity(fill(pattern ?? ""));
      expect(entity?.config.name, pattern).toBe(name?.trim());
      const [platform, deviceClass] = (kind ?? "").split(/[,:]/).map((s) => s.trim());
      expect(entity?.platform, pattern).toBe(platform);
      const dc = /^`(\w+)`/.exec(deviceClass ?? "")?.[1];
      expect(entity?.config.device_class, pattern).toBe(dc);
      expect(entity?.config.entity_category === "diagnostic", pattern).toBe(
        (kind ?? "").includes("diagnostic"),
      );
      expect(entity?.config.enabled_by_default ?? true, pattern).toBe(
        (enabled ?? "").trim().startsWith("enabled"),
      );
    }
    const events = ha.entity("event.jellyfin_events")?.config.event_types as string[];
    const listed = /event: ([a-z, ]+);/.exec(text)?.[1]?.split(", ");
    expect(events).toEqual(listed);

    // Unique ids: dmb_<host>__<name>_<entity>.
    const uniqueId = /Unique ids are `([^`]+)`/.exec(
      section("### Ids, availability and lifecycle"),
    );
    const expected = (uniqueId?.[1] ?? "")
      .replace("<host>", "nas")
      .replace("<name>", "jellyfin")
      .replace("<entity>", "running");
    expect(ha.entity("binary_sensor.jellyfin_running")?.config.unique_id).toBe(expected);
  });

  it("with control on, Jellyfin unhealthy for two minutes presses its Restart button, and the engine restarts it", async () => {
    const harness = await startNas(undefined, {
      CONTROL_ENABLED: "true",
      CONTROL_CONTAINERS: "jellyfin",
    });
    const { engine, recorder: rec, topics } = harness;
    expect(run(automation("Restart Jellyfin when unhealthy"), harness)).toEqual([]);
    engine.setHealth("jellyfin", "unhealthy", { probe: true });
    await rec.waitForState(topics.containerState("jellyfin"), { health: "unhealthy" });
    const firings = run(automation("Restart Jellyfin when unhealthy"), harness);
    expect(firings).toEqual([
      {
        alias: "Restart Jellyfin when unhealthy",
        press: "button.jellyfin_restart",
        waitingFor: 2 * 60 * 1000,
      },
    ]);
    // Two minutes later Home Assistant presses the button the automation names.
    const before = engine.container("jellyfin")?.startedAt;
    const { topic, payload } = HaView.from(rec.messages).command(firings[0]?.press ?? "", "press");
    await rec.publish(topic, payload);
    await rec.waitFor("the answer", () => rec.on(`${topic}/result`).length === 1);
    expect(JSON.parse(rec.on(`${topic}/result`)[0]?.payload ?? "{}")).toMatchObject({
      action: "restart",
      ok: true,
      container: "jellyfin",
    });
    expect(engine.container("jellyfin")?.startedAt).not.toBe(before);
    await rec.waitFor(
      "the restart event",
      () => rec.on(topics.event("container", "restart")).length === 1,
    );
  });
});
