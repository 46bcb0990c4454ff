// What the resilience and hostile-input tests need beyond harness.ts: the same set-up with the
// bridge's log lines captured (to assert what an operator reads), a broker with aedes hooks
// (refused credentials, slow or unacknowledged publishes) that can be stopped and started again on
// its port, and a free port with nothing listening.
import { createServer, type Server } from "node:net";
import { Writable } from "node:stream";
import { Aedes, type AedesOptions } from "aedes";
import type { Logger } from "pino";
import { loadConfig } from "../../src/config/loader.js";
import { Topics } from "../../src/homeassistant/topics.js";
import { createLogger } from "../../src/runtime/log.js";
import { type Service, type ServiceOptions, startService } from "../../src/runtime/service.js";
import { FakeEngine, type FakeEngineOptions } from "./fake-engine.js";
import { Recorder } from "./recorder.js";

export type LogLine = Record<string, unknown> & { level: number; msg: string };

/** A pino destination keeping every line, parsed, with condition waits. */
export class LogCapture extends Writable {
  readonly lines: LogLine[] = [];
  #waiters: (() => void)[] = [];

  constructor() {
    super({ decodeStrings: false });
  }

  override _write(chunk: unknown, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    for (const text of String(chunk).split("\n")) {
      if (text.trim() !== "") this.lines.push(JSON.parse(text) as LogLine);
    }
    for (const w of [...this.#waiters]) w();
    done();
  }

  /** Lines whose message matches, optionally with a field predicate. */
  find(msg: RegExp, where: (line: LogLine) => boolean = () => true): LogLine[] {
    return this.lines.filter((l) => msg.test(l.msg) && where(l));
  }

  /** All lines as one text, for "this secret never appears" checks. */
  text(): string {
    return this.lines.map((l) => JSON.stringify(l)).join("\n");
  }

  waitFor(description: string, predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== check);
        const tail = this.lines
          .slice(-10)
          .map((l) => `  ${l.msg} ${JSON.stringify(l).slice(0, 200)}`)
          .join("\n");
        reject(new Error(`timed out waiting for log: ${description}\nlast lines:\n${tail}`));
      }, timeoutMs);
      const check = () => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((w) => w !== check);
        resolve();
      };
      this.#waiters.push(check);
    });
  }
}

/** Polls a condition that no message or log line announces (bridge model, counters). */
export async function waitUntil(
  description: string,
  predicate: () => boolean,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${description}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A port nothing listens on (yet). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export type BrokerHooks = Pick<AedesOptions, "authenticate" | "authorizePublish">;

export interface HookedBroker {
  url: string;
  port: number;
  aedes: Aedes;
  /** CONNECT packets received (every connection attempt that got as far as MQTT). */
  readonly connects: number;
  close(): Promise<void>;
}

/**
 * An aedes broker on 127.0.0.1 (port 0: a free one) with optional authentication/publish hooks,
 * holding `retained` messages (what an earlier run left) before it accepts any connection.
 */
export async function startHookedBroker(
  port = 0,
  hooks: BrokerHooks = {},
  retained: Record<string, string> = {},
): Promise<HookedBroker> {
  let connects = 0;
  const aedes = await Aedes.createBroker({
    ...hooks,
    preConnect: (_client, _packet, done) => {
      connects++;
      done(null, true);
    },
  });
  for (const [topic, payload] of Object.entries(retained)) {
    const packet = { cmd: "publish", topic, payload, qos: 0, retain: true, dup: false } as const;
    await new Promise<void>((resolve) => aedes.publish(packet, () => resolve()));
  }
  const server: Server = createServer(aedes.handle);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  const actual = typeof address === "object" && address ? address.port : port;
  const broker: HookedBroker = {
    url: `mqtt://127.0.0.1:${actual}`,
    port: actual,
    aedes,
    get connects() {
      return connects;
    },
    async close() {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return broker;
}

export interface Kit {
  engine: FakeEngine;
  broker: HookedBroker;
  recorder: Recorder;
  service: Service;
  topics: Topics;
  logs: LogCapture;
  /** Stops the broker (no persistence) and starts an empty one on the same port. */
  restartBroker(hooks?: BrokerHooks): Promise<HookedBroker>;
  close(): Promise<void>;
}

export interface KitOptions {
  engine?: FakeEngineOptions;
  env?: Record<string, string>;
  service?: ServiceOptions;
  hooks?: BrokerHooks;
  before?: (engine: FakeEngine) => void;
}

/** The defaults harness.ts uses, so both kinds of test see the same bridge. */
export function bridgeEnv(engine: FakeEngine, mqttUrl: string, env: Record<string, string> = {}) {
  return {
    DOCKER_HOST: engine.dockerHost,
    MQTT_URL: mqttUrl,
    DOCKER_HOST_ID: "test",
    REMOVAL_GRACE_SECONDS: "1",
    HA_REPUBLISH_DELAY_SECONDS: "0.05",
    LOG_LEVEL: "debug",
    ...env,
  };
}

/** Starts a bridge in-process like harness.ts does, its log lines going to `logs`. */
export async function startCapturedService(
  env: Record<string, string>,
  service: ServiceOptions = {},
): Promise<{ service: Service; logs: LogCapture; log: Logger; topics: Topics }> {
  const { config } = loadConfig({ argv: [], env });
  const logs = new LogCapture();
  const log = createLogger(config.log.level, logs);
  const topics = new Topics({
    baseTopic: config.mqtt.base_topic,
    hostId: config.host.id || "vm",
    discoveryPrefix: config.homeassistant.prefix,
  });
  const started = await startService(config, log, {
    cleanupSettleMs: 100,
    offlineDelayMs: 100,
    reconnectBaseMs: 50,
    ...service,
  });
  return { service: started, logs, log, topics };
}

/**
 * Starts a bridge in-process at LOG_LEVEL debug (unless `env` sets it) without waiting for it: it
 * may never finish starting (an engine that never answers). `stop()` aborts or stops it.
 */
export function startServiceInBackground(env: Record<string, string>): {
  logs: LogCapture;
  service: () => Service | undefined;
  stop: () => Promise<void>;
} {
  const { config } = loadConfig({ argv: [], env: { LOG_LEVEL: "debug", ...env } });
  const logs = new LogCapture();
  const abort = new AbortController();
  let service: Service | undefined;
  const starting = startService(config, createLogger(config.log.level, logs), {
    signal: abort.signal,
    reconnectBaseMs: 50,
  }).then((s) => {
    service = s;
  });
  starting.catch(() => undefined);
  const stop = async () => {
    abort.abort();
    await starting.catch(() => undefined);
    await service?.stop();
  };
  return { logs, service: () => service, stop };
}

/** harness.ts with captured logs and a hookable, restartable broker. */
export async function startKit(options: KitOptions = {}): Promise<Kit> {
  const engine = await FakeEngine.start(options.engine ?? {});
  let broker = await startHookedBroker(0, options.hooks);
  options.before?.(engine);
  const recorder = await Recorder.connect(broker.url);
  const { service, logs, topics } = await startCapturedService(
    bridgeEnv(engine, broker.url, options.env),
    options.service,
  );
  return {
    engine,
    get broker() {
      return broker;
    },
    recorder,
    service,
    topics,
    logs,
    async restartBroker(hooks?: BrokerHooks) {
      await broker.close();
      broker = await startHookedBroker(broker.port, hooks);
      return broker;
    },
    async close() {
      await service.stop();
      await recorder.close();
      await broker.close();
      await engine.close();
    },
  };
}
