// The optional features of one engine (control, statistics, updates), each built only when its
// configuration turns it on (entities an earlier run announced for a feature now off are removed
// by the start-up cleanup). Each feature gets what it needs here and nothing of the others.
import type { Logger } from "pino";
import { parseEntityGroups } from "../config/formats.js";
import type { Config } from "../config/loader.js";
import { buildControlPolicy } from "../control/commands.js";
import { Controller } from "../control/controller.js";
import { EngineActions } from "../control/engine-actions.js";
import { CommandGate } from "../control/gate.js";
import { isSelfBy, readSelfClues } from "../control/self.js";
import type { DockerClient } from "../docker/client.js";
import type { Topics } from "../homeassistant/topics.js";
import type { MqttPublisher } from "../mqtt/publisher.js";
import type { ContainerFeature } from "../publish/features.js";
import type { ContainerRecord } from "../state/model.js";
import { StatsFeature } from "../stats/feature.js";
import { UpdatesFeature } from "../updates/feature.js";

export interface FeatureDeps {
  config: Config;
  docker: DockerClient;
  topics: Topics;
  publisher: MqttPublisher;
  log: Logger;
  hostId: string;
  /** The container the bridge runs in (default: found from /proc and the hostname). */
  isSelf?: (record: ContainerRecord) => boolean;
}

export function buildFeatures(deps: FeatureDeps): ContainerFeature[] {
  const { config, topics } = deps;
  const isSelf =
    deps.isSelf ??
    (
      (clues) => (record: ContainerRecord) =>
        isSelfBy(clues, record)
    )(readSelfClues());
  const features: ContainerFeature[] = [];
  // What acts (control's commands, an update's Install) acts only on what control allows.
  const policy = buildControlPolicy(config.control.containers);
  // One action per container at a time, whichever feature asks (a Power off during an install).
  const gate = new CommandGate();
  const mayAct = config.control.enabled
    ? (record: ContainerRecord) => policy(record) === undefined
    : () => false;
  if (config.control.enabled) {
    features.push(
      new Controller({
        topics,
        publisher: deps.publisher,
        actions: new EngineActions(deps.docker, config.control.stop_timeout_seconds),
        log: deps.log.child({ module: "control", host: deps.hostId }),
        policy,
        gate,
        isSelf,
        prune: config.control.prune,
      }),
    );
  }
  if (config.updates.enabled) {
    features.push(
      new UpdatesFeature({
        settings: config.updates,
        docker: deps.docker,
        topics,
        publisher: deps.publisher,
        log: deps.log.child({ host: deps.hostId }),
        // Install only with control on, for the containers it allows.
        mayAct,
        installs: config.control.enabled,
        exclusive: (id: string) => {
          const admission = gate.admit([id]);
          return admission.ok ? admission : { ok: false, reason: admission.reason };
        },
        // The container the bridge runs in is never recreated.
        isSelf,
      }),
    );
  }
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
