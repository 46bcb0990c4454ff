// Fake Docker Engine 20.10, HTTP bodies: version comparison, `GET /containers/json` selection,
// /version and /info documents, and Go-like JSON and /_ping responses.
import type { ServerResponse } from "node:http";
import { goJson, matchKvList, parseFilterArgs } from "./fake-engine-events.js";
import { atLeast152, type EngineFixtures } from "./fake-engine-fixtures.js";
import {
  type FakeContainer,
  goTime,
  stateOf,
  toInspect,
  toListEntry,
} from "./fake-engine-model.js";
import type { Answer } from "./fake-engine-timing.js";

export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The version middleware's 400 message for a path version outside [min, max], else null. */
export function checkVersion(version: string, min: string, max: string): string | null {
  if (compareVersions(version, min) < 0) {
    return `client version ${version} is too old. Minimum supported API version is ${min}, please upgrade your client to a newer version`;
  }
  if (compareVersions(version, max) > 0) {
    return `client version ${version} is too new. Maximum supported API version is ${max}`;
  }
  return null;
}

interface FailRule {
  match: string | RegExp;
  status: number;
  remaining: number;
  message: string;
}

/** failNext(): a string matches unversioned paths starting with it, a RegExp path + query. */
export class FailureRules {
  #rules: FailRule[] = [];

  add(match: string | RegExp, status: number, count: number, message: string): void {
    this.#rules.push({ match, status, remaining: count, message });
  }

  take(path: string, search: string): FailRule | undefined {
    const rule = this.#rules.find((f) =>
      typeof f.match === "string" ? path.startsWith(f.match) : f.match.test(path + search),
    );
    if (!rule) return undefined;
    rule.remaining -= 1;
    if (rule.remaining <= 0) this.#rules = this.#rules.filter((f) => f !== rule);
    return rule;
  }
}

/** httputils.BoolValue. */
function boolValue(value: string | null): boolean {
  const s = (value ?? "").trim().toLowerCase();
  return !(s === "" || s === "0" || s === "no" || s === "false" || s === "none");
}

const STATES = new Set([
  "created",
  "running",
  "paused",
  "restarting",
  "removing",
  "exited",
  "dead",
]);

/**
 * Which containers `GET /containers/json` returns (newest first in, newest first out): running
 * ones unless `all`; `filters` status (implies all), label, name and id (regexps, as in moby).
 * Returns an error message for a bad query.
 */
export function listContainers(
  newestFirst: FakeContainer[],
  query: URLSearchParams,
): FakeContainer[] | string {
  let args: ReturnType<typeof parseFilterArgs>;
  try {
    args = parseFilterArgs(query.get("filters"));
  } catch {
    return "invalid filter";
  }
  const statuses = args.get("status") ?? new Set<string>();
  for (const s of statuses) if (!STATES.has(s)) return `invalid filter 'status=${s}'`;
  const all = boolValue(query.get("all")) || statuses.size > 0;
  const regexMatch = (key: string, value: string): boolean => {
    const patterns = args.get(key);
    if (!patterns || patterns.size === 0) return true;
    return [...patterns].some((p) => new RegExp(p).test(value));
  };
  return newestFirst.filter(
    (c) =>
      (all || c.running) &&
      (statuses.size === 0 || statuses.has(stateOf(c))) &&
      matchKvList(args, "label", c.labels) &&
      regexMatch("name", `/${c.name}`) &&
      regexMatch("id", c.id),
  );
}

export function versionBody(
  fixtures: EngineFixtures,
  max: string,
  min: string,
): Record<string, unknown> {
  const v = structuredClone(fixtures.version) as Record<string, unknown> & {
    Components?: Array<{ Details?: Record<string, unknown> }>;
  };
  v.ApiVersion = max;
  v.MinAPIVersion = min;
  const engine = v.Components?.[0]?.Details;
  if (engine) Object.assign(engine, { ApiVersion: max, MinAPIVersion: min });
  return v;
}

export function infoBody(
  fixtures: EngineFixtures,
  containers: FakeContainer[],
  identity: { name: string; id: string },
  nowNs: bigint,
  listeners: number,
): Record<string, unknown> {
  return {
    ...fixtures.info,
    ID: identity.id,
    Containers: containers.length,
    // daemon.setStateCounter: a container in a restart back-off counts as stopped.
    ContainersRunning: containers.filter((c) => c.running && !c.paused && !c.restarting).length,
    ContainersPaused: containers.filter((c) => c.paused).length,
    ContainersStopped: containers.filter((c) => !c.running || c.restarting).length,
    SystemTime: goTime(nowNs),
    NEventsListener: listeners,
    Name: identity.name,
  };
}

/** A JSON answer as httputils.WriteJSON writes it (Go escaping, trailing newline). */
export function writeJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${goJson(body)}\n`;
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(text),
  });
  res.end(res.req.method === "HEAD" ? undefined : text);
}

/** The /_ping answer: `OK` (nothing for HEAD) with 20.10's no-cache headers. */
export function writePing(res: ServerResponse): void {
  const head = res.req.method === "HEAD";
  res.setHeader("Cache-Control", "no-cache, no-store, must-revalidate");
  res.setHeader("Pragma", "no-cache");
  res.writeHead(200, {
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": head ? "0" : "2",
  });
  res.end(head ? undefined : "OK");
}

/** Writes an answer computed earlier (see fake-engine-timing.ts). */
export function writeAnswer(res: ServerResponse, answer: Answer): void {
  if ("ping" in answer) writePing(res);
  else if (answer.body === undefined) res.writeHead(answer.status).end();
  else writeJson(res, answer.status, answer.body);
}

/** What the plain GET endpoints read. */
export interface EngineView {
  fixtures: EngineFixtures;
  identity: { name: string; id: string };
  versions: { max: string; min: string };
  /** Oldest first. */
  containers: FakeContainer[];
  now: bigint;
  /** Open /events streams, for /info. */
  listeners: number;
  /** The API version of the request's path (the engine's own for an unversioned one). */
  requestVersion: string;
}

/** GET /version, /info, /containers/json; 404 for anything else. */
export function plainAnswer(path: string, query: URLSearchParams, view: EngineView): Answer {
  const { fixtures, containers, now } = view;
  if (path === "/version") {
    return { status: 200, body: versionBody(fixtures, view.versions.max, view.versions.min) };
  }
  if (path === "/info") {
    return {
      status: 200,
      body: infoBody(fixtures, containers, view.identity, now, view.listeners),
    };
  }
  if (path !== "/containers/json") return { status: 404, body: { message: "page not found" } };
  const listed = listContainers(containers.toReversed(), query);
  if (typeof listed === "string") return { status: 400, body: { message: listed } };
  // moby drops Health below 1.52 whatever the engine (container_routes.go getContainersJSON).
  const withHealth = atLeast152(view.fixtures.api) && atLeast152(view.requestVersion);
  return { status: 200, body: listed.map((c) => toListEntry(c, now, withHealth)) };
}

/** GET /containers/{id}/json for the container the path named (undefined: gone). */
export function inspectAnswer(
  c: FakeContainer | undefined,
  param: string,
  fixtures: EngineFixtures,
): Answer {
  if (c) return { status: 200, body: toInspect(c, fixtures.inspectTemplate) };
  return { status: 404, body: { message: `No such container: ${param}` } };
}
