// The Engine API over undici: unix socket, TCP, TLS, or a proxy such as Portainer's
// (`/api/endpoints/{id}/docker` with an API key header). Negotiates the API version, answers
// with validated data, and reports failures as DockerError with a stable code. Read-only: GET only.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Dispatcher } from "undici";
import type { z } from "zod/v3";
import { DockerError } from "../errors.js";
import { AbortRelay } from "./abort-relay.js";
import { withStableId } from "./engine-identity.js";
import { Agent } from "./http-agent.js";
import {
  type ContainerInspect,
  type ContainerSummary,
  containerInspectSchema,
  containerListSchema,
  type EngineInfo,
  type EngineVersion,
  execInspectSchema,
  infoSchema,
  versionSchema,
} from "./schemas.js";

/** Newest API version this bridge knows; older engines are spoken to in their own version. */
export const MAX_API_VERSION = "1.52";
export const MIN_TESTED_API_VERSION = "1.41";

export interface EngineEndpoint {
  /** `http://host:port` or `https://...`; for a unix socket, any http origin (`http://docker`). */
  origin: string;
  socketPath?: string;
  /** Prefixed to every Engine API path, e.g. `/api/endpoints/3/docker` for Portainer. */
  pathPrefix?: string;
  /** Extra headers (an API key). Never logged. */
  headers?: Record<string, string>;
  tls?: { ca?: string; cert?: string; key?: string; rejectUnauthorized?: boolean };
}

/** Parses a DOCKER_HOST-style address (plus DOCKER_TLS_VERIFY / DOCKER_CERT_PATH). */
export function endpointFromDockerHost(
  host: string,
  opts: { tlsVerify?: boolean; certPath?: string } = {},
): EngineEndpoint {
  if (host.startsWith("unix://")) {
    return { origin: "http://docker", socketPath: host.slice("unix://".length) };
  }
  const url = new URL(host.replace(/^tcp:/, opts.tlsVerify ? "https:" : "http:"));
  const endpoint: EngineEndpoint = { origin: url.origin };
  if (url.protocol === "https:") {
    const tls: NonNullable<EngineEndpoint["tls"]> = { rejectUnauthorized: true };
    if (opts.certPath) {
      const read = (file: string) => {
        const path = join(opts.certPath ?? "", file);
        try {
          return readFileSync(path, "utf8");
        } catch (err: unknown) {
          throw new DockerError(
            "DOCKER_UNREACHABLE",
            `cannot read ${path}: ${(err as Error).message}`,
          );
        }
      };
      tls.ca = read("ca.pem");
      tls.cert = read("cert.pem");
      tls.key = read("key.pem");
    }
    endpoint.tls = tls;
  }
  return endpoint;
}

function compareVersions(a: string, b: string): number {
  const [amaj = 0, amin = 0] = a.split(".").map(Number);
  const [bmaj = 0, bmin = 0] = b.split(".").map(Number);
  return amaj - bmaj || amin - bmin;
}

export interface EventStreamOptions {
  since?: string;
  until?: string;
  filters?: Record<string, string[]>;
  signal?: AbortSignal;
}

/** What the bridge needs from an engine; tests and other transports can provide their own. */
/** One Engine API call through DockerClient.call (the path without the version prefix). */
export interface EngineCall {
  method: "GET" | "POST" | "DELETE";
  path: string;
  /** Sent as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** No timeout on headers or body: for streams that stay open. */
  streaming?: boolean;
  /** Overrides the client's request timeout (a stop waits for the container's own timeout). */
  timeoutMs?: number;
}

export interface EngineAnswer {
  status: number;
  /** Read it (json(), text()) or dump() it: an unread body holds the connection. */
  body: Dispatcher.ResponseData["body"];
}

export interface DockerApi {
  readonly apiVersion: string | undefined;
  negotiate(signal?: AbortSignal): Promise<string>;
  ping(signal?: AbortSignal): Promise<string>;
  info(signal?: AbortSignal): Promise<EngineInfo>;
  listContainers(signal?: AbortSignal): Promise<ContainerSummary[]>;
  /** null when the container no longer exists (a 404 is normal: it may vanish after a list). */
  inspectContainer(id: string, signal?: AbortSignal): Promise<ContainerInspect | null>;
  events(options: EventStreamOptions): Promise<AsyncIterable<Uint8Array>>;
  close(): Promise<void>;
}

