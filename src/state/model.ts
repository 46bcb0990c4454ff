// The container record: what the bridge knows about one container, keyed by name.
import { z } from "zod/v3";

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

export const containerRecordSchema = z.object({
  name: z.string(),
  id: z.string(),
  image: z.string(),
  status: z.enum(containerStatuses),
  /** True only while the process runs and is not paused. */
  running: z.boolean(),
  /** "none" when the container has no healthcheck. */
  health: z.enum(healthValues),
  exit_code: z.number().int().nullable(),
  oom_killed: z.boolean(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  restart_count: z.number().int(),
  compose_project: z.string().nullable(),
  compose_service: z.string().nullable(),
  labels: z.record(z.string(), z.string()),
  /** The healthcheck command as the engine reports it in exec events, or null. */
  healthcheck: z.string().nullable(),
  /** `HostConfig.RestartPolicy.Name` ("no" for none), or null while only an event or list entry told of it. */
  restart_policy: z.string().nullable(),
});
export type ContainerRecord = z.infer<typeof containerRecordSchema>;
export type ContainerStatus = ContainerRecord["status"];
export type Health = ContainerRecord["health"];

/** The record as published on the state topic: labels and internal fields left out. */
export function publicState(record: ContainerRecord): Record<string, unknown> {
  const { labels: _labels, healthcheck: _healthcheck, restart_policy: _policy, ...rest } = record;
  return rest;
}
