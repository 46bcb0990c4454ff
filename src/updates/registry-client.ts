// Asks registries what a tag points to now: `HEAD /v2/<repo>/manifests/<tag>` (which Docker Hub
// does not count as a pull), with the registry's token flow, a bounded number of requests in
// flight, and 429s honoured (waited out when short, else the registry is left alone until then).
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import type { Dispatcher } from "undici";
import { Agent } from "../docker/http-agent.js";
import { BridgeError, type ErrorCode } from "../errors.js";
import type { Credentials } from "./auth-file.js";
import { type ImageReference, registryHost } from "./reference.js";
import {
  bearerChallenge,
  isInsecureRegistry,
  MANIFEST_ACCEPT,
  retryAfterMs,
} from "./registry-protocol.js";
import { Slots } from "./slots.js";

export class RegistryError extends BridgeError {
  readonly status: number | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; status?: number }) {
    super(code, message, options);
    this.status = options?.status;
  }
}

export interface RegistryClientOptions {
  credentials?: ReadonlyMap<string, Credentials>;
  /** Registries (host or host:port) spoken to in plain HTTP besides 127.0.0.0/8. */
  insecure?: readonly string[];
  /** Requests in flight at most, over all registries. */
  concurrency?: number;
  timeoutMs?: number;
  /** The longest 429 wait honoured in place; a longer one fails until that time has passed. */
  maxWaitMs?: number;
  /** Attempts after a 429 before giving up for this check. */
  retries?: number;
  log?: Logger;
  now?: () => number;
}

interface Token {
  value: string;
  expiresAt: number;
}

type Header = string | string[] | undefined;
const first = (h: Header): string | undefined => (Array.isArray(h) ? h[0] : h);

