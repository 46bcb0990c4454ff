// The Docker Engine 20.10 captures: from test/fixtures when they were copied into the repo,
// else from the shared folder next to it.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { ContainerRecord } from "../../src/state/model.js";

const CANDIDATES = [
  new URL("../fixtures/docker-engine-20.10/", import.meta.url),
  new URL("../../../shared/fixtures/docker-engine-20.10/", import.meta.url),
];

const found = CANDIDATES.find((dir) => existsSync(fileURLToPath(dir)));

/** The folder holding the captures. */
export function fixturesDir(): string {
  if (!found) {
    throw new Error(
      `Docker Engine 20.10 captures not found in ${CANDIDATES.map((d) => fileURLToPath(d)).join(" or ")}`,
    );
  }
  return fileURLToPath(found);
}

export function fixturePath(name: string): string {
  return `${fixturesDir()}${name}`;
}

export function readFixture(name: string): string {
  return readFileSync(fixturePath(name), "utf8");
}

export function readJsonFixture<T = unknown>(name: string): T {
  return JSON.parse(readFixture(name)) as T;
}

/** The lines of a captured event stream, without the empty one after the final newline. */
export function eventLines(name: string): string[] {
  return readFixture(name)
    .split("\n")
    .filter((line) => line !== "");
}

export const EVENT_FIXTURES = [
  "events-all.raw.jsonl",
  "events-filter-container.raw.jsonl",
  "events-net-restart-oom.raw.jsonl",
  "events-replay-filter-health-die.raw.jsonl",
] as const;

/** A running container's record, as the model holds it, with the fields a test sets. */
export function runningRecord(
  name: string,
  fields: Partial<ContainerRecord> = {},
): ContainerRecord {
  return {
    name,
    id: `${name}-id`,
    image: "nginx",
    status: "running",
    running: true,
    health: "none",
    exit_code: null,
    oom_killed: false,
    started_at: null,
    finished_at: null,
    restart_count: 0,
    compose_project: null,
    compose_service: null,
    labels: {},
    healthcheck: null,
    restart_policy: "no",
    ...fields,
  };
}
