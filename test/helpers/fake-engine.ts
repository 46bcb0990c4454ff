// Fake Docker Engine 20.10 API server for integration tests: serves /_ping, /version, /info,
// /containers/json, /containers/{id}/json, /containers/{id}/stats and /events from a container
// model (see fake-engine-ops.ts) on a unix socket in a fresh temp dir, or on 127.0.0.1 port 0, and injects
// the faults a real engine cannot produce on demand.
//
//   const engine = await FakeEngine.start();          // or { tcp: true, fixtureSnapshot: true }
//   const client = new Agent({ connect: { socketPath: engine.socketPath } });
//   ... start the code under test with DOCKER_HOST = engine.dockerHost ...
//   await engine.waitForEventStream();                // events go only to streams already open
//   engine.run({ name: "web", healthcheck: true });   // create, connect, start
//   engine.setHealth("web", "healthy");               // health_status: healthy
//   const release = engine.holdInspect("web");        // inspect answers wait for release()
//   await engine.close();
import { mkdtemp, rm } from "node:fs/promises";
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { controlAnswer } from "./fake-engine-control.js";
import {
  buildEvent,
  type EngineEvent,
  EventRing,
  formatEventTime,
  parseEventsQuery,
  serializeEvent,
} from "./fake-engine-events.js";
import {
  type ApiProfile,
  atLeast152,
  type EngineFixtures,
  loadEngineFixtures,
  readFixtureText,
} from "./fake-engine-fixtures.js";
import {
  checkVersion,
  FailureRules,
  inspectAnswer,
  plainAnswer,
  writeAnswer,
  writeJson,
} from "./fake-engine-http.js";

import { randomId } from "./fake-engine-model.js";
import { FakeEngineModel } from "./fake-engine-ops.js";
import { FakeStats } from "./fake-engine-stats.js";
import { EventStreamHub, type EventStreamInfo } from "./fake-engine-streams.js";
import {
  type Answer,
  type InspectAnswerTime,
  type InspectHold,
  type InspectTarget,
  inspectMatcher,
  ResponseTiming,
  type TimedRequest,
} from "./fake-engine-timing.js";

const PING: Answer = { ping: true };
const NOT_FOUND: Answer = { status: 404, body: { message: "page not found" } };

export interface FakeEngineOptions {
  /** Listen on 127.0.0.1 port 0 instead of a unix socket. */
  tcp?: boolean;
  /** Highest API version served (default "1.41"); versioned paths above it get HTTP 400. */
  apiVersion?: string;
  /** Lowest API version served (default "1.12"). */
  minApiVersion?: string;
  /** /info `Name` (default "vm", the capture's). */
  name?: string;
  /** /info `ID` (default the capture's). */
  id?: string;
  /** Start with the captured containers (loadFixtureSnapshot()). */
  fixtureSnapshot?: boolean;
  /**
   * Serve a newer API's shapes (test/fixtures/docker-engine-api-<api>/, written from moby's
   * source): its /version, /info and inspect documents, and from 1.52 no legacy event fields and
   * `Health` in the list. The highest version served defaults to it.
   */
  api?: ApiProfile;
  /** Fields added to (or replacing) the captured /info, e.g. Podman's BuildahVersion. */
  info?: Record<string, unknown>;
}

export interface RecordedRequest {
  method: string;
  /** Path and query as sent, version prefix included. */
  path: string;
  headers: IncomingHttpHeaders;
}

export class FakeEngine extends FakeEngineModel {
  /** Every request received, in order. */
  readonly requests: RecordedRequest[] = [];
  /** Every event the model emitted (not raw writes or fixture replays), in order. */
  readonly history: EngineEvent[] = [];
  /** `GET /containers/{id}/stats`: set a container's load, delay answers, count requests. */
  readonly stats = new FakeStats();
  readonly #ring = new EventRing();
  readonly #streams = new EventStreamHub();
  readonly #sockets = new Set<Socket>();
  readonly #heldPings = new Set<ServerResponse>();
  readonly #failures = new FailureRules();
  readonly #timing = new ResponseTiming(writeAnswer);
  #server: Server | undefined;
  #port = 0;
  #refusing = false;
  #pingStall = false;
  #closed = false;
  #identity: { name: string; id: string };
  readonly #maxVersion: string;
  readonly #minVersion: string;