export class DockerClient implements DockerApi {
  readonly #endpoint: EngineEndpoint;
  readonly #dispatcher: Dispatcher;
  readonly #requestTimeoutMs: number;
  /** Many requests share a caller's signal (a snapshot's inspects): one listener on it, not one each. */
  readonly #aborts = new AbortRelay();
  #apiVersion: string | undefined;

  constructor(endpoint: EngineEndpoint, options: { requestTimeoutMs?: number } = {}) {
    this.#endpoint = endpoint;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    const connect: Record<string, unknown> = {};
    if (endpoint.socketPath) connect.socketPath = endpoint.socketPath;
    if (endpoint.tls) Object.assign(connect, endpoint.tls);
    this.#dispatcher = new Agent({ connect, keepAliveTimeout: 30_000, connections: 8 });
  }

  get apiVersion(): string | undefined {
    return this.#apiVersion;
  }

  /** Where requests go, without secrets, for log lines. */
  describe(): string {
    const e = this.#endpoint;
    return e.socketPath ? `unix://${e.socketPath}` : `${e.origin}${e.pathPrefix ?? ""}`;
  }

  /** `/_ping` then `/v<min(ours, server's)>`; returns the version in use. */
  async negotiate(signal?: AbortSignal): Promise<string> {
    const serverVersion = await this.ping(signal);
    this.#apiVersion =
      compareVersions(serverVersion, MAX_API_VERSION) < 0 ? serverVersion : MAX_API_VERSION;
    return this.#apiVersion;
  }

  async ping(signal?: AbortSignal): Promise<string> {
    const res = await this.#request("/_ping", { signal, versioned: false });
    await res.body.dump();
    const header = res.headers["api-version"];
    const version = Array.isArray(header) ? header[0] : header;
    if (!version || !/^\d+\.\d+$/.test(version)) {
      throw new DockerError("DOCKER_BAD_RESPONSE", "/_ping answered without an Api-Version header");
    }
    return version;
  }

  async info(signal?: AbortSignal): Promise<EngineInfo> {
    // Podman's ID changes at every start of its service: the bridge needs one that does not.
    return withStableId(await this.#getJson("/info", infoSchema, signal));
  }

  /** `/version`: the engine's release and API range (for `--check`). */
  async version(signal?: AbortSignal): Promise<EngineVersion> {
    return this.#getJson("/version", versionSchema, signal);
  }

  async listContainers(signal?: AbortSignal): Promise<ContainerSummary[]> {
    return this.#getJson("/containers/json?all=1", containerListSchema, signal);
  }

  async inspectContainer(id: string, signal?: AbortSignal): Promise<ContainerInspect | null> {
    try {
      return await this.#getJson(
        `/containers/${encodeURIComponent(id)}/json`,
        containerInspectSchema,
        signal,
      );
    } catch (err: unknown) {
      if (err instanceof DockerError && err.status === 404) return null;
      throw err;
    }
  }

