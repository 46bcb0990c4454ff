// The events client: one engine's typed event stream, with the same lossless behaviour the bridge
// relies on (backoff, resume with `since`, reconcile with a snapshot), subscriptions, an async
// iterator, the latest event per type, and optionally the live container model.
import { readFileSync } from "node:fs";
import { type Logger, pino } from "pino";
import { DockerClient, type EngineEndpoint, endpointFromDockerHost } from "../docker/client.js";
import type { EngineEvent } from "../docker/events.js";
import { PortainerClient } from "../docker/portainer.js";
import type { EngineInfo } from "../docker/schemas.js";
import { takeSnapshot } from "../docker/snapshot.js";
import {
  EngineWatcher,
  type WatcherSink,
  type WatcherStats,
  type WatcherStatus,
} from "../docker/watcher.js";
import { type BridgeError, DockerError } from "../errors.js";
import { ContainerModel } from "../state/container-model.js";
import type { ContainerRecord } from "../state/model.js";
import { type DockerEvent, type EventType, toDockerEvent } from "./events.js";

export interface PortainerTarget {
  url: string;
  /** The access token; or `apiKeyFile`. */
  apiKey?: string;
  apiKeyFile?: string;
  environmentId: number;
  rejectUnauthorized?: boolean;
}

export interface DockerEventsOptions {
  /** A DOCKER_HOST-style address; default `DOCKER_HOST` or the local socket. */
  host?: string;
  tlsVerify?: boolean;
  certPath?: string;
  /** Follow an engine through Portainer instead of `host`. */
  portainer?: PortainerTarget;
  /** Filters the engine applies (`type`, `event`, `container`, `label`, `image`...). */
  filters?: Record<string, string[]>;
  /** Start from this time instead of now (the engine replays at most its last 256 events). */
  since?: Date;
  /** Keep the live container model (`containers`); off saves the memory when only events matter. */
  model?: boolean;
  /** Receives the snapshot and raw events before subscribers (the bridge is attached this way). */
  sink?: WatcherSink;
  /** An Engine API client to use instead of `host` / `portainer`; the caller closes it. */
  client?: DockerClient;
  /** How long the stream may be silent before the engine is asked whether it missed events. */
  watchdogMs?: number;
  /**
   * Leave out healthcheck probes' exec_create/exec_start/exec_die, recognised before they are
   * parsed: a container's healthcheck command as exec events show it (`/bin/sh -c curl -f ...`),
   * null without one. A user's own `docker exec` still arrives. `stats.probeExecsSkipped` counts them.
   */
  skipProbeExecs?: (containerName: string) => string | null | undefined;
  reconnect?: { baseMs?: number; maxMs?: number };
  logger?: Logger;
}

export type ConnectionStatus = WatcherStatus;
export type Unsubscribe = () => void;

interface Subscription {
  accepts: (event: DockerEvent) => boolean;
  handler: (event: DockerEvent) => void;
}

function sinceOf(date: Date): string {
  const ms = date.getTime();
  return `${Math.floor(ms / 1000)}.${String((ms % 1000) * 1_000_000).padStart(9, "0")}`;
}

function endpointOf(options: DockerEventsOptions): {
  endpoint: EngineEndpoint;
  portainer?: PortainerClient;
} {
  const p = options.portainer;
  if (p) {
    const apiKey = p.apiKeyFile ? readFileSync(p.apiKeyFile, "utf8").trim() : (p.apiKey ?? "");
    const portainer = new PortainerClient({
      url: p.url,
      apiKey,
      tls: { rejectUnauthorized: p.rejectUnauthorized ?? true },
    });
    return { endpoint: portainer.endpointFor(p.environmentId), portainer };
  }
  const host = options.host ?? process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock";
  return {
    endpoint: endpointFromDockerHost(host, {
      tlsVerify: options.tlsVerify ?? process.env.DOCKER_TLS_VERIFY === "1",
      certPath: options.certPath ?? process.env.DOCKER_CERT_PATH ?? "",
    }),
  };
}

/** How far an events() iterator may fall behind before the oldest events are dropped. */
const DEFAULT_MAX_QUEUED = 10_000;

const NO_CONTAINERS: ReadonlyMap<string, ContainerRecord> = new Map();

