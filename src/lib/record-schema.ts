// The container record as a zod schema, for library users who validate records they receive (from
// the state topic, or from their own storage). The service itself keeps plain types
// (src/state/model.ts) and does not load this; the check at the end keeps both the same shape.
import { z } from "zod";
import { type ContainerRecord, containerStatuses, healthValues } from "../state/model.js";

export const containerRecordSchema = z.object({
  name: z.string(),
  id: z.string(),
  image: z.string(),
  status: z.enum(containerStatuses),
  running: z.boolean(),
  health: z.enum(healthValues),
  exit_code: z.number().int().nullable(),
  oom_killed: z.boolean(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  restart_count: z.number().int(),
  compose_project: z.string().nullable(),
  compose_service: z.string().nullable(),
  labels: z.record(z.string(), z.string()),
  healthcheck: z.string().nullable(),
  restart_policy: z.string().nullable(),
});

/** True only when A and B are the same type; a change to one without the other fails to compile. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameShape: Same<z.infer<typeof containerRecordSchema>, ContainerRecord> = true;
void sameShape;
