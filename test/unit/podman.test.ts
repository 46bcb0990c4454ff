// Podman 4.3 through its Docker-compatible API, as the reducer and the engine identity see it.
// Every event here is a line of the real capture, test/fixtures/podman-4.3/events.raw.jsonl (line
// numbers in the names below); the /info shapes are the sample in that folder's NOTES.md.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { withStableId } from "../../src/docker/engine-identity.js";
import { type EngineEvent, parseEventLine } from "../../src/docker/events.js";
import { infoSchema } from "../../src/docker/schemas.js";
import type { ContainerRecord } from "../../src/state/model.js";
import {
  applyEvent,
  changesState,
  commitChanges,
  MODEL_ACTIONS,
  recordFromEvent,
} from "../../src/state/reducer.js";

const LINES = readFileSync(
  new URL("../fixtures/podman-4.3/events.raw.jsonl", import.meta.url),
  "utf8",
)
  .split("\n")
  .filter((l) => l !== "");

/** Line `n` (1-based) of the capture, parsed. */
function line(n: number): EngineEvent {
  const result = parseEventLine(LINES[n - 1] ?? "");
  if (!result.ok) throw new Error(`line ${n}: ${result.message}`);
  return result.event;
}

/** The model after applying lines `from`..`to` of the capture, in order. */
function modelAfter(to: number, from = 1): Map<string, ContainerRecord> {
  const model = new Map<string, ContainerRecord>();
  for (let n = from; n <= to; n++) commitChanges(model, applyEvent(model, line(n)).changes);
  return model;
}

describe("Podman 4.3 events", () => {
  it("every captured line parses", () => {
    expect(LINES).toHaveLength(50);
    for (let n = 1; n <= LINES.length; n++)
      expect(parseEventLine(LINES[n - 1] ?? "").ok).toBe(true);
  });

  it("containerExitCode and podId (on every Podman container event) are not labels", () => {
    // line 3: create pd-web; line 35: create pd-stack-db-1 with two Compose labels.
    expect(recordFromEvent(line(3)).labels).toEqual({});
    expect(recordFromEvent(line(35)).labels).toEqual({
      "com.docker.compose.project": "pdstack",
      "com.docker.compose.service": "db",
    });
  });

  it("`remove` (Podman's destroy, line 50) removes the container", () => {
    const model = modelAfter(16);
    expect(model.has("pd-exit3")).toBe(true);
    const { changes } = applyEvent(model, line(50));
    expect(changes).toEqual([
      { kind: "removed", name: "pd-exit3", id: line(50).actorId, reason: "destroy" },
    ]);
    expect(MODEL_ACTIONS).toContain("remove");
    expect(changesState(line(50))).toBe(true);
  });

  it("`rename` without oldName (line 49) moves the container from its old name", () => {
    const model = modelAfter(30);
    expect(model.get("pd-old")?.id).toBe(line(49).actorId);
    const { changes } = applyEvent(model, line(49));
    expect(changes.map((c) => (c.kind === "upsert" ? `+${c.record.name}` : `-${c.name}`))).toEqual([
      "-pd-old",
      "+pd-new",
    ]);
    expect(changes[0]).toMatchObject({ reason: "rename" });
  });

  it("health_status (no `: status`, a HealthStatus one probe late) asks the engine, sets nothing", () => {
    const model = modelAfter(9);
    const before = model.get("pd-health");
    // line 47: the probe failed, yet HealthStatus says healthy; line 48: the reverse.
    for (const n of [38, 47, 48]) {
      const reduction = applyEvent(model, line(n));
      expect(reduction.changes).toEqual([]);
      expect(reduction.inspect).toEqual({ id: before?.id, name: "pd-health", need: "refine" });
    }
  });

  it("init, cleanup, exec, exec_died and attach change nothing of a known container", () => {
    const model = modelAfter(16);
    for (const n of [12, 14, 16, 39, 46]) {
      expect(applyEvent(model, line(n))).toEqual({ changes: [] });
      expect(changesState(line(n))).toBe(false);
    }
  });

  it("stop, die (+exitCode), cleanup, cleanup (lines 40-43) leave pd-web exited with 137", () => {
    const model = modelAfter(43);
    expect(model.get("pd-web")).toMatchObject({ status: "exited", running: false, exit_code: 137 });
  });
});

describe("engine identity", () => {
  const podmanInfo = (id: string) =>
    infoSchema.parse({
      ID: id,
      Name: "vm",
      ServerVersion: "4.3.1",
      BuildahVersion: "1.28.2",
      DockerRootDir: "/tmp/podman/root",
    });

  it("Podman's /info ID, new at every service start (NOTES.md), gives one stable id", () => {
    const before = withStableId(podmanInfo("e07db134-a63a-42f1-9c32-2d967a10beb2"));
    const after = withStableId(podmanInfo("fbf34833-a7c7-4394-85c8-0b3c67cd922d"));
    expect(before.ID).toMatch(/^podman-[0-9a-f]{32}$/);
    expect(after.ID).toBe(before.ID);
    // Another storage root (rootless Podman of a user, on the same host) is another engine.
    const rootless = withStableId({ ...podmanInfo("x"), DockerRootDir: "/home/u/.local/share" });
    expect(rootless.ID).not.toBe(before.ID);
  });

  it("Docker's /info is left as it is", () => {
    const docker = infoSchema.parse({ ID: "ABCD:EFGH", Name: "vm", ServerVersion: "20.10.24" });
    expect(withStableId(docker)).toBe(docker);
  });
});
