// The MQTT side: one connection with a last will, retained state (kept by RetainedStore) sent
// only when it differs from what the broker has, newest-wins coalescing when the broker is slow,
// bounded event queue, a timeout on every publish, and a full republish on every (re)connect
// instead of replaying a backlog.
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import type { Logger } from "pino";
import { describeError } from "../errors.js";
import { diagnoseBroker, redactBroker } from "./diagnose.js";
import { Echoes } from "./echoes.js";
import { ALL_PRIORITIES, type Priority, RetainedStore } from "./retained-store.js";
import { topicMatches } from "./topic-match.js";

export { PRIORITY, type Priority } from "./retained-store.js";
export { redactBroker };

export interface PublisherOptions {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  /** Retained last will, e.g. the availability topic with `offline`. */
  will: { topic: string; payload: string };
  protocolVersion?: 4 | 5;
  publishTimeoutMs?: number;
  /** Publishes awaiting their acknowledgement at once. */
  maxInFlight?: number;
  /** Events waiting while the broker is slow; more are dropped and counted. */
  maxQueuedEvents?: number;
  reconnectMaxMs?: number;
  tls?: { ca?: string; cert?: string; key?: string; rejectUnauthorized?: boolean };
  log: Logger;
  /** Told of every publish that settled (for metrics). */
  observer?: PublishObserver;
}

/** Publishes awaiting acknowledgement at once; the event queue bound comes on top. */
export const DEFAULT_MAX_IN_FLIGHT = 256;
export const DEFAULT_MAX_QUEUED_EVENTS = 1000;

export type PublishKind = "availability" | "discovery" | "state" | "event";

export interface PublishObserver {
  /**
   * A publish settled. `seconds`: for events, from publishEvent() to the broker taking the message;
   * for retained messages, from the send to the broker's acknowledgement.
   */
  settled(kind: PublishKind, ok: boolean, seconds: number): void;
}

const KIND_OF_PRIORITY: readonly PublishKind[] = [
  "availability",
  "discovery",
  "discovery",
  "discovery",
  "state",
];

export interface PublisherStats {
  published: number;
  publishFailures: number;
  eventsDropped: number;
  reconnects: number;
}

export type MessageHandler = (topic: string, payload: Buffer, retained: boolean) => void;

/** What the bridge needs from the MQTT side. */
export interface Publisher {
  readonly connected: boolean;
  setRetained(topic: string, payload: string, priority: Priority): void;
  clearRetained(topic: string, priority: Priority): void;
  retained(topic: string): string | undefined;
  /** Stops holding a retained topic without publishing anything to it. */
  forget(topic: string): void;
  publishEvent(topic: string, payload: string): void;
  /** Sends the held retained topics again, in priority order (default: all of them). */
  republish(priorities?: readonly Priority[]): void;
  /**
   * Sends one message now, outside the held state, and resolves true once the broker has
   * acknowledged it (false if it could not be sent): for sequences whose order matters on the
   * wire across topics, such as Home Assistant's discovery migration.
   */
  publishNow(topic: string, payload: string, retain: boolean): Promise<boolean>;
  /** Keeps a retained topic from being sent (its wanted value is still kept) until released. */
  hold(topic: string): void;
  /** Sends a held topic as usual again, unless the broker already has its wanted value. */
  release(topic: string): void;
  /** QoS 0 unless asked: commands are subscribed with QoS 1 so none is lost on the way in. */
  subscribe(filter: string, handler: MessageHandler, options?: { qos: 0 | 1 }): void;
  unsubscribe(filter: string): void;
  onConnect(handler: () => void): void;
}

export class MqttPublisher implements Publisher {
  readonly #opts: Required<
    Pick<
      PublisherOptions,
      "publishTimeoutMs" | "maxInFlight" | "maxQueuedEvents" | "reconnectMaxMs"
    >
  > &
    PublisherOptions;
  readonly #log: Logger;
  #client: MqttClient | undefined;
  readonly #retained = new RetainedStore();
  /** Our own publishes echoed by the broker are not handed to subscribers (see echoes.ts). */
  readonly #echoes = new Echoes();
  #events: { topic: string; payload: string; at: number }[] = [];
  #inFlight = 0;
  #connected = false;
  #stopping = false;
  #reconnectDelay = 1000;
  #reconnectTimer: NodeJS.Timeout | undefined;
  /** The kind of connection failure last logged; a repeat goes to debug until something changes. */
  #lastProblem: string | undefined;
  readonly #subscriptions: { filter: string; handler: MessageHandler; qos: 0 | 1 }[] = [];
  readonly #connectHandlers: (() => void)[] = [];
  readonly stats: PublisherStats = {
    published: 0,
    publishFailures: 0,
    eventsDropped: 0,
    reconnects: 0,
  };

