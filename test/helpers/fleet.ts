// One bridge following several engines (an `engines` list, Portainer's environments, or both):
// the set-up of harness.ts, plus a broker whose bridge connections a test can cut (to see the
// last wills) and the bridge's log lines captured (to assert what an operator reads).
import { createServer, type Server } from "node:net";
import { Writable } from "node:stream";
import { Aedes } from "aedes";
import { expect } from "vitest";
import { loadConfig } from "../../src/config/loader.js";
import { Topics } from "../../src/homeassistant/topics.js";
import { createLogger } from "../../src/runtime/log.js";
import { type Service, type ServiceOptions, startService } from "../../src/runtime/service.js";
import { FakeEngine } from "./fake-engine.js";
import type { ContainerSeed } from "./fake-engine-model.js";
import { type FakeEnvironment, FakePortainer } from "./fake-portainer.js";
import { Recorder } from "./recorder.js";

export type LogLine = Record<string, unknown> & { level: number; msg: string };

/** A pino destination keeping every line, parsed. */
export class LogCapture extends Writable {
  readonly lines: LogLine[] = [];

  constructor() {
    super({ decodeStrings: false });
  }

  override _write(chunk: unknown, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    for (const text of String(chunk).split("\n")) {
      if (text.trim() !== "") this.lines.push(JSON.parse(text) as LogLine);
    }
    done();
  }

  find(msg: RegExp): LogLine[] {
    return this.lines.filter((l) => msg.test(l.msg));
  }

  /** Every line as written, for "this secret never appears" checks. */
  text(): string {
    return this.lines.map((l) => JSON.stringify(l)).join("\n");
  }
}

