// The Engine API's one-shot stats endpoint, typed: one sample of one container, or nothing when
// the container is gone or not running (both normal: it may stop while the request is under way).
// Docker answers a stopped container with a zero-time sample, Podman with an empty 200.
import type { EngineAnswer, EngineCall } from "../docker/client.js";
import { DockerError } from "../errors.js";
import { isLiveSample, type StatsPayload, statsPayloadSchema } from "./formulas.js";

/** What the stats feature needs of the engine: DockerClient, or a test's stand-in. */
export interface EngineCaller {
  call(request: EngineCall): Promise<EngineAnswer>;
}

/** Fetches one sample at once (API 1.41+); undefined when there is nothing to sample now. */
export async function oneShotStats(
  engine: EngineCaller,
  id: string,
  signal: AbortSignal,
): Promise<StatsPayload | undefined> {
  let answer: EngineAnswer;
  try {
    answer = await engine.call({
      method: "GET",
      path: `/containers/${encodeURIComponent(id)}/stats?stream=false&one-shot=true`,
      signal,
    });
  } catch (err: unknown) {
    // 404: removed; 409: not running (some engines). Neither is an error here.
    if (err instanceof DockerError && (err.status === 404 || err.status === 409)) return undefined;
    throw err;
  }
  let body: unknown;
  try {
    const text = await answer.body.text();
    // Podman answers a stopped container with 200 and nothing at all.
    if (text.trim() === "") return undefined;
    body = JSON.parse(text);
  } catch (err: unknown) {
    if (signal.aborted) throw err;
    throw new DockerError("DOCKER_BAD_RESPONSE", `stats of ${id} did not answer JSON`, {
      cause: err,
    });
  }
  const parsed = statsPayloadSchema.safeParse(body);
  if (!parsed.success) {
    throw new DockerError("DOCKER_BAD_RESPONSE", `stats of ${id} answered an unexpected shape`);
  }
  return isLiveSample(parsed.data) ? parsed.data : undefined;
}
