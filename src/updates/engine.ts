// The Engine API calls of the updates feature, over DockerClient.call: inspect a container and its
// image (the fields a check reads), and the pull / create / start / rename / remove of an install.
import { z } from "zod/v3";
import type { DockerClient } from "../docker/client.js";
import { DockerError } from "../errors.js";

export type EngineCaller = Pick<DockerClient, "call">;

const stringMap = z.record(z.string(), z.string()).nullish();

export const imageInspectSchema = z
  .object({
    Id: z.string(),
    RepoTags: z.array(z.string()).nullish(),
    RepoDigests: z.array(z.string()).nullish(),
    Config: z.object({ Labels: stringMap }).passthrough().nullish(),
  })
  .passthrough();
export type ImageInspect = z.infer<typeof imageInspectSchema>;

/** What a check reads of a container: its image reference and the id of the image it runs. */
const containerImageSchema = z
  .object({
    Id: z.string(),
    Image: z.string(),
    Config: z.object({ Image: z.string().optional() }).passthrough().nullish(),
  })
  .passthrough();

async function getJson(
  docker: EngineCaller,
  path: string,
  signal?: AbortSignal,
  timeoutMs?: number,
): Promise<unknown | null> {
  try {
    const res = await docker.call({
      method: "GET",
      path,
      ...(signal ? { signal } : {}),
      ...(timeoutMs ? { timeoutMs } : {}),
    });
    return await res.body.json();
  } catch (err: unknown) {
    if (err instanceof DockerError && err.status === 404) return null;
    throw err;
  }
}

function parsed<T extends z.ZodType>(schema: T, value: unknown, what: string): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new DockerError("DOCKER_BAD_RESPONSE", `${what} answered an unexpected shape`);
  }
  return result.data;
}

/** The whole inspect answer (what a recreate copies), or null when the container is gone. */
export async function inspectContainerRaw(
  docker: EngineCaller,
  id: string,
  signal?: AbortSignal,
): Promise<Record<string, unknown> | null> {
  const body = await getJson(docker, `/containers/${encodeURIComponent(id)}/json`, signal);
  if (body === null) return null;
  if (typeof body !== "object" || Array.isArray(body)) {
    throw new DockerError("DOCKER_BAD_RESPONSE", "container inspect answered no object");
  }
  return body as Record<string, unknown>;
}

/** A container's image reference (`Config.Image`) and image id, or null when it is gone. */
export async function containerImage(
  docker: EngineCaller,
  id: string,
  signal?: AbortSignal,
): Promise<{ id: string; reference: string; imageId: string } | null> {
  const body = await inspectContainerRaw(docker, id, signal);
  if (body === null) return null;
  const c = parsed(containerImageSchema, body, "container inspect");
  return { id: c.Id, reference: c.Config?.Image ?? "", imageId: c.Image };
}

/** `GET /images/{name}/json`, or null when there is no such image. */
export async function inspectImage(
  docker: EngineCaller,
  name: string,
  signal?: AbortSignal,
): Promise<ImageInspect | null> {
  const body = await getJson(docker, `/images/${encodeURIComponent(name)}/json`, signal);
  return body === null ? null : parsed(imageInspectSchema, body, "image inspect");
}