export class RegistryClient {
  readonly #o: Required<Omit<RegistryClientOptions, "log" | "credentials">> & {
    log: Logger | undefined;
  };
  #credentials: ReadonlyMap<string, Credentials>;
  readonly #agent: Dispatcher;
  readonly #tokens = new Map<string, Token>();
  readonly #blockedUntil = new Map<string, number>();
  readonly #slots: Slots;

  constructor(options: RegistryClientOptions = {}) {
    this.#credentials = options.credentials ?? new Map();
    this.#o = {
      insecure: options.insecure ?? [],
      concurrency: options.concurrency ?? 4,
      timeoutMs: options.timeoutMs ?? 15_000,
      maxWaitMs: options.maxWaitMs ?? 60_000,
      retries: options.retries ?? 2,
      log: options.log,
      now: options.now ?? Date.now,
    };
    this.#slots = new Slots(this.#o.concurrency);
    this.#agent = new Agent({ connections: 4, keepAliveTimeout: 10_000 });
  }

  /** Credentials by registry name (from the auth file), used from the next request on. */
  setCredentials(credentials: ReadonlyMap<string, Credentials>): void {
    this.#credentials = credentials;
    this.#tokens.clear();
  }

  /** Where a registry's API answers (scheme and host). */
  baseUrl(registry: string): string {
    const scheme = isInsecureRegistry(registry, this.#o.insecure) ? "http" : "https";
    return `${scheme}://${registryHost(registry)}`;
  }

  /** The digest the reference's tag points to now (`Docker-Content-Digest` of a HEAD). */
  async manifestDigest(ref: ImageReference, signal?: AbortSignal): Promise<string> {
    const tag = ref.tag ?? ref.digest ?? "latest";
    const url = `${this.baseUrl(ref.registry)}/v2/${ref.repository}/manifests/${tag}`;
    await this.#slots.acquire(signal);
    try {
      return await this.#head(ref, url, signal);
    } finally {
      this.#slots.release();
    }
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }

  async #head(ref: ImageReference, url: string, signal?: AbortSignal): Promise<string> {
    const scope = `repository:${ref.repository}:pull`;
    const tokenKey = `${ref.registry} ${scope}`;
    let authorization = this.#cachedToken(tokenKey);
    let triedAuth = false;
    for (let attempt = 0; ; attempt++) {
      this.#assertNotBlocked(ref.registry);
      const res = await this.#send(
        ref.registry,
        url,
        "HEAD",
        {
          accept: MANIFEST_ACCEPT,
          ...(authorization ? { authorization } : {}),
        },
        signal,
      );
      await res.body.dump();
      if (res.statusCode === 200) {
        const digest = first(res.headers["docker-content-digest"]);
        if (!digest || !/^[a-z0-9]+:[a-f0-9]{32,}$/.test(digest)) {
          throw new RegistryError(
            "REGISTRY_BAD_RESPONSE",
            `${ref.registry} answered the manifest without a Docker-Content-Digest`,
          );
        }
        return digest;
      }
      if (res.statusCode === 401 && !triedAuth) {
        triedAuth = true;
        const auth = await this.#authorize(
          ref,
          scope,
          first(res.headers["www-authenticate"]),
          signal,
        );
        authorization = auth.value;
        if (auth.expiresAt !== undefined) {
          this.#tokens.set(tokenKey, { value: auth.value, expiresAt: auth.expiresAt });
        }
        continue;
      }
      if (res.statusCode === 401 || res.statusCode === 403) {
        throw new RegistryError(
          "REGISTRY_AUTH_FAILED",
          `${ref.registry} refused access to ${ref.repository}`,
          {
            status: res.statusCode,
          },
        );
      }
      if (res.statusCode === 429) {
        const wait =
          retryAfterMs(first(res.headers["retry-after"]), this.#o.now()) ?? 1000 * 2 ** attempt;
        if (attempt >= this.#o.retries || wait > this.#o.maxWaitMs) {
          this.#blockedUntil.set(ref.registry, this.#o.now() + wait);
          throw new RegistryError(
            "REGISTRY_RATE_LIMITED",
            `${ref.registry} is rate-limiting: retry in ${Math.ceil(wait / 1000)} s`,
            {
              status: 429,
            },
          );
        }
        this.#o.log?.info(
          { registry: ref.registry, waitMs: wait },
          "registry asks to slow down: waiting",
        );
        await sleep(wait, undefined, { signal });
        continue;
      }
      if (res.statusCode === 404) {
        throw new RegistryError(
          "REGISTRY_NOT_FOUND",
          `${ref.registry} has no ${ref.repository}:${ref.tag ?? ""}`,
          {
            status: 404,
          },
        );
      }
      throw new RegistryError("REGISTRY_HTTP_ERROR", `${ref.registry} answered ${res.statusCode}`, {
        status: res.statusCode,
      });
    }
  }

  /** The Authorization value a 401's challenge asks for: a Bearer token, or Basic credentials. */
  async #authorize(
    ref: ImageReference,
    scope: string,
    header: string | undefined,
    signal?: AbortSignal,
  ): Promise<{ value: string; expiresAt?: number }> {
    const creds = this.#credentials.get(ref.registry);
    const basic = creds
      ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`
      : undefined;
    const challenge = bearerChallenge(header);
    if (!challenge) {
      if (basic && /^\s*basic\b/i.test(header ?? "")) return { value: basic };
      throw new RegistryError(
        "REGISTRY_AUTH_FAILED",
        `${ref.registry} asks for credentials this bridge has not got`,
        {
          status: 401,
        },
      );
    }
    const url = new URL(challenge.realm);
    if (challenge.service) url.searchParams.set("service", challenge.service);
    url.searchParams.set("scope", challenge.scope ?? scope);
    // The password goes only where TLS protects it, or back to the registry's own host.
    const mayCarry = url.protocol === "https:" || url.host === registryHost(ref.registry);
    const res = await this.#send(
      ref.registry,
      url.toString(),
      "GET",
      basic && mayCarry ? { authorization: basic } : {},
      signal,
    );
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new RegistryError(
        "REGISTRY_AUTH_FAILED",
        `${ref.registry}'s token service answered ${res.statusCode}`,
        {
          status: res.statusCode,
        },
      );
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = (await res.body.json()) as typeof body;
    } catch (err: unknown) {
      throw new RegistryError(
        "REGISTRY_BAD_RESPONSE",
        `${ref.registry}'s token service did not answer JSON`,
        {
          cause: err,
        },
      );
    }
    const token = typeof body.token === "string" ? body.token : body.access_token;
    if (typeof token !== "string" || token === "") {
      throw new RegistryError(
        "REGISTRY_BAD_RESPONSE",
        `${ref.registry}'s token service answered no token`,
      );
    }
    // A token lives 60 s unless the answer says otherwise; renew a little early.
    const lifetime =
      typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : 60;
    return {
      value: `Bearer ${token}`,
      expiresAt: this.#o.now() + Math.max(0, lifetime - 10) * 1000,
    };
  }

  #cachedToken(key: string): string | undefined {
    const token = this.#tokens.get(key);
    if (token && token.expiresAt > this.#o.now()) return token.value;
    this.#tokens.delete(key);
    return undefined;
  }

  #assertNotBlocked(registry: string): void {
    const until = this.#blockedUntil.get(registry);
    if (until === undefined) return;
    if (until <= this.#o.now()) {
      this.#blockedUntil.delete(registry);
      return;
    }
    throw new RegistryError(
      "REGISTRY_RATE_LIMITED",
      `${registry} is rate-limiting: retry in ${Math.ceil((until - this.#o.now()) / 1000)} s`,
      { status: 429 },
    );
  }

  async #send(
    registry: string,
    url: string,
    method: "HEAD" | "GET",
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<Dispatcher.ResponseData> {
    try {
      return await this.#agent.request({
        origin: new URL(url).origin,
        path: url.slice(new URL(url).origin.length),
        method,
        headers: { "user-agent": "docker-mqtt-bridge", ...headers },
        // A deadline for the whole answer: the idle timeouts alone let a trickle hang a check.
        signal: signal
          ? AbortSignal.any([signal, AbortSignal.timeout(this.#o.timeoutMs)])
          : AbortSignal.timeout(this.#o.timeoutMs),
        headersTimeout: this.#o.timeoutMs,
        bodyTimeout: this.#o.timeoutMs,
      });
    } catch (err: unknown) {
      if (signal?.aborted) throw err;
      throw new RegistryError(
        "REGISTRY_UNREACHABLE",
        `cannot reach ${registry}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }
}
