// One bridge wired to a fake engine and an in-process broker, with a recording subscriber: the
// set-up every integration test starts from.
import { loadConfig } from "../../src/config/loader.js";
import { Topics } from "../../src/homeassistant/topics.js";
import { createLogger } from "../../src/runtime/log.js";
import { type Service, type ServiceOptions, startService } from "../../src/runtime/service.js";
import { startTestBroker, type TestBroker } from "./broker.js";
import { FakeEngine, type FakeEngineOptions } from "./fake-engine.js";
import { Recorder } from "./recorder.js";

export interface Harness {
  engine: FakeEngine;
  broker: TestBroker;
  recorder: Recorder;
  service: Service;
  topics: Topics;
  /** Starts the bridge again (after stopBridge), same configuration. */
  restartBridge(): Promise<Service>;
  stopBridge(): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  engine?: FakeEngineOptions;
  /** Environment on top of the defaults (DOCKER_HOST, MQTT_URL, host id "test", grace 1 s). */
  env?: Record<string, string>;
  service?: ServiceOptions;
  /** Runs before the bridge starts (seed containers, pre-publish retained messages...). */
  before?: (engine: FakeEngine, broker: TestBroker) => Promise<void> | void;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const engine = await FakeEngine.start(options.engine ?? {});
  const broker = await startTestBroker();
  await options.before?.(engine, broker);
  const recorder = await Recorder.connect(broker.url);
  const env = {
    DOCKER_HOST: engine.dockerHost,
    MQTT_URL: broker.url,
    DOCKER_HOST_ID: "test",
    REMOVAL_GRACE_SECONDS: "1",
    HA_REPUBLISH_DELAY_SECONDS: "0.05",
    LOG_LEVEL: "silent",
    ...options.env,
  };
  const { config } = loadConfig({ argv: [], env });
  const log = createLogger(config.log.level);
  const serviceOptions: ServiceOptions = {
    // Long enough for a loaded machine's broker to deliver the retained messages before the
    // start-up cleanup decides what is stale (100 ms once missed them under CI load).
    cleanupSettleMs: 300,
    offlineDelayMs: 100,
    reconnectBaseMs: 50,
    ...options.service,
  };
  const topics = new Topics({
    baseTopic: config.mqtt.base_topic,
    hostId: config.host.id || "vm",
    discoveryPrefix: config.homeassistant.prefix,
  });
  let service: Service | undefined = await startService(config, log, serviceOptions);
  const harness: Harness = {
    engine,
    broker,
    recorder,
    get service() {
      if (!service) throw new Error("the bridge is stopped");
      return service;
    },
    topics,
    async restartBridge() {
      service = await startService(config, log, serviceOptions);
      return service;
    },
    async stopBridge() {
      await service?.stop();
      service = undefined;
    },
    async close() {
      await service?.stop();
      await recorder.close();
      await broker.close();
      await engine.close();
    },
  };
  return harness;
}
