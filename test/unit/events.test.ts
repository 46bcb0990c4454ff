import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseEventLine, sinceParam, splitAction } from "../../src/docker/events.js";
import { EVENT_FIXTURES, eventLines } from "./fixtures.js";

const ALL = eventLines("events-all.raw.jsonl");

/** Line `n` (1-based, as an editor shows it) of events-all.raw.jsonl. */
function allLine(n: number): string {
  const line = ALL[n - 1];
  if (line === undefined) throw new Error(`events-all.raw.jsonl has no line ${n}`);
  return line;
}

describe("splitAction", () => {
  it("splits a health status off its action", () => {
    expect(splitAction("health_status: healthy")).toEqual({
      action: "health_status",
      detail: "healthy",
    });
    expect(splitAction("health_status: unhealthy")).toEqual({
      action: "health_status",
      detail: "unhealthy",
    });
  });

  it("splits on the first ': ' only: the command may hold more", () => {
    expect(splitAction('exec_create: sh -c "a: b"')).toEqual({
      action: "exec_create",
      detail: 'sh -c "a: b"',
    });
    expect(splitAction("exec_start: /bin/sh -c true")).toEqual({
      action: "exec_start",
      detail: "/bin/sh -c true",
    });
  });

  it("leaves an action without detail whole, also one with a colon but no space", () => {
    expect(splitAction("die")).toEqual({ action: "die", detail: "" });
    expect(splitAction("exec_die")).toEqual({ action: "exec_die", detail: "" });
    expect(splitAction("a:b")).toEqual({ action: "a:b", detail: "" });
  });
});

describe("parseEventLine on the Engine 20.10 captures", () => {
  for (const name of EVENT_FIXTURES) {
    it(`parses every line of ${name}, consistently with the raw JSON`, () => {
      const raw = eventLines(name);
      expect(raw.length).toBeGreaterThan(0);
      for (const line of raw) {
        const result = parseEventLine(line);
        if (!result.ok) throw new Error(`${name}: ${result.message}: ${line}`);
        const json = JSON.parse(line) as {
          Type: string;
          Action: string;
          Actor: { ID: string; Attributes?: Record<string, string> };
          time: number;
        };
        const { event } = result;
        expect(event.type).toBe(json.Type);
        expect(event.actorId).toBe(json.Actor.ID);
        expect(event.attributes).toEqual(json.Actor.Attributes ?? {});
        expect(event.detail === "" ? event.action : `${event.action}: ${event.detail}`).toBe(
          json.Action,
        );
        expect(event.time).toBe(json.time);
        // timeNano is exact: its seconds are the event's `time`.
        expect(event.timeNano).toMatch(/^\d{19}$/);
        expect(BigInt(event.timeNano) / 1_000_000_000n).toBe(BigInt(json.time));
      }
    });
  }

  it("keeps timeNano to the nanosecond, which a JSON number cannot hold", () => {
    const result = parseEventLine(allLine(1));
    expect(result).toEqual({
      ok: true,
      event: {
        type: "volume",
        action: "create",
        detail: "",
        actorId: "probe-vol",
        name: "",
        attributes: { driver: "local" },
        time: 1795672514,
        timeNano: "1795672514739121064",
      },
    });
    expect(String(JSON.parse(allLine(1)).timeNano)).not.toBe("1795672514739121064");
  });

  it("reads a health status event", () => {
    expect(parseEventLine(allLine(26))).toEqual({
      ok: true,
      event: {
        type: "container",
        action: "health_status",
        detail: "healthy",
        actorId: "4bf14ca9294b1a5f494d8657e22efd81f1ee49a829cb796c607e5353b29e3da5",
        name: "probe-healthy",
        attributes: {
          app: "probe",
          image: "probe/busybox:1",
          name: "probe-healthy",
          role: "healthy",
        },
        time: 1795672516,
        timeNano: "1795672516064461825",
      },
    });
  });

  it("reads an exec_create event with its command, JSON escapes decoded", () => {
    expect(parseEventLine(allLine(20))).toEqual({
      ok: true,
      event: {
        type: "container",
        action: "exec_create",
        detail: "sh -c echo hi > /data/x",
        actorId: "a1ee12a67fe21bd6b74cf72e0e557f8e2edbc05b42f156a72e056c4649b36c49",
        name: "probe-sleeper",
        attributes: {
          execID: "347dcedb8a164b2f7fcd64a3c46bad9aa4327736404abcc0d98c512b486cc73b",
          image: "probe/busybox:1",
          name: "probe-sleeper",
        },
        time: 1795672515,
        timeNano: "1795672515712624024",
      },
    });
  });

  it("reads a die event with its exit code and a rename with its old name", () => {
    const die = parseEventLine(allLine(13));
    expect(die.ok && die.event).toMatchObject({
      action: "die",
      detail: "",
      name: "probe-exit3",
      attributes: { exitCode: "3" },
      timeNano: "1795672515456470971",
    });
    const rename = parseEventLine(allLine(68));
    expect(rename.ok && rename.event).toMatchObject({
      action: "rename",
      name: "probe-renamed",
      attributes: { oldName: "/probe-sleeper", name: "probe-renamed" },
      timeNano: "1795672521115154503",
    });
  });

  it("takes the name of an image untag as sent: the sha256 id", () => {
    const untag = parseEventLine(allLine(103));
    expect(untag.ok && untag.event).toMatchObject({
      type: "image",
      action: "untag",
      name: "sha256:ecc70b614c3dc4bec38a4c2ecd5a2816a8682765b28c375d56278e6ed1ea0e45",
    });
  });

  it("reads Type and Action, never the legacy status field", () => {
    const line =
      '{"status":"stop","id":"abc","Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{"name":"/web"}},"time":5,"timeNano":5000000007}';
    expect(parseEventLine(line)).toEqual({
      ok: true,
      event: {
        type: "container",
        action: "start",
        detail: "",
        actorId: "abc",
        name: "web",
        attributes: { name: "/web" },
        time: 5,
        timeNano: "5000000007",
      },
    });
  });

  it("derives timeNano from time when the engine sends none", () => {
    const result = parseEventLine(
      '{"Type":"network","Action":"create","Actor":{"ID":"n"},"time":7}',
    );
    expect(result.ok && result.event.timeNano).toBe("7000000000");
  });
});

