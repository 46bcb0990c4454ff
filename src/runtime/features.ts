// The optional features of one engine (control, statistics, updates), each built only when its
// configuration turns it on. Each gets what it needs here and nothing of the others.
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import type { Logger } from "pino";
import type { Config } from "../config/loader.js";
import type { DockerClient } from "../docker/client.js";
import type { Topics } from "../homeassistant/topics.js";
import type { MqttPublisher } from "../mqtt/publisher.js";
import type { ContainerFeature } from "../publish/features.js";
import type { ContainerRecord } from "../state/model.js";
import { UpdatesFeature } from "../updates/feature.js";
import { isSelfBy, selfContainerId } from "../updates/self.js";

export interface FeatureDeps {
  config: Config;
  docker: DockerClient;
  topics: Topics;
  publisher: MqttPublisher;
  log: Logger;
  hostId: string;
}

export function buildFeatures(deps: FeatureDeps): ContainerFeature[] {
  const features: ContainerFeature[] = [];
  if (deps.config.updates.enabled) {
    features.push(
      new UpdatesFeature({
        settings: deps.config.updates,
        docker: deps.docker,
        topics: deps.topics,
        publisher: deps.publisher,
        log: deps.log.child({ host: deps.hostId }),
        // Install acts only where the control feature's allowlist allows: until that is wired
        // here, nothing may be recreated.
        mayAct: (_record: ContainerRecord) => false,
        // The container the bridge runs in is never recreated.
        isSelf: isSelfBy(ownContainerId()),
      }),
    );
  }
  return features;
}

/** The id of the container this process runs in, if it runs in one. */
function ownContainerId(): string | undefined {
  let mountinfo = "";
  try {
    mountinfo = readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    // not Linux, or no /proc: only the hostname can tell
  }
  return selfContainerId(mountinfo, hostname());
}