export class DockerEvents implements AsyncIterable<DockerEvent> {
  readonly #options: DockerEventsOptions;
  readonly #client: DockerClient;
  readonly #portainer: PortainerClient | undefined;
  readonly #ownsClient: boolean;
  readonly #watcher: EngineWatcher;
  readonly #subscriptions = new Set<Subscription>();
  readonly #statusHandlers = new Set<(status: ConnectionStatus) => void>();
  readonly #errorHandlers = new Set<(error: BridgeError) => void>();
  /** The latest raw event per engine type. */
  readonly #latest = new Map<string, EngineEvent>();
  /** Ends open async iterators on close(). */
  readonly #closeWatchers = new Set<() => void>();
  /** The live container model, with the bridge's own safeguards (`model: true`). */
  readonly #model: ContainerModel | undefined;
  #info: EngineInfo | undefined;
  #firstConnect: { resolve: () => void } | undefined;
  #started = false;
  #closed: Promise<void> | undefined;

  constructor(options: DockerEventsOptions = {}) {
    this.#options = options;
    if (options.client) {
      this.#client = options.client;
      this.#ownsClient = false;
    } else {
      const { endpoint, portainer } = endpointOf(options);
      this.#client = new DockerClient(endpoint);
      this.#portainer = portainer;
      this.#ownsClient = true;
    }
    const log = options.logger ?? pino({ level: "silent" });
    if (options.model === true) {
      const client = this.#client;
      this.#model = new ContainerModel({ inspect: (id) => client.inspectContainer(id), log });
    }
    this.#watcher = new EngineWatcher({
      api: this.#client,
      sink: this.#sink(),
      log,
      ...(options.filters ? { filters: options.filters } : {}),
      ...(options.since ? { since: sinceOf(options.since) } : {}),
      ...(options.watchdogMs !== undefined ? { watchdogMs: options.watchdogMs } : {}),
      ...(options.skipProbeExecs ? { skipProbeExecs: options.skipProbeExecs } : {}),
      ...(options.reconnect?.baseMs !== undefined
        ? { reconnectBaseMs: options.reconnect.baseMs }
        : {}),
      ...(options.reconnect?.maxMs !== undefined
        ? { reconnectMaxMs: options.reconnect.maxMs }
        : {}),
      onStatus: (status) => {
        if (status.state === "connected") this.#firstConnect?.resolve();
        for (const h of this.#statusHandlers) h(status);
      },
      onError: (error) => {
        for (const h of this.#errorHandlers) h(error);
      },
    });
  }

  /** Events received and invalid, reconnects. */
  get stats(): Readonly<WatcherStats> {
    return this.#watcher.stats;
  }

  /** True while the event stream is followed. */
  get connected(): boolean {
    return this.#watcher.connected;
  }

  /** The engine's /info from the last connection. */
  get engine(): EngineInfo | undefined {
    return this.#info;
  }

  /** Starts following; resolves once the first snapshot is in and the stream is live. */
  async connect(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const connected = new Promise<void>((resolve) => {
      this.#firstConnect = { resolve };
    });
    this.#watcher.start();
    await connected;
  }

