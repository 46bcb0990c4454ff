// Docker Engine APIs after 1.41: the fixtures of API 1.44 (Docker 25), 1.47 (Docker 27) and 1.52
// (Docker 29), written from moby's source (test/fixtures/docker-engine-api-*/SOURCE.md), give the
// reducer, the records and the discovery exactly what the real 20.10 captures of the same run give.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { type EngineEvent, parseEventLine } from "../../src/docker/events.js";
import {
  containerInspectSchema,
  containerListSchema,
  infoSchema,
  versionSchema,
} from "../../src/docker/schemas.js";
import { containerDiscovery, type DiscoveryContext } from "../../src/homeassistant/discovery.js";
import { Topics } from "../../src/homeassistant/topics.js";
import type { ContainerRecord } from "../../src/state/model.js";
import {
  applyEvent,
  commitChanges,
  recordFromEvent,
  recordFromInspect,
  recordFromSummary,
} from "../../src/state/reducer.js";

const PROFILES = ["1.44", "1.47", "1.52"] as const;
const dir = (api: string) => new URL(`../fixtures/docker-engine-api-${api}/`, import.meta.url);
const read = (api: string, file: string) => readFileSync(new URL(file, dir(api)), "utf8");
const json = (api: string, file: string): unknown => JSON.parse(read(api, file));
const BASE = "20.10";
const eventsFile = (api: string) => (api === BASE ? "events-all.raw.jsonl" : "events.raw.jsonl");
const folder = (api: string) => (api === BASE ? "docker-engine-20.10" : `docker-engine-api-${api}`);

function events(api: string): EngineEvent[] {
  const text = readFileSync(
    new URL(`../fixtures/${folder(api)}/${eventsFile(api)}`, import.meta.url),
    "utf8",
  );
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((line) => {
      const parsed = parseEventLine(line);
      if (!parsed.ok) throw new Error(`${api}: ${parsed.message}: ${line}`);
      return parsed.event;
    });
}

/** The model after the whole run, and every change on the way (without times, which are equal). */
function replay(api: string) {
  const model = new Map<string, ContainerRecord>();
  const log: string[] = [];
  for (const event of events(api)) {
    const reduction = applyEvent(model, event);
    commitChanges(model, reduction.changes);
    for (const c of reduction.changes)
      log.push(`${c.kind} ${c.kind === "upsert" ? c.record.name : c.name}`);
    if (reduction.inspect) log.push(`inspect ${reduction.inspect.name} ${reduction.inspect.need}`);
  }
  return { model, log };
}

function inspectRecord(api: string, name: string): ContainerRecord | null {
  const file = `../fixtures/${folder(api)}/api-inspect-probe-${name}.json`;
  return recordFromInspect(
    containerInspectSchema.parse(JSON.parse(readFileSync(new URL(file, import.meta.url), "utf8"))),
  );
}

function listRecords(api: string): (ContainerRecord | null)[] {
  const file = `../fixtures/${folder(api)}/api-containers-all.json`;
  const list = containerListSchema.parse(
    JSON.parse(readFileSync(new URL(file, import.meta.url), "utf8")),
  );
  return list.map(recordFromSummary);
}

const ctx = {
  topics: new Topics({ baseTopic: "docker", hostId: "nas", discoveryPrefix: "homeassistant" }),
  mode: "device",
  version: "1.2.3",
} as DiscoveryContext;

describe.each(PROFILES)("API %s fixtures", (api) => {
  it("are what SOURCE.md says: legacy event fields only below 1.52, list Health from 1.52", () => {
    const raw = read(api, "events.raw.jsonl")
      .split("\n")
      .filter((l) => l !== "");
    expect(raw).toHaveLength(109);
    const legacy = raw.filter((l) => /"(status|id|from)":/.test(l)).length;
    const list = json(api, "api-containers-all.json") as Array<Record<string, unknown>>;
    if (api === "1.52") {
      expect(legacy).toBe(0);
      expect(list.map((c) => (c.Health as { Status: string }).Status)).toEqual([
        "none",
        "none",
        "unhealthy",
        "healthy",
      ]);
    } else {
      expect(legacy).toBeGreaterThan(50);
      expect(list.every((c) => !("Health" in c))).toBe(true);
    }
    expect(versionSchema.parse(json(api, "api-version.json")).ApiVersion).toBe(api);
    expect(infoSchema.parse(json(api, "api-info.json")).Name).toBe("vm");
  });

  it("the reducer ends in the same model, by the same steps, as with the 20.10 capture", () => {
    const base = replay(BASE);
    const now = replay(api);
    expect(now.log).toEqual(base.log);
    expect([...now.model.values()]).toEqual([...base.model.values()]);
    expect(now.log.length).toBeGreaterThan(20);
  });

  it("records from inspect and from the list are those of 20.10", () => {
    for (const name of ["healthy", "unhealthy", "exit3"]) {
      expect(inspectRecord(api, name)).toEqual(inspectRecord(BASE, name));
    }
    expect(listRecords(api)).toEqual(listRecords(BASE));
  });

  it("discovery is that of 20.10", () => {
    for (const name of ["healthy", "unhealthy", "exit3"]) {
      const record = inspectRecord(api, name);
      const base = inspectRecord(BASE, name);
      if (!record || !base) throw new Error(`no record for ${name}`);
      expect(containerDiscovery(ctx, record)).toEqual(containerDiscovery(ctx, base));
    }
  });

  it("die's execDuration (Docker 23 and later) is no label", () => {
    const die = events(api).find((e) => e.action === "die");
    expect(die?.attributes.execDuration).toBe("0");
    expect(die && recordFromEvent(die).labels).toEqual({});
  });
});
