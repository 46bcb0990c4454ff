// The only non-GET requests the bridge makes to an engine: the five container actions and the
// dangling-image prune. Each answers what happened in the engine's own words.
import type { EngineAnswer, EngineCall } from "../docker/client.js";
import { DockerError, describeError } from "../errors.js";
import type { ContainerAction } from "./commands.js";

export interface EngineCaller {
  call(request: EngineCall): Promise<EngineAnswer>;
}

export type ActionOutcome =
  | { ok: true /** 304: it was already so. */; unchanged: boolean }
  | { ok: false; error: string; status?: number };

export interface PruneOutcome {
  ok: boolean;
  error?: string;
  imagesDeleted?: number;
  spaceReclaimed?: number;
}

/** A refusal by what stands in front of the engine: Portainer, or a socket proxy. */
const FORBIDDEN_HINT =
  "refused before the engine: the Portainer API key's user needs the right to operate containers (and, for prune, images), or the socket proxy must allow POST to these endpoints (see the README's Control section)";

function failure(err: unknown): { ok: false; error: string; status?: number } {
  if (err instanceof DockerError && err.status !== undefined) {
    const said = (err.engineMessage || err.message).trim();
    const error = err.status === 401 || err.status === 403 ? `${said} (${FORBIDDEN_HINT})` : said;
    return { ok: false, error, status: err.status };
  }
  return { ok: false, error: describeError(err) };
}

export class EngineActions {
  readonly #engine: EngineCaller;
  readonly #stopTimeoutSeconds: number;

  constructor(engine: EngineCaller, stopTimeoutSeconds: number) {
    this.#engine = engine;
    this.#stopTimeoutSeconds = Math.ceil(stopTimeoutSeconds);
  }

  async container(id: string, action: ContainerAction): Promise<ActionOutcome> {
    const waits = action === "stop" || action === "restart";
    const query = waits ? `?t=${this.#stopTimeoutSeconds}` : "";
    try {
      const answer = await this.#engine.call({
        method: "POST",
        path: `/containers/${encodeURIComponent(id)}/${action}${query}`,
        // The engine answers a stop only once the container has exited (or was killed at `t`).
        ...(waits ? { timeoutMs: (this.#stopTimeoutSeconds + 30) * 1000 } : {}),
      });
      await answer.body.dump();
      return { ok: true, unchanged: answer.status === 304 };
    } catch (err: unknown) {
      return failure(err);
    }
  }

  async pruneImages(): Promise<PruneOutcome> {
    const filters = encodeURIComponent(JSON.stringify({ dangling: ["true"] }));
    try {
      const answer = await this.#engine.call({
        method: "POST",
        path: `/images/prune?filters=${filters}`,
        timeoutMs: 300_000,
      });
      const body = (await answer.body.json()) as {
        ImagesDeleted?: { Deleted?: string; Untagged?: string }[] | null;
        SpaceReclaimed?: number;
      };
      return {
        ok: true,
        // Each image deleted is one `Deleted` entry (its layers are further ones).
        imagesDeleted: (body.ImagesDeleted ?? []).filter((e) => e.Deleted).length,
        spaceReclaimed: body.SpaceReclaimed ?? 0,
      };
    } catch (err: unknown) {
      return failure(err);
    }
  }
}
