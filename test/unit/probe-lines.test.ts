import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseEventLine } from "../../src/docker/events.js";
import { ProbeLines, stringAfter } from "../../src/docker/probe-lines.js";
import { eventLines } from "./fixtures.js";

const ALL = eventLines("events-all.raw.jsonl");

/** The captured healthchecks: probe-healthy runs `true`, probe-unhealthy `false`. */
const HEALTHCHECKS: Record<string, string> = {
  "probe-healthy": "/bin/sh -c true",
  "probe-unhealthy": "/bin/sh -c false",
};
const lookup = (name: string) => HEALTHCHECKS[name] ?? null;

function linesOf(name: string, action?: string): string[] {
  return ALL.filter((l) => {
    const e = JSON.parse(l);
    return e.Actor.Attributes.name === name && (action === undefined || e.Action === action);
  });
}

/** A raw line rewritten with its keys (top level and attributes) in reverse order. */
function reversed(line: string): string {
  const e = JSON.parse(line.replace(/"timeNano":(\d+)/, '"timeNano":"$1"'));
  const attrs = Object.fromEntries(Object.entries(e.Actor.Attributes).reverse());
  const actor = { Attributes: attrs, ID: e.Actor.ID };
  const out = Object.fromEntries(Object.entries({ ...e, Actor: actor }).reverse());
  return JSON.stringify(out).replace(/"timeNano":"(\d+)"/, '"timeNano":$1');
}

