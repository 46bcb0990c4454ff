// Fake Portainer CE 2.x for integration tests: `GET /api/endpoints`, API-key auth, and the Docker
// proxy `/api/endpoints/{id}/docker/*` onto a FakeEngine, with the traps Portainer sets in the
// field: a local-socket proxy that batches streamed bodies instead of flushing per event, edge
// tunnels that cut long /events streams, and its own error answers for unreachable environments.
//
//   const portainer = await FakePortainer.start({
//     apiKey: "ptr_test",
//     environments: [{ id: 1, name: "local", type: 1, engine }],
//   });
//   ... the code under test calls portainer.url with `X-API-Key: ptr_test` ...
//   portainer.updateEnvironment(1, { buffered: true, cutAfterMs: 200 });
//   expect(portainer.requests.some((r) => r.authorization)).toBe(false);
//   await portainer.close();
//
// Behaviour taken from Portainer's source: api/http/security/bouncer.go (auth), pkg/libhttp/error
// (error JSON), api/http/handler/endpointproxy/proxy_docker.go (404/400/edge), api/http/proxy/
// factory/docker.go + reverse_proxy.go (local vs HTTP proxy, forwarded headers), api/chisel.
import {
  type ClientRequest,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { FakeEngine } from "./fake-engine.js";
import { FailureRules } from "./fake-engine-http.js";

/** 1 Docker, 2 agent on Docker, 3 Azure ACI, 4 edge agent on Docker, 5 local Kubernetes, 6 agent
 * on Kubernetes, 7 edge agent on Kubernetes: a Docker client must use 1, 2, 4 and skip the rest. */
export type EnvironmentType = number;
/** 1 up, 2 down: Portainer's last snapshot result, shown in the list only. */
export type EnvironmentStatus = 1 | 2;

export interface FakeEnvironment {
  id: number;
  name: string;
  type: EnvironmentType;
  /** Where /docker/* goes. Undefined, or a closed engine: answered as an unreachable environment. */
  engine?: FakeEngine | undefined;
  /** Default 1. Portainer 2.x proxies whatever the status says. */
  status?: EnvironmentStatus;
  /**
   * Listed URL. `unix://`/`npipe://` selects Portainer's local-socket proxy (unreachable: 500 JSON);
   * anything else its HTTP reverse proxy (unreachable: 502, empty body). Default: type 1 with a
   * socket engine or none `unix:///var/run/docker.sock`, with a TCP engine its `tcp://` address;
   * other types `tcp://env-<id>:9001`.
   */
  url?: string;
  /** Edge types: `""` is an edge agent that never registered (500). Default `edge-<id>`. */
  edgeId?: string;
  /** Copy bodies like Portainer's io.Copy local proxy: hold headers and data, send them in
   * `batchBytes` slices and at the end of the body. */
  buffered?: boolean;
  /** Abruptly cut every /events stream of this environment after this many ms (edge tunnel). */
  cutAfterMs?: number;
  /** Merged into the listed object. */
  extra?: Record<string, unknown>;
}

export interface FakePortainerOptions {
  apiKey: string;
  environments?: FakeEnvironment[];
  /** Batch size of `buffered` environments (default 4096: Go's connection write buffer). */
  batchBytes?: number;
}

export interface PortainerRequest {
  method: string;
  /** Path and query as sent, an `x-api-key` query value masked. */
  path: string;
  /** As sent, the X-API-Key and Authorization values masked. */
  headers: IncomingHttpHeaders;
  /** Where the API key was: header, query (Portainer accepts `?x-api-key=`) or none. */
  keySource: "header" | "query" | "none";
  keyValid: boolean;
  /** Carried an Authorization header (never allowed to block a valid key, as in Portainer). */
  authorization: boolean;
  /** Status answered; undefined until a proxied response has started. */
  status: number | undefined;
}

export interface ProxiedEventStream {
  environmentId: number;
  /** Docker path and query forwarded to the engine. */
  path: string;
  /** Body bytes read from the engine / written to the client (the difference is held). */
  received: number;
  sent: number;
  headersSent: boolean;
  outcome: "open" | "end" | "upstream-error" | "cut" | "client-gone" | "closed";
}

const MASK = "***";
// mwSecureHeaders, on every authenticated route.
const SECURE_HEADERS = { "X-Xss-Protection": "1; mode=block", "X-Content-Type-Options": "nosniff" };
// reverse_proxy.go allowedHeaders: anything else (X-API-Key, Authorization) stays at Portainer.
const FORWARDED = new Set([
  "accept",
  "accept-encoding",
  "accept-language",
  "cache-control",
  "content-length",
  "content-type",
  "private-token",
  "user-agent",
  "x-portaineragent-target",
  "x-portainer-volumename",
  "x-registry-auth",
  "x-stream-protocol-version",
]);
const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "te", "trailer"]);
const EVENTS_PATH = /^(?:\/v[0-9.]+)?\/events$/;
const DOCKER_ROUTE = /^\/api\/endpoints\/([^/]+)\/docker(\/.*)?$/;
const ENDPOINT_ROUTE = /^\/api\/endpoints\/([^/]+)$/;

