// One followed engine: its Engine API client, its own MQTT connection (whose last will is this
// host's `offline`), its bridge and its watcher. Engines share nothing but the broker, so one
// failing never stalls another, and a dead bridge process still marks every host offline.
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { type Config, parseEntityGroups } from "../config/loader.js";
import { DockerClient, type EngineEndpoint } from "../docker/client.js";
import { Topics } from "../homeassistant/topics.js";
import { DockerEvents } from "../lib/docker-events.js";
import { MqttPublisher, type PublisherOptions } from "../mqtt/publisher.js";
import { Bridge, defaultMirror } from "../publish/bridge.js";
import {
  buildContainerFilter,
  buildEventFilter,
  buildKeyMatcher,
  engineEventFilters,
} from "../state/filter.js";
import type { ContainerRecord } from "../state/model.js";
import { VERSION } from "../version.js";
import { EngineReporter } from "./engine-reporter.js";
import { buildFeatures } from "./features.js";
import type { Metrics } from "./metrics.js";

export interface EngineSpec {
  hostId: string;
  endpoint: EngineEndpoint;
  /** The setting that names the engine's host, as a failure to resolve it says (DOCKER_HOST). */
  hostKey?: string;
}

export interface RuntimeTimings {
  offlineDelayMs?: number;
  cleanupSettleMs?: number;
  watchdogMs?: number;
  reconnectBaseMs?: number;
}

export interface EngineRuntimeDeps {
  spec: EngineSpec;
  config: Config;
  brokerUrl: string;
  mqttTls: PublisherOptions["tls"];
  log: Logger;
  metrics?: Metrics | undefined;
  timings?: RuntimeTimings;
  /** An already negotiated client to reuse (the host id was read from it). */
  client?: DockerClient;
  /** Add the host id to a configured mqtt.client_id (several engines share one setting). */
  clientIdSuffix?: boolean;
  /** The container the bridge runs in (default: found from /proc and the hostname). */
  isSelf?: (record: ContainerRecord) => boolean;
}

export class EngineRuntime {
  readonly hostId: string;
  readonly docker: DockerClient;
  readonly topics: Topics;
  readonly publisher: MqttPublisher;
  readonly bridge: Bridge;
  /** The engine's event stream (the library client); `connected` and `stats` for health. */
  readonly watcher: DockerEvents;

