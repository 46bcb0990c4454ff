// Wires one running bridge from a validated Config: broker (external or embedded), engine client,
// publisher with its last will, the bridge and the watcher; and stops them in reverse order.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import { Bridge } from "./bridge.js";
import { type Config, parseEntityGroups } from "./config.js";
import { DockerClient, endpointFromDockerHost } from "./docker/client.js";
import type { EngineInfo } from "./docker/schemas.js";
import { EngineWatcher } from "./docker/watcher.js";
import { ConfigError, describeError } from "./errors.js";
import { sanitiseId } from "./homeassistant/ids.js";
import { Topics } from "./homeassistant/topics.js";
import { type HttpServer, type Readiness, startHttpServer } from "./http/server.js";
import { Metrics } from "./metrics.js";
import { type EmbeddedBroker, startEmbeddedBroker } from "./mqtt/embedded-broker.js";
import { MqttPublisher, type PublisherOptions, redactBroker } from "./mqtt/publisher.js";
import { VERSION } from "./version.js";

export interface Service {
  bridge: Bridge;
  publisher: MqttPublisher;
  watcher: EngineWatcher;
  hostId: string;
  brokerUrl: string;
  /** Where the engine is, without secrets. */
  engine: string;
  /** The HTTP server for /healthz, /readyz and /metrics, when http.port (or options.http) is set. */
  http?: HttpServer;
  metrics?: Metrics;
  stop(): Promise<void>;
}

export interface ServiceOptions {
  /** Overrides for timings tests need short. */
  offlineDelayMs?: number;
  cleanupSettleMs?: number;
  watchdogMs?: number;
  reconnectBaseMs?: number;
  signal?: AbortSignal;
  /** Serve HTTP here whatever http.port says (port 0: a free port, for tests). */
  http?: { host: string; port: number };
  /** How often the debug-level summary of counters is logged (default 5 minutes). */
  summaryIntervalMs?: number;
}

/** TLS options for the broker: CA and client certificate files, verification on by default. */
export function mqttTls(config: Config): NonNullable<PublisherOptions["tls"]> {
  const read = (key: string, path: string) => {
    try {
      return readFileSync(path, "utf8");
    } catch (err: unknown) {
      throw new ConfigError(`${key}: ${path} cannot be read: ${(err as Error).message}`, {
        code: "CONFIG_FILE_UNREADABLE",
        cause: err,
      });
    }
  };
  const tls: NonNullable<PublisherOptions["tls"]> = {
    rejectUnauthorized: config.mqtt.reject_unauthorized,
  };
  if (config.mqtt.ca_file) tls.ca = read("mqtt.ca_file", config.mqtt.ca_file);
  if (config.mqtt.cert_file) tls.cert = read("mqtt.cert_file", config.mqtt.cert_file);
  if (config.mqtt.key_file) tls.key = read("mqtt.key_file", config.mqtt.key_file);
  return tls;
}

/** Waits for the engine to answer /info, retrying with capped backoff; the host id may depend on it. */
async function firstContact(
  docker: DockerClient,
  log: Logger,
  maxMs: number,
  signal?: AbortSignal,
): Promise<EngineInfo> {
  let delay = 500;
  for (;;) {
    try {
      await docker.negotiate(signal);
      return await docker.info(signal);
    } catch (err: unknown) {
      if (signal?.aborted) throw err;
      log.warn(
        { engine: docker.describe(), err: describeError(err), retryInMs: delay },
        "engine not reachable yet; set host.id to publish availability while waiting",
      );
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, maxMs);
    }
  }
}