interface Watcher {
  check: () => boolean;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class FakePortainer {
  /** Every request received, in order. */
  readonly requests: PortainerRequest[] = [];
  /** Every proxied /events stream whose engine answered, in order. */
  readonly eventStreams: ProxiedEventStream[] = [];
  readonly #apiKey: string;
  readonly #batchBytes: number;
  readonly #envs = new Map<number, FakeEnvironment>();
  readonly #failures = new FailureRules();
  readonly #sockets = new Set<Socket>();
  readonly #upstreams = new Set<ClientRequest>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #watchers: Watcher[] = [];
  #server: Server | undefined;
  #port = 0;
  #closed = false;

  private constructor(options: FakePortainerOptions) {
    this.#apiKey = options.apiKey;
    this.#batchBytes = options.batchBytes ?? 4096;
    for (const env of options.environments ?? []) this.addEnvironment(env);
  }

  static async start(options: FakePortainerOptions): Promise<FakePortainer> {
    const portainer = new FakePortainer(options);
    await portainer.#listen();
    return portainer;
  }

  /** `http://127.0.0.1:PORT`, Portainer's base URL (the API is under /api). */
  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** Proxied /events streams open right now. */
  get openEventStreams(): number {
    return this.eventStreams.filter((s) => s.outcome === "open").length;
  }

  /** Adds or replaces (same id) an environment. */
  addEnvironment(env: FakeEnvironment): void {
    this.#envs.set(env.id, { ...env });
  }

  removeEnvironment(id: number): void {
    this.#envs.delete(id);
  }

  setStatus(id: number, status: EnvironmentStatus): void {
    this.updateEnvironment(id, { status });
  }

  /** Changes an environment in place; applies to requests that arrive afterwards. */
  updateEnvironment(id: number, patch: Partial<Omit<FakeEnvironment, "id">>): void {
    const env = this.#envs.get(id);
    if (!env) throw new Error(`fake portainer: no environment ${id}`);
    this.#envs.set(id, { ...env, ...patch });
  }

  /**
   * The next `count` authenticated requests whose path starts with `pattern` (or matching the
   * RegExp on path + query) get `status` with Portainer's `{message, details}`.
   */
  failNext(pattern: string | RegExp, status = 500, count = 1, message?: string): void {
    this.#failures.add(pattern, status, count, message ?? `fake portainer: injected ${status}`);
  }

  /** Resolves once `predicate` holds, re-checked after every proxy event; rejects on close(). */
  waitFor(predicate: () => boolean): Promise<void> {
    if (predicate()) return Promise.resolve();
    if (this.#closed) return Promise.reject(new Error("fake portainer closed"));
    return new Promise((resolve, reject) => {
      this.#watchers.push({ check: predicate, resolve, reject });
    });
  }

  /** Resolves with the count-th proxied /events stream (default: the next one). */
  async waitForEventStream(options: { count?: number } = {}): Promise<ProxiedEventStream> {
    const count = options.count ?? this.eventStreams.length + 1;
    await this.waitFor(() => this.eventStreams.length >= count);
    const stream = this.eventStreams[count - 1];
    if (!stream) throw new Error("fake portainer: stream missing");
    return stream;
  }

  /** Ends every stream and connection and stops listening. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const upstream of this.#upstreams) upstream.destroy();
    for (const socket of this.#sockets) socket.destroy();
    const watchers = this.#watchers;
    this.#watchers = [];
    for (const w of watchers) w.reject(new Error("fake portainer closed"));
    const server = this.#server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #changed(): void {
    const done = this.#watchers.filter((w) => w.check());
    if (done.length === 0) return;
    this.#watchers = this.#watchers.filter((w) => !done.includes(w));
    for (const w of done) w.resolve();
  }

  #listen(): Promise<void> {
    const server = createServer((req, res) => this.#handle(req, res));
    server.keepAliveTimeout = 0;
    server.on("connection", (socket: Socket) => {
      this.#sockets.add(socket);
      socket.on("close", () => this.#sockets.delete(socket));
    });
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        server.off("error", reject);
        this.#port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const method = req.method ?? "GET";
    const raw = req.url ?? "/";
    const url = new URL(raw, "http://portainer");
    const auth = this.#authenticate(req, url);
    const entry: PortainerRequest = {
      method,
      path: raw.replace(/([?&]x-api-key=)[^&]*/gi, `$1${MASK}`),
      headers: maskHeaders(req.headers),
      ...auth,
      authorization: req.headers.authorization !== undefined,
      status: undefined,
    };
    this.requests.push(entry);
    res.on("error", () => undefined);
    if (this.#closed) {
      req.socket.destroy();
      return;
    }
    const docker = DOCKER_ROUTE.exec(url.pathname);
    const single = ENDPOINT_ROUTE.exec(url.pathname);
    const listing = url.pathname === "/api/endpoints";
    if (!docker && !((listing || single) && method === "GET")) {
      // gorilla/mux's NotFound: plain text, before any auth.
      entry.status = 404;
      res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" });
      res.end("404 page not found\n");
      return;
    }
    for (const [name, value] of Object.entries(SECURE_HEADERS)) res.setHeader(name, value);
    if (!auth.keyValid) {
      this.#error(res, entry, 401, "A valid authorisation token is missing", "Unauthorized");
      return;
    }
    const failure = this.#failures.take(url.pathname, url.search);
    if (failure) {
      this.#error(res, entry, failure.status, failure.message, failure.message);
      return;
    }
    if (listing) {
      this.#list(url.searchParams, res, entry);
      return;
    }
    const env = this.#environment((docker ?? single)?.[1] ?? "", res, entry);
    if (!env) return;
    if (docker) this.#proxy(env, (docker[2] ?? "/") + url.search, req, res, entry);
    else this.#json(res, entry, 200, this.#listed(env));
  }

  /**
   * bouncer.go tries a bearer JWT first, then the API key (X-API-Key header, else a
   * case-insensitive `x-api-key` query parameter). This fake issues no JWTs, so an Authorization
   * header never authenticates and never stops a valid key from being used.
   */
  #authenticate(req: IncomingMessage, url: URL): Pick<PortainerRequest, "keySource" | "keyValid"> {
    const header = req.headers["x-api-key"];
    if (typeof header === "string" && header !== "") {
      return { keySource: "header", keyValid: header === this.#apiKey };
    }
    for (const [name, value] of url.searchParams) {
      if (name.toLowerCase() === "x-api-key") {
        return { keySource: "query", keyValid: value === this.#apiKey };
      }
    }
    return { keySource: "none", keyValid: false };
  }

  /** Portainer 2.x reads array filters as `types[]=1&types[]=4`; a bare `types=1` filters nothing. */
  #list(query: URLSearchParams, res: ServerResponse, entry: PortainerRequest): void {
    const types = query.getAll("types[]").map(Number);
    const envs = [...this.#envs.values()]
      .sort((a, b) => a.id - b.id)
      .filter((e) => types.length === 0 || types.includes(e.type));
    res.setHeader("X-Total-Count", String(envs.length));
    this.#json(
      res,
      entry,
      200,
      envs.map((e) => this.#listed(e)),
    );
  }

  #listed(env: FakeEnvironment): Record<string, unknown> {
    const edge = env.type === 4 || env.type === 7;
    const edgeId = edgeIdOf(env);
    return {
      Id: env.id,
      Name: env.name,
      Type: env.type,
      URL: urlOf(env),
      GroupId: 1,
      PublicURL: "",
      TLSConfig: { TLS: false, TLSSkipVerify: false },
      TagIds: [],
      Status: env.status ?? 1,
      Snapshots: [],
      UserAccessPolicies: {},
      TeamAccessPolicies: {},
      ...(edge && edgeId !== "" ? { EdgeID: edgeId } : {}),
      EdgeKey: "",
      EdgeCheckinInterval: edge ? 5 : 0,
      ...env.extra,
    };
  }

  #environment(rawId: string, res: ServerResponse, entry: PortainerRequest) {
    if (!/^-?[0-9]+$/.test(rawId)) {
      const details = `Strconv.Atoi: parsing "${rawId}": invalid syntax`;
      this.#error(res, entry, 400, "Invalid environment identifier route variable", details);
      return undefined;
    }
    const env = this.#envs.get(Number(rawId));
    if (!env) {
      const message =
        "Unable to find an environment with the specified identifier inside the database";
      this.#error(res, entry, 404, message, "Object not found inside the database");
    }
    return env;
  }

  #proxy(
    env: FakeEnvironment,
    path: string,
    req: IncomingMessage,
    res: ServerResponse,
    entry: PortainerRequest,
  ): void {
    if ((env.type === 4 || env.type === 7) && edgeIdOf(env) === "") {
      this.#error(
        res,
        entry,
        500,
        "No Edge agent registered with the environment",
        "No agent available",
      );
      return;
    }
    const target = env.engine ? engineTarget(env.engine) : undefined;
    if (!target) {
      this.#unreachable(env, res, entry, "no such file or directory");
      return;
    }
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined && FORWARDED.has(name)) headers[name] = value;
    }
    const upstream = httpRequest({ ...target, method: req.method, path, headers, agent: false });
    this.#upstreams.add(upstream);
    upstream.on("close", () => this.#upstreams.delete(upstream));
    let answered = false;
    upstream.on("error", (err: NodeJS.ErrnoException) => {
      if (answered) return;
      answered = true;
      const reason =
        err.code === "ECONNREFUSED" ? "connection refused" : "no such file or directory";
      this.#unreachable(env, res, entry, reason);
    });
    upstream.on("response", (up) => {
      answered = true;
      this.#relay(env, path, up, upstream, res, entry);
    });
    res.on("close", () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }

  /**
   * docker.go's local proxy writes libhttp's JSON 500; httputil.ReverseProxy (agent, edge, TCP)
   * has no ErrorHandler set, so Go's default answers 502 with an empty body. The edge path's
   * wait of 2x the check-in interval for a tunnel is skipped here.
   */
  #unreachable(env: FakeEnvironment, res: ServerResponse, entry: PortainerRequest, reason: string) {
    if (!isLocal(env)) {
      entry.status = 502;
      res.writeHead(502, { "Content-Length": "0" });
      res.end();
      return;
    }
    const socket = new URL(urlOf(env)).pathname;
    const details = `Dial unix ${socket}: connect: ${reason}`;
    this.#error(res, entry, 500, "Unable to proxy the request via the Docker socket", details);
  }

  #relay(
    env: FakeEnvironment,
    path: string,
    up: IncomingMessage,
    upstream: ClientRequest,
    res: ServerResponse,
    entry: PortainerRequest,
  ): void {
    const status = up.statusCode ?? 502;
    entry.status = status;
    const isEvents = EVENTS_PATH.test(path.split("?")[0] ?? "");
    const stream: ProxiedEventStream | undefined = isEvents
      ? { environmentId: env.id, path, received: 0, sent: 0, headersSent: false, outcome: "open" }
      : undefined;
    if (stream) this.eventStreams.push(stream);
    const sendHeaders = (): void => {
      if (res.headersSent) return;
      res.writeHead(status, relayedHeaders(up.rawHeaders));
      res.flushHeaders();
      if (stream) stream.headersSent = true;
      this.#changed();
    };
    const write = (chunk: Buffer): void => {
      sendHeaders();
      res.write(chunk);
      if (stream) stream.sent += chunk.length;
    };
    const batch = env.buffered ? new Batch(this.#batchBytes, write) : undefined;
    let cut: NodeJS.Timeout | undefined;
    const finish = (outcome: ProxiedEventStream["outcome"]): void => {
      if (cut) {
        clearTimeout(cut);
        this.#timers.delete(cut);
      }
      if (stream?.outcome === "open") stream.outcome = this.#closed ? "closed" : outcome;
      this.#changed();
    };
    if (!batch) sendHeaders();
    this.#changed();
    if (stream && env.cutAfterMs !== undefined) {
      // chisel's tunnel idles out (activeTimeout 4m30s); ReverseProxy then aborts the response.
      cut = setTimeout(() => {
        finish("cut");
        upstream.destroy();
        res.destroy();
      }, env.cutAfterMs);
      this.#timers.add(cut);
    }
    up.on("data", (chunk: Buffer) => {
      if (stream) stream.received += chunk.length;
      if (batch) batch.push(chunk);
      else write(chunk);
      this.#changed();
    });
    up.on("error", () => undefined);
    up.on("close", () => {
      if (stream?.outcome !== "open" && stream) return;
      if (!up.complete && !isLocal(env)) {
        // ReverseProxy panics with http.ErrAbortHandler: the client sees a broken stream.
        finish("upstream-error");
        res.destroy();
        return;
      }
      // The local proxy's handler returns after io.Copy, so Go flushes and ends the response.
      batch?.flush();
      sendHeaders();
      res.end();
      finish(up.complete ? "end" : "upstream-error");
    });
    res.on("close", () => {
      if (!res.writableFinished) finish("client-gone");
    });
  }

  #json(res: ServerResponse, entry: PortainerRequest, status: number, body: unknown): void {
    entry.status = status;
    res.writeHead(status, { "Content-Type": "application/json" });
    res.end(`${JSON.stringify(body)}\n`);
  }

  /** libhttp's error writer: `{"message", "details"}`, no trailing newline. */
  #error(
    res: ServerResponse,
    entry: PortainerRequest,
    status: number,
    message: string,
    details: string,
  ) {
    entry.status = status;
    res.writeHead(status, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ message, details }));
  }
}

