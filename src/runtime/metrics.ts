// Prometheus metrics for one service, in a registry of its own (no global default registry).
// Most values are read from the stats the modules already keep, at scrape time; only what they do
// not count (events by type, publishes by kind, latency) is counted here, through a sink wrapper
// and the publisher's observer, so the pipeline modules stay unaware of Prometheus.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { EngineEvent } from "../docker/events.js";
import type { WatcherSink, WatcherStats } from "../docker/watcher.js";
import type { PublisherStats, PublishKind, PublishObserver } from "../mqtt/publisher.js";
import { type ContainerRecord, containerStatuses } from "../state/model.js";

const PREFIX = "docker_mqtt_bridge_";

/** What the metrics read from one engine's watcher and bridge. */
export interface EngineView {
  readonly host: string;
  readonly watcher: { readonly stats: WatcherStats; readonly connected: boolean };
  readonly bridge: { readonly containers: ReadonlyMap<string, ContainerRecord> };
}

/** What the metrics read from the MQTT side. */
export interface BrokerView {
  readonly stats: PublisherStats;
  readonly connected: boolean;
}

export class Metrics implements PublishObserver {
  readonly registry = new Registry();
  readonly #engines: EngineView[] = [];
  #broker: BrokerView | undefined;
  /** host -> performance.now() of its last event. */
  readonly #lastEventAt = new Map<string, number>();
  readonly #eventsReceived: Counter<"host" | "type">;
  readonly #published: Counter<"kind">;
  readonly #publishFailures: Counter<"kind">;
  readonly #latency: Histogram;

  constructor(version: string) {
    const registers = [this.registry];
    // process_* and nodejs_* under their usual names, so stock dashboards find them. Their event
    // loop delay histogram samples every 10 ms (0.39 CPU s a minute when idle, `npm run bench`);
    // sampling less often would shift every nodejs_eventloop_lag_* value by the interval.
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: `${PREFIX}info`,
      help: "Always 1; the version label says which release runs",
      labelNames: ["version"],
      registers,
    }).set({ version }, 1);
    this.#eventsReceived = new Counter({
      name: `${PREFIX}events_received_total`,
      help: "Valid events read from the engine's event stream, by event type",
      labelNames: ["host", "type"],
      registers,
    });
    this.#published = new Counter({
      name: `${PREFIX}mqtt_publishes_total`,
      help: "MQTT messages the broker took, by kind (availability, discovery, state, event)",
      labelNames: ["kind"],
      registers,
    });
    this.#publishFailures = new Counter({
      name: `${PREFIX}mqtt_publish_failures_total`,
      help: "MQTT publishes that failed or timed out, by kind",
      labelNames: ["kind"],
      registers,
    });
    this.#latency = new Histogram({
      name: `${PREFIX}event_publish_latency_seconds`,
      help: "From the bridge receiving an engine event to its MQTT event message going to the broker",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.#defineReadFromStats(registers);
  }

  /** Adds an engine whose stats and containers the metrics report. */
  addEngine(view: EngineView): void {
    this.#engines.push(view);
  }

  /** Stops reporting an engine that is no longer followed. */
  removeEngine(host: string): void {
    const at = this.#engines.findIndex((e) => e.host === host);
    if (at !== -1) this.#engines.splice(at, 1);
    this.#lastEventAt.delete(host);
  }

  setBroker(view: BrokerView): void {
    this.#broker = view;
  }

  /** Seconds since the engine's last event, or undefined before the first one. */
  lastEventAgeSeconds(host: string): number | undefined {
    const at = this.#lastEventAt.get(host);
    return at === undefined ? undefined : (performance.now() - at) / 1000;
  }

  /** A sink that counts each event by type, then hands it on unchanged. */
  instrument(host: string, sink: WatcherSink): WatcherSink {
    const received = this.#eventsReceived;
    const lastEventAt = this.#lastEventAt;
    return {
      connected: (info, apiVersion) => sink.connected(info, apiVersion),
      snapshot: (records) => sink.snapshot(records),
      disconnected: (reason) => sink.disconnected(reason),
      // A healthcheck probe's exec line, skipped unparsed: received all the same (a container event).
      probeSkipped() {
        received.inc({ host, type: "container" });
        lastEventAt.set(host, performance.now());
        sink.probeSkipped?.();
      },
      event(event: EngineEvent) {
        received.inc({ host, type: event.type });
        lastEventAt.set(host, performance.now());
        sink.event(event);
      },
    };
  }

  // --- PublishObserver ---

  settled(kind: PublishKind, ok: boolean, seconds: number): void {
    if (!ok) {
      this.#publishFailures.inc({ kind });
      return;
    }
    this.#published.inc({ kind });
    if (kind === "event") this.#latency.observe(seconds);
  }

  /** Metrics whose values are the modules' own counters, read at scrape time. */
  #defineReadFromStats(registers: Registry[]): void {
    const engines = () => this.#engines;
    const broker = () => this.#broker;
    const ages = (host: string) => this.lastEventAgeSeconds(host);
    new Counter({
      name: `${PREFIX}events_invalid_total`,
      help: "Event stream lines that were not valid events (skipped)",
      labelNames: ["host"],
      registers,
      collect() {
        this.reset();
        for (const e of engines()) this.inc({ host: e.host }, e.watcher.stats.eventsInvalid);
      },
    });
    new Counter({
      name: `${PREFIX}engine_reconnects_total`,
      help: "Times the engine connection was lost after it had been established",
      labelNames: ["host"],
      registers,
      collect() {
        this.reset();
        for (const e of engines()) this.inc({ host: e.host }, e.watcher.stats.reconnects);
      },
    });
    new Gauge({
      name: `${PREFIX}engine_connected`,
      help: "1 while the engine's event stream is followed, else 0",
      labelNames: ["host"],
      registers,
      collect() {
        this.reset();
        for (const e of engines()) this.set({ host: e.host }, e.watcher.connected ? 1 : 0);
      },
    });
    new Gauge({
      name: `${PREFIX}containers`,
      help: "Containers known to the bridge, by state",
      labelNames: ["host", "state"],
      registers,
      collect() {
        this.reset();
        for (const e of engines()) {
          const counts = new Map<string, number>(containerStatuses.map((s) => [s, 0]));
          for (const record of e.bridge.containers.values()) {
            counts.set(record.status, (counts.get(record.status) ?? 0) + 1);
          }
          for (const [state, n] of counts) this.set({ host: e.host, state }, n);
        }
      },
    });
    new Gauge({
      name: `${PREFIX}last_event_age_seconds`,
      help: "Seconds since the engine's last event (absent before the first one)",
      labelNames: ["host"],
      registers,
      collect() {
        this.reset();
        for (const e of engines()) {
          const age = ages(e.host);
          if (age !== undefined) this.set({ host: e.host }, age);
        }
      },
    });
    new Counter({
      name: `${PREFIX}mqtt_reconnects_total`,
      help: "Times the broker connection was lost after it had been established",
      registers,
      collect() {
        this.reset();
        this.inc(broker()?.stats.reconnects ?? 0);
      },
    });
    new Counter({
      name: `${PREFIX}mqtt_events_dropped_total`,
      help: "Event messages dropped because the broker was away or too slow",
      registers,
      collect() {
        this.reset();
        this.inc(broker()?.stats.eventsDropped ?? 0);
      },
    });
    new Gauge({
      name: `${PREFIX}mqtt_connected`,
      help: "1 while connected to the MQTT broker, else 0",
      registers,
      collect() {
        this.set(broker()?.connected ? 1 : 0);
      },
    });
  }
}