  /** Stops following and releases every socket and timer. */
  async close(): Promise<void> {
    if (this.#closed !== undefined) return this.#closed;
    this.#closed = this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#firstConnect?.resolve();
    this.#model?.stop();
    await this.#watcher.stop();
    if (this.#ownsClient) await this.#client.close();
    await this.#portainer?.close();
    this.#subscriptions.clear();
    for (const finish of this.#closeWatchers) finish();
    this.#closeWatchers.clear();
  }

  /** Every event, or those of one type (and action), or those a predicate accepts. */
  on(handler: (event: DockerEvent) => void): Unsubscribe;
  on<T extends EventType>(
    type: T,
    handler: (event: Extract<DockerEvent, { type: T }>) => void,
    action?: string,
  ): Unsubscribe;
  on(
    typeOrHandler: string | ((event: DockerEvent) => void),
    handler?: (event: never) => void,
    action?: string,
  ): Unsubscribe {
    if (typeof typeOrHandler === "function") return this.subscribe(() => true, typeOrHandler);
    const type = typeOrHandler;
    return this.subscribe(
      (e) => e.type === type && (action === undefined || e.rawAction === action),
      handler as (event: DockerEvent) => void,
    );
  }

  /** Events the predicate accepts. */
  subscribe(
    predicate: (event: DockerEvent) => boolean,
    handler: (event: DockerEvent) => void,
  ): Unsubscribe {
    const sub: Subscription = { accepts: predicate, handler };
    this.#subscriptions.add(sub);
    return () => {
      this.#subscriptions.delete(sub);
    };
  }

  onStatus(handler: (status: ConnectionStatus) => void): Unsubscribe {
    this.#statusHandlers.add(handler);
    return () => this.#statusHandlers.delete(handler);
  }

  onError(handler: (error: BridgeError) => void): Unsubscribe {
    this.#errorHandlers.add(handler);
    return () => this.#errorHandlers.delete(handler);
  }

  /** Called after every reconnect; `possibleGap` when events may have been missed meanwhile. */
  onReconcile(handler: (info: { possibleGap: boolean }) => void): Unsubscribe {
    return this.onStatus((status) => {
      if (status.state === "connected" && status.resumed)
        handler({ possibleGap: status.possibleGap });
    });
  }

  /** The latest event seen of a type. */
  latest<T extends EventType>(type: T): Extract<DockerEvent, { type: T }> | undefined {
    const raw = this.#latest.get(type);
    return raw ? (toDockerEvent(raw) as Extract<DockerEvent, { type: T }>) : undefined;
  }

  /** The live container model, by name (needs `model: true`). */
  get containers(): ReadonlyMap<string, ContainerRecord> {
    return this.#model?.records ?? NO_CONTAINERS;
  }

  /** A fresh snapshot of every container (list, then inspect), independent of the stream. */
  async snapshot(signal?: AbortSignal): Promise<ContainerRecord[]> {
    if (!this.#client.apiVersion) await this.#client.negotiate(signal);
    return takeSnapshot(this.#client, signal ? { signal } : {});
  }

  /**
   * Events as an async iterator (`for await`); ends when the loop breaks or close() is called.
   * A consumer that falls more than `maxQueued` events behind (default 10,000) loses the oldest:
   * the stream is never slowed down (the engine would drop events itself), and each time the
   * queue overflows the error handlers hear an `EVENTS_DROPPED` error.
   */
  events(
    predicate: (event: DockerEvent) => boolean = () => true,
    options: { maxQueued?: number } = {},
  ): AsyncIterableIterator<DockerEvent> {
    const maxQueued = Math.max(1, options.maxQueued ?? DEFAULT_MAX_QUEUED);
    /** Events not read yet from `head` on; slots before it are read or dropped (and emptied). */
    const queue: (DockerEvent | undefined)[] = [];
    let head = 0;
    /** Set from an overflow until the consumer has caught up: one report per overflow. */
    let overflowing = false;
    let wake: (() => void) | undefined;
    let done = false;
    // Read positions move forward; the array is cut down once half of it has been read (or
    // dropped), so neither end costs O(n) per event and memory stays bounded by maxQueued.
    const compact = () => {
      if (head > 1024 && head * 2 > queue.length) {
        queue.splice(0, head);
        head = 0;
      }
    };
    const unsubscribe = this.subscribe(predicate, (event) => {
      if (queue.length - head >= maxQueued) {
        queue[head] = undefined;
        head++;
        compact();
        if (!overflowing) this.#reportDropped(maxQueued);
        overflowing = true;
      }
      queue.push(event);
      wake?.();
    });
    const finish = () => {
      done = true;
      unsubscribe();
      wake?.();
    };
    const closing = this.#closeWatchers;
    closing.add(finish);
    const iterator: AsyncIterableIterator<DockerEvent> = {
      next: async () => {
        while (queue.length === head && !done) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
        }
        const value = queue[head];
        if (value === undefined) return { done: true, value: undefined };
        queue[head] = undefined;
        head++;
        compact();
        if (head === queue.length) overflowing = false;
        return { done: false, value };
      },
      return: async () => {
        queue.length = 0;
        head = 0;
        finish();
        closing.delete(finish);
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  /** Once per overflow: a slow iterator loses events. */
  #reportDropped(maxQueued: number): void {
    const error = new DockerError(
      "EVENTS_DROPPED",
      `an events() iterator fell ${maxQueued} events behind; dropping the oldest until it catches up`,
    );
    for (const h of this.#errorHandlers) h(error);
  }

  [Symbol.asyncIterator](): AsyncIterator<DockerEvent> {
    return this.events();
  }

  #sink(): WatcherSink {
    const outer = this.#options.sink;
    return {
      connected: (info, apiVersion) => {
        this.#info = info;
        outer?.connected(info, apiVersion);
      },
      snapshot: (records) => {
        this.#model?.applySnapshot(records);
        outer?.snapshot(records);
      },
      disconnected: (reason) => outer?.disconnected(reason),
      probeSkipped: () => outer?.probeSkipped?.(),
      event: (raw: EngineEvent) => {
        outer?.event(raw);
        this.#model?.applyEvent(raw);
        // Kept raw and typed on demand: the bridge subscribes to nothing and should not pay for it.
        this.#latest.set(raw.type, raw);
        if (this.#subscriptions.size === 0) return;
        const event = toDockerEvent(raw);
        for (const sub of this.#subscriptions) {
          if (sub.accepts(event)) sub.handler(event);
        }
      },
    };
  }
}