  constructor(options: PublisherOptions) {
    this.#opts = {
      publishTimeoutMs: 10_000,
      maxInFlight: DEFAULT_MAX_IN_FLIGHT,
      maxQueuedEvents: DEFAULT_MAX_QUEUED_EVENTS,
      reconnectMaxMs: 30_000,
      ...options,
    };
    this.#log = options.log;
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** Connects in the background; keeps trying with capped backoff until stop(). */
  start(): void {
    const o = this.#opts;
    const options: IClientOptions = {
      clientId: o.clientId,
      clean: true,
      keepalive: 30,
      // mqtt.js would retry every period forever; the backoff below reconnects instead.
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      reconnectOnConnackError: true,
      queueQoSZero: false,
      // mqtt.js resubscribes only with its own reconnects (reconnectPeriod > 0): #onConnect does.
      resubscribe: false,
      protocolVersion: o.protocolVersion ?? 4,
      // mqtt-packet's default fills a cache of all 65,536 two-byte packet ids as Buffers at the
      // first publish (6 MiB of heap, measured in a heap snapshot) to save one 2-byte allocation
      // per packet; the bridge sends a few messages a minute when idle.
      writeCache: false,
      will: { topic: o.will.topic, payload: Buffer.from(o.will.payload), qos: 1, retain: true },
    };
    if (o.username) options.username = o.username;
    if (o.password) options.password = o.password;
    if (o.tls) Object.assign(options, o.tls);
    const client = mqtt.connect(o.url, options);
    this.#client = client;
    client.on("connect", () => this.#onConnect());
    client.on("close", () => this.#onClose());
    client.on("error", (err) => this.#onError(err));
    client.on("message", (topic, payload, packet) => {
      if (this.#echoes.received(topic, payload.toString())) return;
      for (const sub of this.#subscriptions) {
        if (topicMatches(sub.filter, topic)) sub.handler(topic, payload, packet.retain);
      }
    });
  }

  /** Sets what a retained topic should hold; sent only if it differs from what the broker has. */
  setRetained(topic: string, payload: string, priority: Priority): void {
    if (this.#retained.set(topic, payload, priority)) this.#flush();
  }

  /** Clears a retained topic with an empty payload, then forgets it. */
  clearRetained(topic: string, priority: Priority): void {
    if (this.#retained.clear(topic, priority)) this.#flush();
  }

  /** The retained payload the bridge wants on a topic, if any. */
  retained(topic: string): string | undefined {
    return this.#retained.retained(topic);
  }

  forget(topic: string): void {
    this.#retained.forget(topic);
  }

  /** A non-retained message; dropped (and counted) while disconnected or backed up. */
  publishEvent(topic: string, payload: string): void {
    if (!this.#connected || this.#events.length >= this.#opts.maxQueuedEvents) {
      this.stats.eventsDropped++;
      return;
    }
    this.#events.push({ topic, payload, at: performance.now() });
    this.#flush();
  }

  /** Sends every desired retained topic of the given priorities again (Home Assistant's birth). */
  republish(priorities: readonly Priority[] = ALL_PRIORITIES): void {
    // Mark everything first, then flush once, so the priorities order what goes out.
    this.#retained.republish(priorities);
    this.#flush();
  }

  publishNow(topic: string, payload: string, retain: boolean): Promise<boolean> {
    const client = this.#client;
    if (!client || !this.#connected) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), this.#opts.publishTimeoutMs);
      client.publish(topic, payload, { qos: 1, retain }, (err) => {
        clearTimeout(timer);
        if (!err && retain) this.#retained.acknowledgedNow(topic, payload);
        resolve(!err);
      });
    });
  }

  hold(topic: string): void {
    this.#retained.hold(topic);
  }

  release(topic: string): void {
    if (this.#retained.release(topic)) this.#flush();
  }

  subscribe(filter: string, handler: MessageHandler, options?: { qos: 0 | 1 }): void {
    const qos = options?.qos ?? 0;
    this.#subscriptions.push({ filter, handler, qos });
    // While offline, the next connect subscribes to every filter (a clean session keeps none).
    if (this.#connected) this.#subscribeTo([filter], qos);
  }

  unsubscribe(filter: string): void {
    const at = this.#subscriptions.findIndex((s) => s.filter === filter);
    if (at !== -1) this.#subscriptions.splice(at, 1);
    if (this.#connected) this.#client?.unsubscribe(filter);
  }

  #subscribeTo(filters: string[], qos: 0 | 1): void {
    this.#client?.subscribe(filters, { qos }, (err) => {
      if (!err) return;
      // A connection that closes fails every pending subscribe ("Connection closed"): that is the
      // connection's problem, logged once, and the next connect subscribes again.
      const level = this.#connected && !this.#stopping ? "warn" : "debug";
      this.#log[level]({ filters, err: describeError(err) }, "MQTT subscribe failed");
    });
  }

  onConnect(handler: () => void): void {
    this.#connectHandlers.push(handler);
  }

  /** Resolves once nothing is waiting to be sent (or the timeout passes). */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.#connected && this.#pending() === 0 && this.#inFlight === 0) return true;
      await new Promise((r) => setTimeout(r, 10));
    }
    return false;
  }

  /** Publishes the final retained messages given (e.g. `offline`), then disconnects. */
  async stop(final: { topic: string; payload: string }[] = [], timeoutMs = 3000): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    const client = this.#client;
    if (!client) return;
    if (this.#connected) {
      await Promise.all(
        final.map(
          (m) =>
            new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, timeoutMs);
              client.publish(m.topic, m.payload, { qos: 1, retain: true }, () => {
                clearTimeout(timer);
                resolve();
              });
            }),
        ),
      );
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        client.end(true);
        resolve();
      }, timeoutMs);
      client.end(false, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #pending(): number {
    return this.#retained.pending() + this.#events.length;
  }

  #onConnect(): void {
    this.#connected = true;
    // Small publishes must not wait for the broker's delayed ACK (Nagle): that cost up to 40 ms.
    const stream = this.#client?.stream as { setNoDelay?: (on: boolean) => void } | undefined;
    stream?.setNoDelay?.(true);
    this.#reconnectDelay = 1000;
    this.#lastProblem = undefined;
    this.#log.info({ broker: redactBroker(this.#opts.url) }, "connected to MQTT broker");
    // A broker restarted without persistence has lost our retained messages: send all again.
    this.#retained.reconnected();
    for (const qos of [0, 1] as const) {
      const subs = this.#subscriptions.filter((sub) => sub.qos === qos);
      const filters = [...new Set(subs.map((sub) => sub.filter))];
      if (filters.length > 0) this.#subscribeTo(filters, qos);
    }
    for (const handler of this.#connectHandlers) handler();
    this.#flush();
  }

  /** The first failure of a kind says the cause and the fix (as --check does); repeats are debug. */
  #onError(err: unknown): void {
    const broker = redactBroker(this.#opts.url);
    const problem = diagnoseBroker(err, this.#opts.url);
    const repeat = problem.kind === this.#lastProblem;
    this.#lastProblem = problem.kind;
    const fields = { broker, err: describeError(err), problem: problem.text };
    if (repeat) this.#log.debug(fields, "MQTT connection failed again");
    else this.#log.error(fields, "MQTT connection failed");
  }

  #onClose(): void {
    const wasConnected = this.#connected;
    this.#connected = false;
    this.#events = [];
    this.#echoes.clear();
    if (this.#stopping) return;
    if (wasConnected) {
      this.stats.reconnects++;
      this.#log.warn(
        { broker: redactBroker(this.#opts.url) },
        "MQTT connection lost; reconnecting",
      );
    }
    // Capped exponential backoff with jitter, so a refusing broker is not hammered.
    if (this.#reconnectTimer) return;
    const delay = Math.min(this.#reconnectDelay, this.#opts.reconnectMaxMs);
    this.#reconnectDelay = Math.min(this.#reconnectDelay * 2, this.#opts.reconnectMaxMs);
    this.#reconnectTimer = setTimeout(
      () => {
        this.#reconnectTimer = undefined;
        // reconnect() without options gives mqtt.js a fresh outgoing store: publishes that timed
        // out are not resent ahead of the republish (old values after newer ones).
        if (!this.#stopping) this.#client?.reconnect();
      },
      Math.round(delay * (0.8 + Math.random() * 0.4)),
    );
  }

  #flush(): void {
    const client = this.#client;
    if (!client || !this.#connected) return;
    while (this.#inFlight < this.#opts.maxInFlight) {
      const next = this.#retained.next();
      if (next) {
        this.#send(client, next.topic, next.payload, true);
        continue;
      }
      const event = this.#events.shift();
      if (!event) return;
      this.#send(client, event.topic, event.payload, false, event.at);
    }
  }

  #send(
    client: MqttClient,
    topic: string,
    payload: string,
    retain: boolean,
    since = performance.now(),
  ): void {
    this.#inFlight++;
    let settled = false;
    const settle = (err?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      this.#inFlight--;
      this.#opts.observer?.settled(
        retain ? (KIND_OF_PRIORITY[this.#retained.priorityOf(topic)] ?? "state") : "event",
        !err,
        (performance.now() - since) / 1000,
      );
      if (err) {
        this.stats.publishFailures++;
        this.#log.warn({ topic, err: describeError(err) }, "MQTT publish failed");
        // The broker will get the newest value on reconnect (or on the next try).
        if (retain) this.#retained.failed(topic, payload, this.#connected);
      } else {
        this.stats.published++;
        if (retain) this.#retained.acknowledged(topic, payload);
      }
      this.#flush();
    };
    const timer = setTimeout(
      () => settle(new Error(`no acknowledgement within ${this.#opts.publishTimeoutMs} ms`)),
      this.#opts.publishTimeoutMs,
    );
    // Events at QoS 1 too: mqtt.js writes QoS 0 at once but QoS 1 a tick later, which would let
    // an event overtake the discovery config it follows.
    if (retain) this.#retained.sending(topic, payload);
    if (this.#subscriptions.some((sub) => topicMatches(sub.filter, topic)))
      this.#echoes.sent(topic, payload);
    client.publish(topic, payload, { qos: 1, retain }, (err) => settle(err));
  }
}
