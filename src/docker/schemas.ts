// zod schemas for what the Engine API sends. Only the fields the bridge reads are declared;
// everything else passes through untouched. Data types are inferred from these, written once.
import { z } from "zod/v3";

const stringMap = z.record(z.string(), z.string());

export const rawEventSchema = z.object({
  Type: z.string().min(1),
  Action: z.string().min(1),
  Actor: z
    .object({
      ID: z.string().default(""),
      Attributes: z.record(z.string(), z.unknown()).nullish(),
    })
    .default({ ID: "" }),
  scope: z.string().optional(),
  // Bounded to what a Date can hold (year 275760): an absurd time is rejected, not applied.
  time: z.number().int().nonnegative().max(8_640_000_000_000),
  timeNano: z.number().nonnegative().max(8.64e21).optional(),
});
export type RawEvent = z.infer<typeof rawEventSchema>;

export const containerSummarySchema = z.object({
  Id: z.string().min(1),
  Names: z.array(z.string()).nullish(),
  Image: z.string().default(""),
  Labels: stringMap.nullish(),
  State: z.string().default(""),
  Status: z.string().default(""),
  Created: z.number().optional(),
});
export type ContainerSummary = z.infer<typeof containerSummarySchema>;
export const containerListSchema = z.array(containerSummarySchema);

export const containerInspectSchema = z.object({
  Id: z.string().min(1),
  Name: z.string().default(""),
  Created: z.string().optional(),
  RestartCount: z.number().int().default(0),
  State: z.object({
    Status: z.string().default(""),
    Running: z.boolean().default(false),
    Paused: z.boolean().default(false),
    Restarting: z.boolean().default(false),
    OOMKilled: z.boolean().default(false),
    Dead: z.boolean().default(false),
    ExitCode: z.number().int().default(0),
    StartedAt: z.string().optional(),
    FinishedAt: z.string().optional(),
    Health: z.object({ Status: z.string(), FailingStreak: z.number().int().optional() }).nullish(),
  }),
  Config: z
    .object({
      Image: z.string().optional(),
      Labels: stringMap.nullish(),
      Healthcheck: z.object({ Test: z.array(z.string()).nullish() }).nullish(),
    })
    .nullish(),
  HostConfig: z
    .object({ RestartPolicy: z.object({ Name: z.string().optional() }).nullish() })
    .nullish(),
});
export type ContainerInspect = z.infer<typeof containerInspectSchema>;

export const infoSchema = z.object({
  ID: z.string().default(""),
  Name: z.string().default(""),
  ServerVersion: z.string().default(""),
  /** The engine's clock, RFC 3339 with nanoseconds. */
  SystemTime: z.string().optional(),
  /** Podman only (its Docker-compatible /info); with DockerRootDir, see engine-identity.ts. */
  BuildahVersion: z.string().optional(),
  DockerRootDir: z.string().optional(),
  /** CPUs and memory (bytes) the engine sees: the host's statistics report them. */
  NCPU: z.number().optional(),
  MemTotal: z.number().optional(),
});
export type EngineInfo = z.infer<typeof infoSchema>;

export const versionSchema = z.object({
  Version: z.string().default(""),
  ApiVersion: z.string(),
  MinAPIVersion: z.string().optional(),
});
export type EngineVersion = z.infer<typeof versionSchema>;

/** `GET /exec/{id}/json`: only what tells a healthcheck probe from another exec. */
export const execInspectSchema = z
  .object({
    ProcessConfig: z
      .object({
        entrypoint: z.string().optional(),
        arguments: z.array(z.string()).nullable().optional(),
      })
      .passthrough()
      .nullable()
      .optional(),
  })
  .passthrough();
