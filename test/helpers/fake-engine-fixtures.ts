// Fake Docker Engine 20.10, captured data: loads the real engine's answers from
// test/fixtures/docker-engine-20.10/ (or a newer API's, docker-engine-api-<version>/) and turns the captured container snapshot into model records.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import {
  type FakeContainer,
  goTime,
  type HealthcheckConfig,
  type HealthLogEntry,
  type HealthStatus,
  newContainer,
  parseGoTime,
} from "./fake-engine-model.js";

/** Absolute path of the copied 20.10 captures (with a trailing slash). */
export const FIXTURE_DIR = fileURLToPath(
  new URL("../fixtures/docker-engine-20.10/", import.meta.url),
);

/** The newer API shapes, written from moby's source (see each folder's SOURCE.md). */
export const API_PROFILES = ["1.44", "1.47", "1.52"] as const;
export type ApiProfile = (typeof API_PROFILES)[number];

/** Whether an API version (a profile's, a request's) is API 1.52 or later (no legacy event fields, Health in the list). */
export function atLeast152(api: string | undefined): boolean {
  return api !== undefined && Number(api.split(".")[1]) >= 52;
}

export function profileDir(api: ApiProfile): string {
  return fileURLToPath(new URL(`../fixtures/docker-engine-api-${api}/`, import.meta.url));
}

/** When the captured list was taken: `docker ps` then said "Up 4 seconds". */
const CAPTURE_LIST_TIME = parseGoTime("2026-11-26T05:55:19.5Z");

type Json = Record<string, unknown>;

export interface EngineFixtures {
  version: Json;
  info: Json;
  list: Json[];
  inspects: Json[];
  /** The inspect document the fake fills in for containers it makes up. */
  inspectTemplate: Json;
  /** The API profile these fixtures are of; undefined: the 20.10 captures (API 1.41). */
  api?: ApiProfile;
}

export async function loadEngineFixtures(api?: ApiProfile): Promise<EngineFixtures> {
  const dir = api === undefined ? FIXTURE_DIR : profileDir(api);
  const readJson = async (name: string): Promise<unknown> =>
    JSON.parse(await readFile(`${dir}${name}`, "utf8"));
  const [version, info, list, exit3, healthy, unhealthy] = await Promise.all(
    [
      "api-version.json",
      "api-info.json",
      "api-containers-all.json",
      "api-inspect-probe-exit3.json",
      "api-inspect-probe-healthy.json",
      "api-inspect-probe-unhealthy.json",
    ].map(readJson),
  );
  return {
    version: version as Json,
    info: info as Json,
    list: list as Json[],
    inspects: [exit3, healthy, unhealthy] as Json[],
    inspectTemplate: healthy as Json,
    ...(api === undefined ? {} : { api }),
  };
}

/** Reads a capture (or any file, given an absolute path) as text. */
export function readFixtureText(file: string): Promise<string> {
  return readFile(file.startsWith("/") ? file : `${FIXTURE_DIR}${file}`, "utf8");
}

interface InspectLike {
  Id: string;
  Created: string;
  Path: string;
  Args: string[];
  RestartCount: number;
  State: {
    Pid: number;
    ExitCode: number;
    OOMKilled: boolean;
    StartedAt: string;
    FinishedAt: string;
    Health?: { Status: HealthStatus; FailingStreak: number; Log: HealthLogEntry[] | null };
  };
  Config: { Healthcheck?: HealthcheckConfig; Labels: Record<string, string> | null };
  HostConfig: { RestartPolicy: { Name: string; MaximumRetryCount: number } };
}

interface ListLike {
  Id: string;
  Names: string[];
  Image: string;
  Command: string;
  Created: number;
  Labels: Record<string, string>;
  State: "running" | "exited";
  Status: string;
  HostConfig: { NetworkMode: string };
  NetworkSettings: { Networks: Record<string, { EndpointID: string }> };
  Mounts: Array<{ Type: string; Name: string; Destination: string }>;
}

/**
 * The captured four containers (probe-sleeper, probe-exit3, probe-unhealthy, probe-healthy) as
 * model records, oldest first. With `rebase`, every timestamp is shifted so that "now" is the
 * moment of the capture (the list then reads "Up 4 seconds", "Exited (3) 4 seconds ago").
 */
export function fixtureContainers(
  fixtures: EngineFixtures,
  nowNs: bigint,
  rebase: boolean,
): FakeContainer[] {
  const shift = rebase ? nowNs - CAPTURE_LIST_TIME : 0n;
  const move = (t: bigint): bigint => (t === 0n ? 0n : t + shift);
  const moveText = (t: string): string => goTime(move(parseGoTime(t)));
  return (fixtures.list as unknown as ListLike[]).toReversed().map((entry) => {
    const inspect = (fixtures.inspects as unknown as InspectLike[]).find((i) => i.Id === entry.Id);
    const created = inspect ? parseGoTime(inspect.Created) : BigInt(entry.Created) * 1_000_000_000n;
    const health = inspect?.State.Health;
    const c = newContainer(
      {
        id: entry.Id,
        name: entry.Names[0] ?? entry.Id,
        image: entry.Image,
        labels: entry.Labels,
        healthcheck: inspect?.Config.Healthcheck ?? false,
        cmd: inspect ? [inspect.Path, ...inspect.Args] : entry.Command.split(" "),
        network: entry.HostConfig.NetworkMode,
        volumes: entry.Mounts.filter((m) => m.Type === "volume").map((m) => ({
          name: m.Name,
          destination: m.Destination,
        })),
        restartPolicy: inspect?.HostConfig.RestartPolicy ?? { Name: "no", MaximumRetryCount: 0 },
        state: entry.State,
        exitCode: inspect?.State.ExitCode ?? 0,
        oomKilled: inspect?.State.OOMKilled ?? false,
        restartCount: inspect?.RestartCount ?? 0,
      },
      nowNs,
    );
    c.created = move(created);
    c.startedAt = move(inspect ? parseGoTime(inspect.State.StartedAt) : created);
    c.finishedAt = move(inspect ? parseGoTime(inspect.State.FinishedAt) : 0n);
    c.pid = inspect?.State.Pid ?? c.pid;
    c.endpointId = entry.NetworkSettings.Networks[c.network]?.EndpointID || c.endpointId;
    if (health) {
      c.health = {
        status: health.Status,
        failingStreak: health.FailingStreak,
        log:
          health.Log?.map((l) => ({ ...l, Start: moveText(l.Start), End: moveText(l.End) })) ??
          null,
      };
    }
    if (inspect) c.inspectTemplate = inspect as unknown as Record<string, unknown>;
    return c;
  });
}