  async events(options: EventStreamOptions): Promise<AsyncIterable<Uint8Array>> {
    const query = new URLSearchParams();
    if (options.since) query.set("since", options.since);
    if (options.until) query.set("until", options.until);
    if (options.filters && Object.keys(options.filters).length > 0) {
      query.set("filters", JSON.stringify(options.filters));
    }
    const qs = query.toString();
    const res = await this.#request(`/events${qs ? `?${qs}` : ""}`, {
      signal: options.signal,
      streaming: true,
    });
    return res.body;
  }

  /**
   * An exec's command line as the engine's events show it (entrypoint and arguments joined by
   * spaces), or undefined when the engine no longer knows the exec.
   */
  async execCommand(execId: string, signal?: AbortSignal): Promise<string | undefined> {
    try {
      const body = await this.#getJson(
        `/exec/${encodeURIComponent(execId)}/json`,
        execInspectSchema,
        signal,
      );
      const p = body.ProcessConfig;
      return p?.entrypoint ? [p.entrypoint, ...(p.arguments ?? [])].join(" ") : undefined;
    } catch (err: unknown) {
      if (err instanceof DockerError && err.status === 404) return undefined;
      throw err;
    }
  }

  /**
   * Any other Engine API call, for the features that act (control, updates) or sample (stats):
   * 2xx and 304 (already in that state) answer; anything else throws a DockerError with the
   * engine's status and message.
   */
  async call(request: EngineCall): Promise<EngineAnswer> {
    const res = await this.#request(request.path, {
      method: request.method,
      body: request.body,
      headers: request.headers,
      signal: request.signal,
      streaming: request.streaming,
      timeoutMs: request.timeoutMs,
    });
    return { status: res.statusCode, body: res.body };
  }

  async close(): Promise<void> {
    await this.#dispatcher.close();
  }

  async #getJson<T extends z.ZodType>(
    path: string,
    schema: T,
    signal?: AbortSignal,
  ): Promise<z.infer<T>> {
    const res = await this.#request(path, { signal });
    let body: unknown;
    try {
      body = await res.body.json();
    } catch (err: unknown) {
      throw new DockerError("DOCKER_BAD_RESPONSE", `${path} did not answer JSON`, { cause: err });
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new DockerError(
        "DOCKER_BAD_RESPONSE",
        `${path} answered an unexpected shape at ${issue?.path.join(".") || "top"}: ${issue?.message}`,
      );
    }
    return parsed.data;
  }

  async #request(
    path: string,
    opts: {
      signal?: AbortSignal | undefined;
      versioned?: boolean;
      streaming?: boolean | undefined;
      method?: EngineCall["method"] | undefined;
      body?: unknown;
      headers?: Record<string, string> | undefined;
      timeoutMs?: number | undefined;
    },
  ): Promise<Dispatcher.ResponseData> {
    const method = opts.method ?? "GET";
    const timeout = opts.streaming ? 0 : (opts.timeoutMs ?? this.#requestTimeoutMs);
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const version = opts.versioned === false ? undefined : this.#apiVersion;
    const fullPath = `${this.#endpoint.pathPrefix ?? ""}${version ? `/v${version}` : ""}${path}`;
    const lease = this.#aborts.lease(opts.signal);
    let res: Dispatcher.ResponseData;
    try {
      res = await this.#dispatcher.request({
        origin: this.#endpoint.origin,
        path: fullPath,
        method,
        headers: {
          ...this.#endpoint.headers,
          accept: "application/json",
          ...(body === undefined ? {} : { "content-type": "application/json" }),
          ...opts.headers,
        },
        ...(body === undefined ? {} : { body }),
        signal: lease.signal,
        // A buffering proxy (Portainer) may hold a stream's headers back until data flows.
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
    } catch (err: unknown) {
      lease.release();
      if (opts.signal?.aborted) throw err;
      throw new DockerError(
        "DOCKER_UNREACHABLE",
        `cannot reach the engine at ${this.describe()}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    // undici holds the request's signal until the body is closed (read, dumped or destroyed).
    res.body.once("close", lease.release);
    if (res.statusCode >= 200 && res.statusCode < 300) return res;
    // 304: a start of a running container, a stop of a stopped one; never for a GET we make.
    if (res.statusCode === 304 && method !== "GET") return res;
    let message = "";
    try {
      const text = await res.body.text();
      try {
        message = String((JSON.parse(text) as { message?: unknown }).message ?? text);
      } catch {
        message = text;
      }
    } catch {
      // The body could not be read; the status says enough.
    }
    const code = /too new|API version/i.test(message) ? "DOCKER_API_VERSION" : "DOCKER_HTTP_ERROR";
    throw new DockerError(
      code,
      `${method} ${path} answered ${res.statusCode}: ${message.slice(0, 200)}`,
      { status: res.statusCode, engineMessage: message.slice(0, 500) },
    );
  }
}