  private constructor(
    fixtures: EngineFixtures,
    options: FakeEngineOptions,
    readonly tempDir: string | undefined,
  ) {
    super(fixtures);
    // The fixtures are read afresh for every engine: changing them here touches no other.
    if (options.info) Object.assign(fixtures.info, options.info);
    this.#maxVersion = options.apiVersion ?? options.api ?? "1.41";
    this.#minVersion = options.minApiVersion ?? "1.12";
    this.#identity = {
      name: options.name ?? String(fixtures.info.Name),
      id: options.id ?? String(fixtures.info.ID),
    };
  }

  static async start(options: FakeEngineOptions = {}): Promise<FakeEngine> {
    const fixtures = await loadEngineFixtures(options.api);
    const dir = options.tcp ? undefined : await mkdtemp(join(tmpdir(), "fake-engine-"));
    const engine = new FakeEngine(fixtures, options, dir);
    if (options.fixtureSnapshot) engine.loadFixtureSnapshot();
    await engine.#listen();
    return engine;
  }

  /** The unix socket (undefined with `tcp`). */
  get socketPath(): string | undefined {
    return this.tempDir === undefined ? undefined : join(this.tempDir, "docker.sock");
  }

  /** `unix:///tmp/.../docker.sock` or `tcp://127.0.0.1:PORT`, as DOCKER_HOST takes it. */
  get dockerHost(): string {
    const path = this.socketPath;
    return path ? `unix://${path}` : `tcp://127.0.0.1:${this.#port}`;
  }

  /** `http://127.0.0.1:PORT`; with a unix socket `http://localhost` (use it with socketPath). */
  get url(): string {
    return this.socketPath ? "http://localhost" : `http://127.0.0.1:${this.#port}`;
  }

  /** /events streams open right now. */
  get openEventStreams(): number {
    return this.#streams.count;
  }

  /** Every /events stream opened so far. */
  get eventStreams(): readonly EventStreamInfo[] {
    return this.#streams.opened;
  }

  /** What `since` can still replay: the last 256 events. */
  get bufferedEvents(): readonly EngineEvent[] {
    return this.#ring.events;
  }

  /** The engine clock now, as `"<sec>.<nanos>"` for `since`/`until`. */
  timestamp(): string {
    return formatEventTime(this.clock.now());
  }

  /** Changes /info `Name`/`ID`, e.g. to make "a different engine" come back. */
  setIdentity(identity: { name?: string; id?: string }): void {
    this.#identity = { ...this.#identity, ...identity };
  }

  /**
   * Resolves when an /events stream is open (headers sent, replay written): by default the next
   * one; with `count`, the count-th since start (at once if already open).
   */
  waitForEventStream(options: { count?: number } = {}): Promise<EventStreamInfo> {
    return this.#streams.waitFor(options.count ?? this.#streams.opened.length + 1);
  }

  /** Writes text verbatim to every open /events stream (garbage, half a line...). */
  emitRaw(text: string | Uint8Array): void {
    this.#streams.raw(text);
  }

  /**
   * Drops every open /events stream without a terminating chunk (`graceful` ends it properly).
   * `midLine` first writes the first half of a container event line.
   */
  cutStreams(options: { midLine?: boolean; graceful?: boolean } = {}): Promise<void> {
    const line = serializeEvent(
      buildEvent(
        {
          Type: "container",
          Action: "die",
          Actor: { ID: randomId(), Attributes: { exitCode: "0", image: "x", name: "cut" } },
        },
        this.clock.now(),
        !atLeast152(this.fixtures.api),
      ),
    );
    const partial = options.midLine ? line.slice(0, Math.floor(line.length / 2)) : undefined;
    return this.#streams.cut({
      ...(partial === undefined ? {} : { partial }),
      ...(options.graceful ? { graceful: true } : {}),
    });
  }

  /** Holds back writes to the open streams; events still enter the replay ring. */
  stall(): void {
    this.#streams.stall();
  }

  /** Sends what the stall held back, or loses it with `drop` (as a slow subscriber would). */
  resume(options: { drop?: boolean } = {}): void {
    this.#streams.resume(options);
  }

  /**
   * The next `count` requests whose unversioned path starts with `pattern` (or matches the
   * RegExp, tested on unversioned path + query) get `status` with `{"message": message}`.
   */
  failNext(pattern: string | RegExp, status = 500, count = 1, message?: string): void {
    this.#failures.add(pattern, status, count, message ?? `fake engine: injected ${status}`);
  }

  /**
   * `true` closes the listener (a unix socket file disappears) and drops idle connections, so new
   * connections fail; open /events streams stay (cutStreams() them too for a daemon restart).
   * `false` listens again on the same socket path or port.
   */
  async refuseConnections(on: boolean): Promise<void> {
    if (on === this.#refusing || this.#closed) return;
    this.#refusing = on;
    if (on) {
      this.#server?.close();
      this.#server?.closeIdleConnections();
    } else {
      await this.#listen();
    }
  }

  /** While true, /_ping requests hang; setting it false answers them. */
  get pingStall(): boolean {
    return this.#pingStall;
  }

  set pingStall(on: boolean) {
    this.#pingStall = on;
    if (on) return;
    for (const res of [...this.#heldPings]) {
      this.#heldPings.delete(res);
      this.#timing.sendLate(res, PING);
    }
  }

  /**
   * A slow link: every answer except /events (its opening and its events) leaves `ms` after
   * the engine computed it, i.e. shows the state at request time. 0 turns it off.
   */
  setLatency(ms: number): void {
    this.#timing.setLatency(ms);
  }

  /**
   * Slows inspect answers by `ms` (on top of the latency): all, or one container's by `name`
   * or `id`. A late answer shows the container as it was when the request arrived, as a slow
   * daemon's would. Returns a function that removes the delay; the last matching delay wins.
   */
  delayInspect(options: InspectTarget & { ms: number }): () => void {
    return this.#timing.addDelay(inspectMatcher(options.name ?? options.id), options.ms);
  }

  /** Slows answers whose unversioned path starts with `path` (or matches the RegExp). */
  delayEndpoint(path: string | RegExp, ms: number): () => void {
    const matches = (req: TimedRequest): boolean =>
      typeof path === "string" ? req.path.startsWith(path) : path.test(req.path);
    return this.#timing.addDelay(matches, ms);
  }

  /**
   * Holds every inspect request for `target` (name, id or id prefix; all containers if
   * omitted) until the returned function is called. The answer shows the container as it was
   * at request time (default: the daemon read it, then the answer was late, so a container
   * destroyed meanwhile still shows up) or, with `answer: "release-time"`, as it is at release
   * (404 if destroyed by then). `await release.held()` waits until a request is held.
   */
  holdInspect(target?: string, options: { answer?: InspectAnswerTime } = {}): InspectHold {
    return this.#timing.addHold(inspectMatcher(target), options.answer ?? "request-time");
  }

  /**
   * Streams a capture's lines (file name in test/fixtures/docker-engine-20.10/, or an absolute
   * path) verbatim to every open /events stream, one write per line; touches no model or ring.
   */
  async replayFixture(file: string, options: { paceMs?: number } = {}): Promise<void> {
    const text = await readFixtureText(file);
    const lines = text.split("\n").filter((l) => l.length > 0);
    for (const [i, line] of lines.entries()) {
      if (i > 0 && options.paceMs) await this.#timing.pause(options.paceMs);
      if (this.#closed) return;
      this.#streams.raw(`${line}\n`);
    }
  }

  /** Destroys streams and connections, stops listening, removes the temp dir. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#timing.close();
    this.#streams.closeAll();
    for (const socket of this.#sockets) socket.destroy();
    const server = this.#server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (this.tempDir) await rm(this.tempDir, { recursive: true, force: true });
  }

  protected publish(ev: EngineEvent): void {
    this.#ring.push(ev);
    this.history.push(ev);
    this.#streams.publish(ev);
  }

  #listen(): Promise<void> {
    const server = createServer((req, res) => this.#handle(req, res));
    // dockerd (Go net/http) never closes idle keep-alive connections itself.
    server.keepAliveTimeout = 0;
    server.on("connection", (socket: Socket) => {
      this.#sockets.add(socket);
      socket.on("close", () => this.#sockets.delete(socket));
    });
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      const done = (): void => {
        server.off("error", reject);
        this.#port = (server.address() as AddressInfo | null)?.port ?? this.#port;
        resolve();
      };
      const path = this.socketPath;
      if (path) server.listen(path, done);
      else server.listen(this.#port, "127.0.0.1", done);
    });
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const method = req.method ?? "GET";
    const raw = req.url ?? "/";
    this.requests.push({ method, path: raw, headers: req.headers });
    if (this.#refusing || this.#closed) {
      req.socket.destroy();
      return;
    }
    const url = new URL(raw, "http://engine");
    const versioned = /^\/v([0-9.]+)(\/.*)$/.exec(url.pathname);
    const version = versioned?.[1] ?? this.#maxVersion;
    const path = versioned?.[2] ?? url.pathname;
    res.setHeader("Api-Version", this.#maxVersion);
    res.setHeader("Docker-Experimental", "false");
    res.setHeader("Ostype", "linux");
    res.setHeader("Server", `Docker/${String(this.fixtures.version.Version)} (linux)`);
    const failure = this.#failures.take(path, url.search);
    const versionError = checkVersion(version, this.#minVersion, this.#maxVersion);
    if (failure)
      this.#reply(res, path, { status: failure.status, body: { message: failure.message } });
    else if (versionError) this.#reply(res, path, { status: 400, body: { message: versionError } });
    else this.#route(method, path, url.searchParams, raw, res);
  }

  /** Every answer goes out through the timing rules, except those of /events. */
  #reply(res: ServerResponse, path: string, answer: Answer): void {
    if (path === "/events") writeAnswer(res, answer);
    else this.#timing.send(res, { path }, answer);
  }

  #route(method: string, path: string, query: URLSearchParams, raw: string, res: ServerResponse) {
    const inspect = /^\/containers\/([^/]+)\/json$/.exec(path);
    const stats = /^\/containers\/([^/]+)\/stats$/.exec(path);
    if (path === "/_ping" && (method === "GET" || method === "HEAD")) {
      if (!this.#pingStall) this.#reply(res, path, PING);
      else {
        this.#heldPings.add(res);
        res.on("close", () => this.#heldPings.delete(res));
      }
    } else if (method === "POST") {
      this.#reply(res, path, controlAnswer(this, path) ?? NOT_FOUND);
    } else if (method !== "GET") {
      this.#reply(res, path, NOT_FOUND);
    } else if (path === "/events") {
      this.#events(query, raw, res);
    } else if (stats) {
      const param = decodeURIComponent(stats[1] ?? "");
      void this.stats
        .answer(() => this.container(param), param)
        .then((answer) => this.#reply(res, path, answer));
    } else if (/^\/exec\/[^/]+\/json$/.test(path)) {
      this.#reply(res, path, this.#execAnswer(decodeURIComponent(path.split("/")[2] ?? "")));
    } else if (inspect) {
      const param = decodeURIComponent(inspect[1] ?? "");
      const c = this.container(param);
      const answer = (): Answer => inspectAnswer(this.container(param), param, this.fixtures);
      const req = { path, inspect: { param, id: c?.id, name: c?.name }, recompute: answer };
      this.#timing.send(res, req, answer());
    } else {
      const engine = { fixtures: this.fixtures, identity: this.#identity, now: this.clock.now() };
      const versions = { max: this.#maxVersion, min: this.#minVersion };
      const all = [...this.containers.values()];
      const requestVersion = /^\/v([0-9.]+)\//.exec(raw)?.[1] ?? this.#maxVersion;
      const state = {
        ...engine,
        versions,
        containers: all,
        listeners: this.openEventStreams,
        requestVersion,
      };
      this.#reply(res, path, plainAnswer(path, query, state));
    }
  }

  /** `GET /exec/{id}/json` (moby api/types ExecInspect, the fields the bridge reads). */
  #execAnswer(id: string): Answer {
    const exec = this.execs.get(id);
    if (!exec) return { status: 404, body: { message: `No such exec instance: ${id}` } };
    return {
      status: 200,
      body: {
        ID: id,
        Running: exec.exitCode === null,
        ExitCode: exec.exitCode,
        ProcessConfig: {
          tty: false,
          entrypoint: exec.entrypoint,
          arguments: exec.args,
          privileged: false,
        },
        ContainerID: exec.containerId,
        Pid: 0,
      },
    };
  }

  #events(query: URLSearchParams, raw: string, res: ServerResponse): void {
    const parsed = parseEventsQuery(query);
    if (typeof parsed === "string") {
      writeJson(res, 400, { message: parsed });
      return;
    }
    const { since, until, filter } = parsed;
    // moby's getEvents: application/jsonl from API 1.52, application/json before.
    const version = /^\/v([0-9.]+)\//.exec(raw)?.[1] ?? this.#maxVersion;
    const jsonl = atLeast152(this.fixtures.api) && atLeast152(version);
    res.writeHead(200, { "Content-Type": jsonl ? "application/jsonl" : "application/json" });
    res.flushHeaders();
    const info = {
      url: raw,
      since: query.get("since"),
      until: query.get("until"),
      filters: query.get("filters"),
    };
    const replay = this.#ring.replay(since, until, filter);
    this.#streams.open(res, info, filter, until, replay, this.clock.now());
  }
}