describe("ProbeLines, on the real 20.10 capture", () => {
  it("recognises every exec event of both healthchecks' probes, and nothing else", () => {
    const probes = new ProbeLines(lookup);
    const recognised = ALL.filter((l) => probes.isProbe(l)).map((l) => {
      const e = JSON.parse(l);
      return `${e.Actor.Attributes.name} ${e.Action.split(": ")[0]}`;
    });
    const execs = ALL.filter((l) => /"Action":"exec_/.test(l)).map((l) => JSON.parse(l));
    const probeExecs = execs.filter((e) => e.Actor.Attributes.name in HEALTHCHECKS);
    expect(probeExecs.length).toBeGreaterThanOrEqual(30);
    expect(recognised).toHaveLength(probeExecs.length);
    expect(new Set(recognised)).toEqual(
      new Set(
        ["probe-healthy", "probe-unhealthy"].flatMap((n) =>
          ["exec_create", "exec_start", "exec_die"].map((a) => `${n} ${a}`),
        ),
      ),
    );
  });

  it("never takes a health_status, nor any other event, for a probe", () => {
    const probes = new ProbeLines(lookup);
    const health = ALL.filter((l) => l.includes('"Action":"health_status'));
    expect(health.length).toBeGreaterThan(0);
    for (const line of ALL) {
      const recognised = probes.isProbe(line);
      const event = parseEventLine(line);
      if (!event.ok) throw new Error(event.message);
      if (recognised) {
        // Whatever is skipped is an exec of a container with a healthcheck, never its result.
        expect(event.event.action).toMatch(/^exec_(create|start|die)$/);
        expect(HEALTHCHECKS[event.event.name]).toBeDefined();
      }
    }
    expect(health.some((l) => probes.isProbe(l))).toBe(false);
  });

  it("keeps a user's exec: in a container without a healthcheck, and in one with another command", () => {
    const user = linesOf("probe-sleeper");
    const userExecs = user.filter((l) => l.includes('"Action":"exec_'));
    expect(userExecs).toHaveLength(3);
    // The sleeper has no healthcheck...
    expect(userExecs.some((l) => new ProbeLines(lookup).isProbe(l))).toBe(false);
    // ...nor is its exec a probe when it has one that runs something else.
    const withHealthcheck = new ProbeLines((n) =>
      n === "probe-sleeper" ? "/bin/sh -c true" : null,
    );
    expect(userExecs.some((l) => withHealthcheck.isProbe(l))).toBe(false);
  });

  it("compares the decoded command: Go's `\\u003e` escapes match the healthcheck's `>`", () => {
    const user = linesOf("probe-sleeper").filter((l) => l.includes('"Action":"exec_'));
    expect(user[0]).toContain("\\u003e");
    const probes = new ProbeLines((n) =>
      n === "probe-sleeper" ? "sh -c echo hi > /data/x" : null,
    );
    expect(user.map((l) => probes.isProbe(l))).toEqual([true, true, true]);
  });

  it("does not rely on the order of keys or attributes, nor on the legacy fields", () => {
    const triple = linesOf("probe-healthy").filter((l) => l.includes('"Action":"exec_'));
    const probes = new ProbeLines(lookup);
    expect(triple.slice(0, 3).map((l) => probes.isProbe(reversed(l)))).toEqual([true, true, true]);
    const api152 = readFileSync(
      new URL("../fixtures/docker-engine-api-1.52/events.raw.jsonl", import.meta.url),
      "utf8",
    )
      .split("\n")
      .filter((l) => l.includes('"Action":"exec_'));
    expect(api152[0]).not.toContain('"status"');
    const again = new ProbeLines(lookup);
    const names = api152
      .filter((l) => again.isProbe(l))
      .map((l) => JSON.parse(l).Actor.Attributes.name);
    expect(new Set(names)).toEqual(new Set(["probe-healthy", "probe-unhealthy"]));
  });

  it("leaves an exec_die whose start it never saw to the parser (the publisher asks the engine)", () => {
    const die = linesOf("probe-healthy", "exec_die")[0] ?? "";
    expect(new ProbeLines(lookup).isProbe(die)).toBe(false);
  });

  it("forgets a probe at its exec_die: a replayed exec_die is then parsed", () => {
    const [create, start, die] = linesOf("probe-healthy").filter((l) => l.includes('"exec_'));
    const probes = new ProbeLines(lookup);
    expect([create, start, die].map((l) => probes.isProbe(l ?? ""))).toEqual([true, true, true]);
    expect(probes.isProbe(die ?? "")).toBe(false);
  });
});

describe("ProbeLines, on lines built to mislead", () => {
  const create = linesOf("probe-healthy").find((l) => l.includes("exec_create")) ?? "";

  it("misses (parses) a line with a label named like a key it reads, rather than guess", () => {
    const withLabel = create.replace('"app":"probe"', '"Action":"exec_create: /bin/sh -c true"');
    expect(new ProbeLines(lookup).isProbe(withLabel)).toBe(false);
    // A second `name` ahead of the real one: the first would say a container with this probe.
    const withName = create
      .replace('"name":"probe-healthy"', '"name":"someone-else"')
      .replace('"app":"probe"', '"name":"probe-healthy"');
    expect(new ProbeLines(lookup).isProbe(withName)).toBe(false);
  });

  it("is not fooled by a label value holding the markers' text (its quotes are escaped)", () => {
    const start = linesOf("probe-sleeper").find((l) => l.includes('"Action":"start"')) ?? "";
    const sneaky = start.replace(
      '"image":"',
      `"note":${JSON.stringify('"execID":"abc","Action":"exec_create: /bin/sh -c true"')},"image":"`,
    );
    expect(parseEventLine(sneaky).ok).toBe(true);
    expect(new ProbeLines(() => "/bin/sh -c true").isProbe(sneaky)).toBe(false);
  });
});

describe("stringAfter", () => {
  it("decodes the value, escapes included, and stops at the closing quote only", () => {
    expect(stringAfter('{"a":"x\\\\","b":"y"}', '"a":"')).toBe("x\\");
    expect(stringAfter('{"a":"say \\"hi\\"","b":1}', '"a":"')).toBe('say "hi"');
    expect(stringAfter('{"a":"\\u003e"}', '"a":"')).toBe(">");
    expect(stringAfter('{"a":"cut', '"a":"')).toBeUndefined();
    expect(stringAfter('{"b":"x"}', '"a":"')).toBeUndefined();
  });
});
