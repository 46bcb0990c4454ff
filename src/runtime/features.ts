// The optional features of one engine (control, statistics, updates), each built only when its
// configuration turns it on. Each gets what it needs here and nothing of the others.
import type { Logger } from "pino";
import { parseEntityGroups } from "../config/formats.js";
import type { Config } from "../config/loader.js";
import type { DockerClient } from "../docker/client.js";
import type { Topics } from "../homeassistant/topics.js";
import type { MqttPublisher } from "../mqtt/publisher.js";
import type { ContainerFeature } from "../publish/features.js";
import { StatsFeature } from "../stats/feature.js";

export interface FeatureDeps {
  config: Config;
  docker: DockerClient;
  topics: Topics;
  publisher: MqttPublisher;
  log: Logger;
  hostId: string;
}

export function buildFeatures(deps: FeatureDeps): ContainerFeature[] {
  const { config } = deps;
  const features: ContainerFeature[] = [];
  if (config.stats.enabled) features.push(statsFeature(deps));
  return features;
}

function statsFeature(deps: FeatureDeps): StatsFeature {
  const { config } = deps;
  return new StatsFeature({
    engine: deps.docker,
    topics: deps.topics,
    publisher: deps.publisher,
    log: deps.log.child({ module: "stats", host: deps.hostId }),
    intervalSeconds: config.stats.interval_seconds,
    containers: config.stats.containers,
    groups: new Set(parseEntityGroups(config.homeassistant.entities)),
  });
}
