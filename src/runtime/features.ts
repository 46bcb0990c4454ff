// The optional features of one engine (control, statistics, updates), each built only when its
// configuration turns it on. Each gets what it needs here and nothing of the others.
import type { Logger } from "pino";
import type { Config } from "../config/loader.js";
import type { DockerClient } from "../docker/client.js";
import type { Topics } from "../homeassistant/topics.js";
import type { MqttPublisher } from "../mqtt/publisher.js";
import type { ContainerFeature } from "../publish/features.js";

export interface FeatureDeps {
  config: Config;
  docker: DockerClient;
  topics: Topics;
  publisher: MqttPublisher;
  log: Logger;
  hostId: string;
}

export function buildFeatures(_deps: FeatureDeps): ContainerFeature[] {
  const features: ContainerFeature[] = [];
  return features;
}
