// The /readyz answer: ready when the broker and every engine are connected, with per-engine detail.
import type { Config } from "../config/loader.js";
import { redactBroker } from "../mqtt/publisher.js";
import type { Readiness } from "./http-server.js";
import type { Metrics } from "./metrics.js";
import type { Service } from "./service.js";

/** Ready when the broker and every engine are connected; the detail says which is not. */
export function readiness(
  config: Config,
  metrics: Metrics,
  service: Service | undefined,
): Readiness {
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
  const engines = service.engines.map((r) => {
    const age = metrics.lastEventAgeSeconds(r.hostId);
    return {
      host: r.hostId,
      endpoint: r.engine,
      connected: r.watcher.connected,
      // What is mirrored, as the host state counts it: not containers the filters leave out.
      containers: r.bridge.mirrored,
      last_event_age_seconds: age === undefined ? null : Math.round(age * 1000) / 1000,
    };
  });
  const brokerConnected =
    service.engines.length > 0 && service.engines.every((r) => r.publisher.connected);
  const down = [
    ...(engines.length === 0 ? ["no engine yet"] : []),
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
