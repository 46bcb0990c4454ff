// The container record: what the bridge knows about one container, keyed by name.

export const containerStatuses = [
  "created",
  "running",
  "paused",
  "restarting",
  "removing",
  "exited",
  "dead",
] as const;

export const healthValues = ["healthy", "unhealthy", "starting", "none"] as const;

export type ContainerStatus = (typeof containerStatuses)[number];
export type Health = (typeof healthValues)[number];

/**
 * One container as the bridge knows it. The library's `containerRecordSchema`
 * (src/lib/record-schema.ts) validates the same shape; a compile-time check keeps the two equal.
 * Plain types here: the service needs no schema for its own records.
 */
export interface ContainerRecord {
  name: string;
  id: string;
  image: string;
  status: ContainerStatus;
  /** True only while the process runs and is not paused. */
  running: boolean;
  /** "none" when the container has no healthcheck. */
  health: Health;
  exit_code: number | null;
  oom_killed: boolean;
  started_at: string | null;
  finished_at: string | null;
  restart_count: number;
  compose_project: string | null;
  compose_service: string | null;
  labels: Record<string, string>;
  /** The healthcheck command as the engine reports it in exec events, or null. */
  healthcheck: string | null;
  /** `HostConfig.RestartPolicy.Name` ("no" for none), or null while only an event or list entry told of it. */
  restart_policy: string | null;
}

/** The record as published on the state topic: labels and internal fields left out. */
export function publicState(record: ContainerRecord): Record<string, unknown> {
  const { labels: _labels, healthcheck: _healthcheck, restart_policy: _policy, ...rest } = record;
  return rest;
}