describe("parseEventLine on garbage", () => {
  const notJson = ["not json", '{"Type":"container","Action":"sta', "", "{", "}{"];
  for (const line of notJson) {
    it(`returns not-json for ${JSON.stringify(line)}`, () => {
      const result = parseEventLine(line);
      expect(result.ok).toBe(false);
      expect(!result.ok && result.reason).toBe("not-json");
    });
  }

  it("returns not-json for a captured line cut short", () => {
    const line = allLine(26);
    const result = parseEventLine(line.slice(0, line.length - 10));
    expect(!result.ok && result.reason).toBe("not-json");
  });

  const wrongShape: Array<[string, string, RegExp]> = [
    [
      "missing Type",
      '{"Action":"start","Actor":{"ID":"x"},"time":1,"timeNano":1000000000}',
      /^Type: /,
    ],
    ["Type a number", '{"Type":5,"Action":"start","Actor":{"ID":"x"},"time":1}', /^Type: /],
    ["an empty Type", '{"Type":"","Action":"start","Actor":{"ID":"x"},"time":1}', /^Type: /],
    ["missing Action", '{"Type":"container","Actor":{"ID":"x"},"time":1}', /^Action: /],
    ["missing time", '{"Type":"container","Action":"start","Actor":{"ID":"x"}}', /^time: /],
    ["a negative time", '{"Type":"container","Action":"start","time":-1}', /^time: /],
    [
      "Actor.ID a number",
      '{"Type":"container","Action":"start","Actor":{"ID":1},"time":1}',
      /^Actor\.ID: /,
    ],
    ["legacy fields only", '{"status":"start","id":"abc","from":"img","time":1}', /^Type: /],
    ["an array", '[{"Type":"container","Action":"start","time":1}]', /^event: /],
    ["null", "null", /^event: /],
    ["a number", "42", /^event: /],
    ["a string", '"container start"', /^event: /],
  ];
  for (const [what, line, message] of wrongShape) {
    it(`returns wrong-shape for JSON with ${what}`, () => {
      const result = parseEventLine(line);
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.reason).toBe("wrong-shape");
      expect(result.message).toMatch(message);
    });
  }

  it("never throws, whatever the line", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary" }), fc.json()), (line) => {
        const result = parseEventLine(line);
        expect(typeof result.ok).toBe("boolean");
      }),
      { numRuns: 200 },
    );
  });

  it("never throws on JSON objects close to an event", () => {
    const value = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
    const event = fc.record(
      {
        Type: value,
        Action: value,
        Actor: fc.oneof(
          value,
          fc.record({ ID: value, Attributes: fc.dictionary(fc.string(), value) }),
        ),
        time: value,
        timeNano: value,
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(event, (e) => {
        const result = parseEventLine(JSON.stringify(e));
        expect(typeof result.ok).toBe("boolean");
      }),
      { numRuns: 200 },
    );
  });
});

describe("sinceParam", () => {
  it("writes a timeNano as <seconds>.<nanoseconds>, exactly", () => {
    expect(sinceParam("1795672514739121064")).toBe("1795672514.739121064");
    expect(sinceParam("1795672515000000001")).toBe("1795672515.000000001");
    expect(sinceParam("1000000000")).toBe("1.000000000");
  });

  it("pads times under a second", () => {
    expect(sinceParam("5")).toBe("0.000000005");
    expect(sinceParam("0")).toBe("0.000000000");
    expect(sinceParam("999999999")).toBe("0.999999999");
  });

  it("resumes exactly after a parsed event", () => {
    const result = parseEventLine(allLine(109));
    expect(result.ok && sinceParam(result.event.timeNano)).toBe("1795672522.796160290");
  });
});
