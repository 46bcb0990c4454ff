// Wires the running service from a validated Config: HTTP server, broker (external or embedded),
// one runtime per engine (configured, or Portainer's environments); stops them in reverse order.
import type { Logger } from "pino";
import type { Config } from "../config/loader.js";
import { DockerClient } from "../docker/client.js";
import { PortainerClient } from "../docker/portainer.js";
import { sanitiseId } from "../homeassistant/ids.js";
import type { DockerEvents } from "../lib/docker-events.js";
import type { EmbeddedBroker } from "../mqtt/embedded-broker.js";
import { type MqttPublisher, redactBroker } from "../mqtt/publisher.js";
import type { Bridge } from "../publish/bridge.js";
import type { ContainerRecord } from "../state/model.js";
import { VERSION } from "../version.js";
import {
  configuredEngines,
  embeddedBrokerTarget,
  engineAddresses,
  firstContact,
  listenError,
  mqttTls,
  PORTAINER_HOST_KEY,
  portainerKey,
  resolveAddresses,
} from "./connections.js";
import { EngineReporter } from "./engine-reporter.js";
import { EngineRuntime, type EngineSpec } from "./engine-runtime.js";
import { type HttpServer, startHttpServer } from "./http-server.js";
import type { Metrics } from "./metrics.js";
import { PortainerSupervisor } from "./portainer-supervisor.js";
import { readiness } from "./readiness.js";

export interface Service {
  /** Every engine followed now (Portainer environments come and go). */
  readonly engines: readonly EngineRuntime[];
  /** The first engine's parts, for the common single-engine case. */
  readonly bridge: Bridge;
  readonly publisher: MqttPublisher;
  readonly watcher: DockerEvents;
  readonly hostId: string;
  /** Where the first engine is, without secrets. */
  readonly engine: string;
  brokerUrl: string;
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
  /** Where the usual engine sockets are looked for when docker.host is empty (process.env). */
  env?: NodeJS.ProcessEnv;
  /** How often the debug-level summary of counters is logged (default 5 minutes). */
  summaryIntervalMs?: number;
  /** The container the bridge runs in (default: found from /proc and the hostname). */
  isSelf?: (record: ContainerRecord) => boolean;
}