/** Go's io.Copy into an unflushed ResponseWriter: the headers and body reach the client only when
 * a connection buffer fills, or when the handler returns. Splits lines freely. */
class Batch {
  #held: Buffer[] = [];
  #size = 0;

  constructor(
    readonly bytes: number,
    readonly write: (chunk: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    this.#held.push(chunk);
    this.#size += chunk.length;
    if (this.#size < this.bytes) return;
    const all = Buffer.concat(this.#held);
    const cut = all.length - (all.length % this.bytes);
    this.write(all.subarray(0, cut));
    const rest = all.subarray(cut);
    this.#held = rest.length > 0 ? [rest] : [];
    this.#size = rest.length;
  }

  flush(): void {
    if (this.#size > 0) this.write(Buffer.concat(this.#held));
    this.#held = [];
    this.#size = 0;
  }
}

function edgeIdOf(env: FakeEnvironment): string {
  return env.edgeId ?? `edge-${env.id}`;
}

function urlOf(env: FakeEnvironment): string {
  if (env.url !== undefined) return env.url;
  if (env.type !== 1) return `tcp://env-${env.id}:9001`;
  return env.engine && !env.engine.socketPath
    ? env.engine.dockerHost
    : "unix:///var/run/docker.sock";
}

function isLocal(env: FakeEnvironment): boolean {
  return /^(unix|npipe):\/\//.test(urlOf(env));
}

function engineTarget(engine: FakeEngine): { socketPath: string } | { host: string; port: number } {
  const socketPath = engine.socketPath;
  if (socketPath) return { socketPath };
  const url = new URL(engine.url);
  return { host: url.hostname, port: Number(url.port) };
}

function maskHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out = { ...headers };
  if (out["x-api-key"] !== undefined) out["x-api-key"] = MASK;
  if (out.authorization !== undefined) out.authorization = MASK;
  return out;
}

function relayedHeaders(raw: string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] ?? "";
    const value = raw[i + 1] ?? "";
    if (HOP_BY_HOP.has(name.toLowerCase())) continue;
    const prev = out[name];
    out[name] = prev === undefined ? value : [...(Array.isArray(prev) ? prev : [prev]), value];
  }
  return out;
}