  constructor(deps: EngineRuntimeDeps) {
    const { config, spec, log, metrics } = deps;
    const t = deps.timings ?? {};
    this.hostId = spec.hostId;
    this.docker = deps.client ?? new DockerClient(spec.endpoint);
    this.topics = new Topics({
      baseTopic: config.mqtt.base_topic,
      hostId: spec.hostId,
      discoveryPrefix: config.homeassistant.prefix,
    });
    // Two clients with one id would kick each other off the broker forever.
    const clientId = config.mqtt.client_id
      ? `${config.mqtt.client_id}${deps.clientIdSuffix ? `_${spec.hostId}` : ""}`
      : `docker-mqtt-bridge_${spec.hostId}_${randomBytes(3).toString("hex")}`;
    this.publisher = new MqttPublisher({
      url: deps.brokerUrl,
      clientId,
      username: config.mqtt.username,
      password: config.mqtt.password,
      will: { topic: this.topics.availability(), payload: "offline" },
      publishTimeoutMs: config.mqtt.publish_timeout_seconds * 1000,
      protocolVersion: config.mqtt.protocol_version,
      ...(deps.mqttTls ? { tls: deps.mqttTls } : {}),
      log: log.child({ module: "mqtt", host: spec.hostId }),
      ...(metrics ? { observer: metrics } : {}),
    });
    const f = config.filter;
    const filterConfigured =
      f.include.length + f.exclude.length + f.labels_include.length + f.labels_exclude.length > 0 ||
      f.projects_include.length + f.projects_exclude.length > 0 ||
      f.labelled_only ||
      f.include_oneoff;
    const eventSettings = { types: config.events.types, actions: config.events.actions };
    this.bridge = new Bridge({
      topics: this.topics,
      publisher: this.publisher,
      inspect: (id) => this.docker.inspectContainer(id),
      execCommand: (id) => this.docker.execCommand(id),
      log: log.child({ module: "bridge", host: spec.hostId }),
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
      eventPrivacy: {
        omitAttribute: buildKeyMatcher(config.events.omit_labels),
        execCommands: config.events.exec_commands,
      },
      mirror: filterConfigured
        ? buildContainerFilter({
            include: f.include,
            exclude: f.exclude,
            labelsInclude: f.labels_include,
            labelsExclude: f.labels_exclude,
            projectsInclude: f.projects_include,
            projectsExclude: f.projects_exclude,
            labelledOnly: f.labelled_only,
            includeOneoff: f.include_oneoff,
          })
        : defaultMirror,
      eventFilter: buildEventFilter(eventSettings),
      features: buildFeatures({
        config,
        docker: this.docker,
        topics: this.topics,
        publisher: this.publisher,
        log,
        hostId: spec.hostId,
        ...(deps.isSelf ? { isSelf: deps.isSelf } : {}),
      }),
      ...(t.offlineDelayMs !== undefined ? { offlineDelayMs: t.offlineDelayMs } : {}),
      ...(t.cleanupSettleMs !== undefined ? { cleanupSettleMs: t.cleanupSettleMs } : {}),
    });
    // The bridge follows its engine through the library's events client, like any user would.
    this.watcher = new DockerEvents({
      client: this.docker,
      sink: metrics ? metrics.instrument(spec.hostId, this.bridge) : this.bridge,
      logger: log.child({ module: "engine", host: spec.hostId }),
      filters: engineEventFilters(eventSettings),
      reconnect: {
        maxMs: config.docker.reconnect_max_seconds * 1000,
        ...(t.reconnectBaseMs !== undefined ? { baseMs: t.reconnectBaseMs } : {}),
      },
      ...(t.watchdogMs !== undefined ? { watchdogMs: t.watchdogMs } : {}),
      // Probe exec noise is left out before it is parsed unless it is published.
      ...(config.events.healthcheck_exec
        ? {}
        : { skipProbeExecs: (name: string) => this.bridge.containers.get(name)?.healthcheck }),
    });
    this.#report(
      new EngineReporter({
        log: log.child({ module: "engine", host: spec.hostId }),
        engine: this.docker.describe(),
        hostKey: spec.hostKey,
      }),
    );
  }

  /** The watcher's failures, told to a person once per cause (see EngineReporter). */
  #report(reporter: EngineReporter): void {
    let error: unknown;
    // The watcher says "disconnected" once the engine has answered /info, even if the snapshot
    // then fails: "lost" only for an engine that was followed (its snapshot and stream were up).
    let followed = false;
    let lost = false;
    this.watcher.onError((err) => {
      error = err;
    });
    this.watcher.onStatus((status) => {
      if (status.state === "connected") {
        followed = true;
        reporter.recovered();
      } else if (status.state === "disconnected") {
        lost = followed;
        followed = false;
      } else {
        reporter.failed(error ?? new Error(status.reason), status.delayMs, lost);
        error = undefined;
        lost = false;
      }
    });
  }

  /** Where the engine is, without secrets. */
  get engine(): string {
    return this.docker.describe();
  }

  start(): void {
    this.publisher.start();
    this.bridge.start();
    // Resolves at the first snapshot; the watcher keeps trying until then, so nothing to await.
    this.watcher.connect().catch(() => undefined);
  }

  /** Stops following; this host's availability is left `offline`. */
  async stop(): Promise<void> {
    await this.watcher.close();
    this.bridge.stop();
    // An install stopped midway rolls back through the engine client: close it only after.
    await this.bridge.settled();
    await this.publisher.stop([{ topic: this.topics.availability(), payload: "offline" }]);
    await this.docker.close();
  }

  /** Stops following and clears everything this host published (an engine that went away). */
  async retire(): Promise<void> {
    await this.watcher.close();
    this.bridge.retire();
    this.bridge.stop();
    await this.bridge.settled();
    await this.publisher.drain(5000);
    await this.publisher.stop();
    await this.docker.close();
  }
}