/** The bridge itself: broker, one runtime per engine, Portainer's environments; stop() in reverse. */
async function startPipeline(
  config: Config,
  log: Logger,
  options: ServiceOptions,
  metrics: Metrics | undefined,
): Promise<Service> {
  const tls = mqttTls(config);
  const apiKey = config.portainer.url ? portainerKey(config) : "";
  const reconnectMaxMs = config.docker.reconnect_max_seconds * 1000;
  let embedded: EmbeddedBroker | undefined;
  let brokerUrl = config.mqtt.url;
  if (brokerUrl === "") {
    // Loaded only when used: the broker's modules cost start-up time and memory.
    const { startEmbeddedBroker } = await import("../mqtt/embedded-broker.js");
    embedded = await startEmbeddedBroker({
      host: config.mqtt.embedded_host,
      port: config.mqtt.embedded_port,
      username: config.mqtt.username,
      password: config.mqtt.password,
    }).catch((err: unknown) => {
      // EADDRINUSE alone says nothing to a user with Mosquitto already on 1883: say what to do.
      throw listenError(err, embeddedBrokerTarget(config));
    });
    brokerUrl = embedded.url;
    log.info({ broker: brokerUrl }, "no mqtt.url set: serving an embedded MQTT broker");
  }
  // Made after the embedded broker, so a taken port leaves no engine client open.
  const addresses = await resolveAddresses(engineAddresses(config), {
    env: options.env ?? process.env,
    log,
  });
  const configured = configuredEngines(addresses).map((e) => ({
    ...e,
    client: new DockerClient(e.endpoint),
  }));
  let portainer: PortainerClient | undefined;
  if (config.portainer.url !== "") {
    portainer = new PortainerClient({
      url: config.portainer.url,
      apiKey,
      tls: { rejectUnauthorized: config.portainer.reject_unauthorized },
    });
  }
  // Said first, whatever the engines do: what runs, and where it looks.
  log.info(
    {
      engines: configured.map((e) => ({
        host: e.id === "" ? "(the engine's name, once it answers)" : e.id,
        engine: e.client.describe(),
      })),
      portainer: portainer?.describe(),
      broker: redactBroker(brokerUrl),
      baseTopic: config.mqtt.base_topic,
      discovery: config.homeassistant.enabled ? config.homeassistant.prefix : "off",
      version: VERSION,
    },
    "docker-mqtt-bridge started",
  );

  const single = configured.length === 1 && config.portainer.url === "";
  const timings = {
    ...(options.offlineDelayMs !== undefined ? { offlineDelayMs: options.offlineDelayMs } : {}),
    ...(options.cleanupSettleMs !== undefined ? { cleanupSettleMs: options.cleanupSettleMs } : {}),
    ...(options.watchdogMs !== undefined ? { watchdogMs: options.watchdogMs } : {}),
    ...(options.reconnectBaseMs !== undefined ? { reconnectBaseMs: options.reconnectBaseMs } : {}),
  };
  const startEngine = (spec: EngineSpec, client?: DockerClient): EngineRuntime => {
    const runtime = new EngineRuntime({
      spec,
      config,
      brokerUrl,
      mqttTls: tls,
      log,
      metrics,
      timings,
      clientIdSuffix: !single,
      ...(client ? { client } : {}),
      ...(options.isSelf ? { isSelf: options.isSelf } : {}),
    });
    runtime.start();
    metrics?.addEngine({ host: spec.hostId, watcher: runtime.watcher, bridge: runtime.bridge });
    return runtime;
  };
  const fixed: EngineRuntime[] = [];
  let supervisor: PortainerSupervisor | undefined;
  try {
    // An engine without an id is named after the engine itself: wait for its first answer.
    for (const e of configured) {
      let hostId = e.id;
      if (hostId === "") {
        const reporter = new EngineReporter({
          log: log.child({ module: "engine" }),
          engine: e.client.describe(),
          hostKey: e.hostKey,
        });
        const info = await firstContact(e.client, reporter, reconnectMaxMs, options.signal);
        hostId = sanitiseId(info.Name || "docker");
        log.info({ engine: e.client.describe(), host: hostId }, "engine answered");
      }
      fixed.push(startEngine({ hostId, endpoint: e.endpoint, hostKey: e.hostKey }, e.client));
    }
    if (portainer) {
      supervisor = new PortainerSupervisor({
        client: portainer,
        selection: config.portainer.environments,
        refreshMs: config.portainer.refresh_seconds * 1000,
        log: log.child({ module: "portainer" }),
        reservedIds: new Set(fixed.map((r) => r.hostId)),
        startEngine: (spec) => startEngine({ ...spec, hostKey: PORTAINER_HOST_KEY }),
        retireEngine: async (runtime) => {
          metrics?.removeEngine(runtime.hostId);
          await runtime.retire();
        },
        stopEngine: (runtime) => runtime.stop(),
      });
      await supervisor.start();
    }
  } catch (err: unknown) {
    // Stopped (or failed) while waiting for an engine: release what already runs.
    await supervisor?.stop();
    await Promise.all(fixed.map((r) => r.stop()));
    // A runtime closes its own client; these never got one.
    await Promise.all(configured.slice(fixed.length).map((e) => e.client.close()));
    await portainer?.close();
    await embedded?.close();
    throw err;
  }
  const engines = (): EngineRuntime[] => [...fixed, ...(supervisor?.runtimes ?? [])];
  metrics?.setBroker({
    get stats() {
      const sum = { published: 0, publishFailures: 0, eventsDropped: 0, reconnects: 0 };
      for (const r of engines()) {
        for (const k of Object.keys(sum) as (keyof typeof sum)[]) sum[k] += r.publisher.stats[k];
      }
      return sum;
    },
    get connected() {
      const list = engines();
      return list.length > 0 && list.every((r) => r.publisher.connected);
    },
  });

  const summary = setInterval(
    () => {
      for (const r of engines()) {
        log.debug(
          {
            host: r.hostId,
            engine: { connected: r.watcher.connected, ...r.watcher.stats },
            mqtt: { connected: r.publisher.connected, ...r.publisher.stats },
            bridge: { containers: r.bridge.containers.size, ...r.bridge.stats },
          },
          "summary",
        );
      }
    },
    options.summaryIntervalMs ?? 5 * 60_000,
  );
  summary.unref();

  const first = (): EngineRuntime => {
    const runtime = engines()[0];
    if (!runtime) throw new Error("no engine is followed yet");
    return runtime;
  };
  let stopping: Promise<void> | undefined;
  return {
    get engines() {
      return engines();
    },
    get bridge() {
      return first().bridge;
    },
    get publisher() {
      return first().publisher;
    },
    get watcher() {
      return first().watcher;
    },
    get hostId() {
      return first().hostId;
    },
    get engine() {
      return first().engine;
    },
    brokerUrl,
    // Idempotent: a signal handler and a finally block may both call it.
    stop() {
      stopping ??= (async () => {
        clearInterval(summary);
        await supervisor?.stop();
        await Promise.all(fixed.map((r) => r.stop()));
        await portainer?.close();
        await embedded?.close();
      })();
      return stopping;
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
  // prom-client is loaded only with the HTTP server on.
  const { Metrics } = await import("./metrics.js");
  const metrics = new Metrics(VERSION);
  let service: Service | undefined;
  const http = await startHttpServer({
    ...listen,
    registry: metrics.registry,
    readiness: () => readiness(config, metrics, service),
    log: log.child({ module: "http" }),
  });
  log.info({ listening: http.listening }, "serving /healthz, /readyz and /metrics");
  try {
    service = await startPipeline(config, log, options, metrics);
  } catch (err: unknown) {
    await http.close();
    throw err;
  }
  const pipeline = service;
  let stopping: Promise<void> | undefined;
  return {
    ...pipeline,
    http,
    metrics,
    stop() {
      stopping ??= pipeline.stop().then(() => http.close());
      return stopping;
    },
  };
}