/** Polls a condition no MQTT message announces (requests seen by a fake, the bridge's model). */
export async function waitUntil(
  description: string,
  predicate: () => boolean,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${description}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The topics and ids the bridge derives for one host (default base topic and prefix). */
export function hostTopics(hostId: string): Topics {
  return new Topics({ baseTopic: "docker", hostId, discoveryPrefix: "homeassistant" });
}

/**
 * What a fresh subscriber gets as retained under `filter`: what Home Assistant sees on start.
 * aedes sends a subscription's retained messages after its SUBACK, one pattern after another in
 * the order the topics were first stored, so a retained marker stored last and subscribed last
 * arrives after all of them (a live marker published after SUBACK can overtake them).
 */
/** Everything retained under `filter`, as a fresh subscriber (Home Assistant) gets it. */
export async function retainedView(url: string, filter: string): Promise<Map<string, string>> {
  return Recorder.retainedSnapshot(url, filter);
}

export interface FleetBroker {
  url: string;
  /** Ids of the MQTT clients connected now. */
  clientIds(): string[];
  /** Destroys the sockets of the clients whose id starts with `prefix`, as a crash would. */
  dropClients(prefix: string): number;
  /** Refuses connections of clients whose id starts with `prefix` (undefined: refuse none). */
  refuse(prefix: string | undefined): void;
  close(): Promise<void>;
}

export async function startFleetBroker(): Promise<FleetBroker> {
  const aedes = await Aedes.createBroker();
  const server: Server = createServer(aedes.handle);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  // aedes keeps its connected clients by id; its typings leave the map out.
  const { clients: byId } = aedes as unknown as {
    clients: Record<string, { conn: { destroy(): void } }>;
  };
  const clients = () => Object.entries(byId);
  let refused: string | undefined;
  aedes.authenticate = (client, _user, _password, done) =>
    done(null, refused === undefined || !client.id.startsWith(refused));
  return {
    url: `mqtt://127.0.0.1:${port}`,
    clientIds: () => clients().map(([id]) => id),
    dropClients(prefix) {
      const hit = clients().filter(([id]) => id.startsWith(prefix));
      for (const [, client] of hit) client.conn.destroy();
      return hit.length;
    },
    refuse(prefix) {
      refused = prefix;
    },
    async close() {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface Fleet {
  broker: FleetBroker;
  recorder: Recorder;
  logs: LogCapture;
  readonly service: Service;
  /** Stops the bridge (each host's connection publishes `offline`). */
  stopBridge(): Promise<void>;
  close(): Promise<void>;
}

export interface FleetOptions {
  /** Environment on top of MQTT_URL, a 1 s removal grace and debug logs. */
  env: Record<string, string>;
  service?: ServiceOptions;
  /** Closed after the bridge stops: the fake engines and Portainer the test started. */
  owned?: { close(): Promise<void> }[];
}

export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const broker = await startFleetBroker();
  const recorder = await Recorder.connect(broker.url);
  const logs = new LogCapture();
  const env = {
    MQTT_URL: broker.url,
    REMOVAL_GRACE_SECONDS: "1",
    HA_REPUBLISH_DELAY_SECONDS: "0.05",
    LOG_LEVEL: "debug",
    ...options.env,
  };
  const { config } = loadConfig({ argv: [], env });
  const log = createLogger(config.log.level, logs);
  let service: Service | undefined = await startService(config, log, {
    cleanupSettleMs: 100,
    offlineDelayMs: 100,
    reconnectBaseMs: 50,
    ...options.service,
  });
  return {
    broker,
    recorder,
    logs,
    get service() {
      if (!service) throw new Error("the bridge is stopped");
      return service;
    },
    async stopBridge() {
      await service?.stop();
      service = undefined;
    },
    async close() {
      await service?.stop();
      service = undefined;
      for (const owned of options.owned ?? []) await owned.close();
      await recorder.close();
      await broker.close();
    },
  };
}

/** A fake engine already holding these containers (no events emitted for them). */
export async function engineWith(name: string, containers: ContainerSeed[]): Promise<FakeEngine> {
  const engine = await FakeEngine.start({ name, id: `${name}:ID` });
  engine.seed(containers);
  return engine;
}

export const PORTAINER_KEY = "ptr_S3cretAccessTokenValue0123456789";

export interface PortainerSetup {
  envs: FakeEnvironment[];
  /** A direct engine next to Portainer, with host id "direct". */
  direct?: FakeEngine;
  env?: Record<string, string>;
  service?: ServiceOptions;
  /** The key the bridge is given (Portainer accepts only PORTAINER_KEY). */
  apiKey?: string;
  /** More to close at the end (engines of environments added later). */
  owned?: { close(): Promise<void> }[];
}

/** Portainer with these environments, and a bridge following it (trace logs captured). */
export async function startPortainerFleet(
  s: PortainerSetup,
): Promise<{ fleet: Fleet; portainer: FakePortainer }> {
  const portainer = await FakePortainer.start({ apiKey: PORTAINER_KEY, environments: s.envs });
  const engines = s.envs.flatMap((e) => (e.engine ? [e.engine] : []));
  const fleet = await startFleet({
    env: {
      PORTAINER_URL: portainer.url,
      PORTAINER_API_KEY: s.apiKey ?? PORTAINER_KEY,
      LOG_LEVEL: "trace",
      ...(s.direct ? { DOCKER_HOST: s.direct.dockerHost, DOCKER_HOST_ID: "direct" } : {}),
      ...s.env,
    },
    ...(s.service ? { service: s.service } : {}),
    owned: [portainer, ...engines, ...(s.direct ? [s.direct] : []), ...(s.owned ?? [])],
  });
  return { fleet, portainer };
}

export async function waitOnline(fleet: Fleet, hosts: readonly string[]): Promise<void> {
  const rec = fleet.recorder;
  for (const host of hosts) {
    const topic = hostTopics(host).availability();
    await rec.waitFor(`${host} online`, () => rec.last(topic) === "online");
  }
}

/** The containers thirtyOperations() works on. */
export const OPERATED = ["c0", "c1", "c2", "c3"];

/**
 * 30 operations over OPERATED, alternating stop (exit code = the operation's index) and start
 * per container; c0 and c1 end running, c2 exited 26, c3 exited 27. Returns, per container, the
 * `die:<code>`/`start` events expected on the events topics, in order.
 */
export function thirtyOperations(engine: FakeEngine): Map<string, string[]> {
  const expected = new Map<string, string[]>(OPERATED.map((n) => [n, []]));
  for (let i = 0; i < 30; i++) {
    const name = OPERATED[i % 4] as string;
    const seen = expected.get(name) as string[];
    if (seen.length % 2 === 0) {
      engine.stop(name, { exitCode: i });
      seen.push(`die:${i}`);
    } else {
      engine.start(name);
      seen.push("start");
    }
  }
  return expected;
}

/** Final states right, and every start/die on the events topics, in order per container. */
export async function expectOperationsApplied(
  rec: Recorder,
  host: string,
  expected: Map<string, string[]>,
  timeoutMs: number,
): Promise<void> {
  const t = hostTopics(host);
  await rec.waitForState(t.containerState("c0"), { running: true }, timeoutMs);
  await rec.waitForState(t.containerState("c1"), { running: true }, timeoutMs);
  await rec.waitForState(t.containerState("c2"), { status: "exited", exit_code: 26 }, timeoutMs);
  await rec.waitForState(t.containerState("c3"), { status: "exited", exit_code: 27 }, timeoutMs);
  const topics = new Set([t.event("container", "start"), t.event("container", "die")]);
  type Published = { action: string; name: string; attributes: Record<string, string> };
  const events = () =>
    rec.messages.filter((m) => topics.has(m.topic)).map((m) => JSON.parse(m.payload) as Published);
  await rec.waitFor("all 30 start and die events", () => events().length >= 30, timeoutMs);
  for (const name of OPERATED) {
    const got = events()
      .filter((e) => e.name === name)
      .map((e) => (e.action === "die" ? `die:${e.attributes.exitCode}` : e.action));
    expect(got, name).toEqual(expected.get(name));
  }
}
