// Portainer's API: lists the Docker environments and turns each into an engine endpoint that goes
// through Portainer's Docker proxy with an API key. The key is never part of a URL or a message.
import type { Dispatcher } from "undici";
import { z } from "zod/v3";
import { DockerError } from "../errors.js";
import type { EngineEndpoint } from "./client.js";
import { Agent } from "./http-agent.js";

/** Docker environments: 1 local or socket, 2 agent, 4 edge agent. */
export const DOCKER_ENVIRONMENT_TYPES = [1, 2, 4] as const;

const environmentSchema = z.object({
  Id: z.number().int(),
  Name: z.string(),
  Type: z.number().int(),
  Status: z.number().int().optional(),
});
export type PortainerEnvironment = z.infer<typeof environmentSchema>;

export interface PortainerSettings {
  url: string;
  apiKey: string;
  tls?: { ca?: string; rejectUnauthorized?: boolean };
}

export class PortainerClient {
  readonly #s: PortainerSettings;
  readonly #origin: string;
  readonly #basePath: string;
  readonly #dispatcher: Dispatcher;

  constructor(settings: PortainerSettings) {
    this.#s = settings;
    const url = new URL(settings.url);
    this.#origin = url.origin;
    this.#basePath = url.pathname.replace(/\/+$/, "");
    this.#dispatcher = new Agent({ connect: { ...settings.tls } });
  }

  /** Where it is, without credentials, for log lines. */
  describe(): string {
    return `${this.#origin}${this.#basePath}`;
  }

  /** The Docker environments (types 1, 2 and 4) Portainer manages. */
  async listEnvironments(signal?: AbortSignal): Promise<PortainerEnvironment[]> {
    let res: Dispatcher.ResponseData;
    try {
      res = await this.#dispatcher.request({
        origin: this.#origin,
        path: `${this.#basePath}/api/endpoints`,
        method: "GET",
        headers: { "x-api-key": this.#s.apiKey, accept: "application/json" },
        signal: signal ?? null,
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
    } catch (err: unknown) {
      throw new DockerError(
        "DOCKER_UNREACHABLE",
        `cannot reach Portainer at ${this.describe()}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    const text = await res.body.text();
    if (res.statusCode === 401 || res.statusCode === 403) {
      throw new DockerError(
        "DOCKER_HTTP_ERROR",
        `Portainer at ${this.describe()} refused the API key (${res.statusCode}): check portainer.api_key`,
        { status: res.statusCode },
      );
    }
    if (res.statusCode < 200 || res.statusCode >= 300) {
      throw new DockerError(
        "DOCKER_HTTP_ERROR",
        `Portainer /api/endpoints answered ${res.statusCode}: ${text.slice(0, 200)}`,
        {
          status: res.statusCode,
        },
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new DockerError("DOCKER_BAD_RESPONSE", "Portainer /api/endpoints did not answer JSON");
    }
    const parsed = z.array(environmentSchema.passthrough()).safeParse(json);
    if (!parsed.success) {
      throw new DockerError(
        "DOCKER_BAD_RESPONSE",
        "Portainer /api/endpoints answered an unexpected shape",
      );
    }
    return parsed.data.filter((e) =>
      (DOCKER_ENVIRONMENT_TYPES as readonly number[]).includes(e.Type),
    );
  }

  /** The Engine API of one environment, through Portainer's Docker proxy. */
  endpointFor(environmentId: number): EngineEndpoint {
    const endpoint: EngineEndpoint = {
      origin: this.#origin,
      pathPrefix: `${this.#basePath}/api/endpoints/${environmentId}/docker`,
      headers: { "x-api-key": this.#s.apiKey },
    };
    if (this.#s.tls) endpoint.tls = this.#s.tls;
    return endpoint;
  }

  async close(): Promise<void> {
    await this.#dispatcher.close();
  }
}