/** The bridge itself: engine client, publisher, bridge and watcher, with their own stop(). */
async function startPipeline(
  config: Config,
  log: Logger,
  options: ServiceOptions,
  metrics: Metrics | undefined,
): Promise<Service> {
  const docker = new DockerClient(
    endpointFromDockerHost(config.docker.host, {
      tlsVerify: config.docker.tls_verify,
      certPath: config.docker.cert_path,
    }),
  );
  const reconnectMaxMs = config.docker.reconnect_max_seconds * 1000;
  let hostId = config.host.id;
  if (hostId === "") {
    const info = await firstContact(docker, log, reconnectMaxMs, options.signal);
    hostId = sanitiseId(info.Name || "docker");
  }

  let embedded: EmbeddedBroker | undefined;
  let brokerUrl = config.mqtt.url;
  if (brokerUrl === "") {
    embedded = await startEmbeddedBroker({
      host: config.mqtt.embedded_host,
      port: config.mqtt.embedded_port,
      username: config.mqtt.username,
      password: config.mqtt.password,
    });
    brokerUrl = embedded.url;
    log.info({ broker: brokerUrl }, "no mqtt.url set: serving an embedded MQTT broker");
  }

  const topics = new Topics({
    baseTopic: config.mqtt.base_topic,
    hostId,
    discoveryPrefix: config.homeassistant.prefix,
  });
  const publisher = new MqttPublisher({
    url: brokerUrl,
    clientId:
      config.mqtt.client_id || `docker-mqtt-bridge_${hostId}_${randomBytes(3).toString("hex")}`,
    username: config.mqtt.username,
    password: config.mqtt.password,
    will: { topic: topics.availability(), payload: "offline" },
    publishTimeoutMs: config.mqtt.publish_timeout_seconds * 1000,
    protocolVersion: config.mqtt.protocol_version,
    tls: mqttTls(config),
    log: log.child({ module: "mqtt" }),
    ...(metrics ? { observer: metrics } : {}),
  });
  const bridge = new Bridge({
    topics,
    publisher,
    inspect: (id) => docker.inspectContainer(id),
    log: log.child({ module: "bridge", host: hostId }),
    version: VERSION,
    homeassistant: {
      enabled: config.homeassistant.enabled,
      mode: config.homeassistant.discovery_mode,
      statusTopic: config.homeassistant.status_topic,
      republishDelayMs: config.homeassistant.republish_delay_seconds * 1000,
      entities: parseEntityGroups(config.homeassistant.entities),
      stacks: config.homeassistant.stacks,
    },
    removalGraceMs: config.removal.grace_seconds * 1000,
    publishHealthcheckExec: config.events.healthcheck_exec,
    ...(options.offlineDelayMs !== undefined ? { offlineDelayMs: options.offlineDelayMs } : {}),
    ...(options.cleanupSettleMs !== undefined ? { cleanupSettleMs: options.cleanupSettleMs } : {}),
  });
  const watcher = new EngineWatcher({
    api: docker,
    sink: metrics ? metrics.instrument(hostId, bridge) : bridge,
    log: log.child({ module: "engine", host: hostId }),
    reconnectMaxMs,
    ...(options.watchdogMs !== undefined ? { watchdogMs: options.watchdogMs } : {}),
    ...(options.reconnectBaseMs !== undefined ? { reconnectBaseMs: options.reconnectBaseMs } : {}),
  });

  publisher.start();
  bridge.start();
  watcher.start();
  metrics?.addEngine({ host: hostId, watcher, bridge });
  metrics?.setBroker(publisher);
  const summary = setInterval(
    () => {
      log.debug(
        {
          engine: { connected: watcher.connected, ...watcher.stats },
          mqtt: { connected: publisher.connected, ...publisher.stats },
          bridge: { containers: bridge.containers.size, ...bridge.stats },
        },
        "summary",
      );
    },
    options.summaryIntervalMs ?? 5 * 60_000,
  );
  summary.unref();
  log.info(
    {
      engine: docker.describe(),
      broker: redactBroker(brokerUrl),
      host: hostId,
      baseTopic: config.mqtt.base_topic,
      discovery: config.homeassistant.enabled ? config.homeassistant.prefix : "off",
      version: VERSION,
    },
    "docker-mqtt-bridge started",
  );

  return {
    bridge,
    publisher,
    watcher,
    hostId,
    brokerUrl,
    engine: docker.describe(),
    async stop() {
      clearInterval(summary);
      await watcher.stop();
      bridge.stop();
      await publisher.stop([{ topic: topics.availability(), payload: "offline" }]);
      await docker.close();
      await embedded?.close();
    },
  };
}

/**
 * Starts the HTTP server first when asked for (so /healthz answers while the engine is still being
 * waited for), then the bridge; stop() closes them in reverse order.
 */
export async function startService(
  config: Config,
  log: Logger,
  options: ServiceOptions = {},
): Promise<Service> {
  const listen = options.http ?? (config.http.port > 0 ? config.http : undefined);
  if (!listen) return startPipeline(config, log, options, undefined);
  const metrics = new Metrics(VERSION);
  let service: Service | undefined;
  const http = await startHttpServer({
    ...listen,
    registry: metrics.registry,
    readiness: () => readiness(config, metrics, service),
    log: log.child({ module: "http" }),
  });
  log.info({ url: http.url }, "serving /healthz, /readyz and /metrics");
  try {
    service = await startPipeline(config, log, options, metrics);
  } catch (err: unknown) {
    await http.close();
    throw err;
  }
  const pipeline = service;
  return {
    ...pipeline,
    http,
    metrics,
    async stop() {
      await pipeline.stop();
      await http.close();
    },
  };
}

/** Ready when the broker and every engine are connected; the detail says which is not. */
function readiness(config: Config, metrics: Metrics, service: Service | undefined): Readiness {
  if (!service) {
    return {
      ready: false,
      broker: {
        url: config.mqtt.url ? redactBroker(config.mqtt.url) : "embedded",
        connected: false,
      },
      engines: [],
      reason: "waiting for the engine's first answer (host.id is not set)",
    };
  }
  const age = metrics.lastEventAgeSeconds(service.hostId);
  const engines = [
    {
      host: service.hostId,
      endpoint: service.engine,
      connected: service.watcher.connected,
      containers: service.bridge.containers.size,
      last_event_age_seconds: age === undefined ? null : Math.round(age * 1000) / 1000,
    },
  ];
  const brokerConnected = service.publisher.connected;
  const down = [
    ...(brokerConnected ? [] : ["the MQTT broker"]),
    ...engines.filter((e) => !e.connected).map((e) => `engine ${e.host}`),
  ];
  return {
    ready: down.length === 0,
    broker: { url: redactBroker(service.brokerUrl), connected: brokerConnected },
    engines,
    ...(down.length > 0 ? { reason: `not connected: ${down.join(", ")}` } : {}),
  };
}
