// What every bridge scenario needs: an in-process bridge on the real dockerd and mosquitto, a
// recorder of what Home Assistant and automations see on the broker, the topics to expect, a raw
// Engine event stream, exec, and a barrier that proves "nothing was published" without a sleep.
import { randomUUID } from "node:crypto";
import { request } from "node:http";
import { z } from "zod";
import { loadConfig } from "../../src/config/loader.js";
import { Topics } from "../../src/homeassistant/topics.js";
import { createLogger } from "../../src/runtime/log.js";
import { type Service, type ServiceOptions, startService } from "../../src/runtime/service.js";
import { type Recorded, Recorder } from "../helpers/recorder.js";
import { type DockerApi, type E2EServices, waitFor } from "./services.js";

export const BASE_TOPIC = "docker";
export const DISCOVERY_PREFIX = "homeassistant";

/** A host id no other test uses, so the retained messages other tests leave never match. */
export function uniqueHostId(label: string): string {
  return `${label}-${randomUUID().slice(0, 6)}`;
}

export function topicsFor(hostId: string): Topics {
  return new Topics({ baseTopic: BASE_TOPIC, hostId, discoveryPrefix: DISCOVERY_PREFIX });
}

export function deviceTopic(topics: Topics, name: string): string {
  return topics.deviceDiscovery(topics.containerDeviceId(name));
}

export function hostDeviceTopic(topics: Topics): string {
  return topics.deviceDiscovery(topics.hostDeviceId());
}

/** Topics this host's bridge publishes (other tests' retained discovery shares the prefix). */
export function isOurs(topics: Topics, topic: string): boolean {
  return (
    topic.startsWith(`${BASE_TOPIC}/${topics.hostId}/`) || topics.ownDeviceOf(topic) !== undefined
  );
}

/** Non-retained topics: raw events, and the per-container topic of Home Assistant's event entity. */
function isEventTopic(topics: Topics, topic: string): boolean {
  return topic.startsWith(`${BASE_TOPIC}/${topics.hostId}/events/`) || topic.endsWith("/event");
}

/** The last non-empty payload of every retained topic of ours the recorder saw: what the broker should hold. */
export function lastRetained(rec: Recorder, topics: Topics): Map<string, string> {
  const last = new Map<string, string>();
  for (const m of rec.messages) {
    if (isOurs(topics, m.topic) && !isEventTopic(topics, m.topic)) last.set(m.topic, m.payload);
  }
  return new Map([...last].filter(([, payload]) => payload !== ""));
}

/** The state and device topics of the containers named. */
export function containerTopicsOf(topics: Topics, names: readonly string[]): string[] {
  return names.flatMap((n) => [topics.containerState(n), deviceTopic(topics, n)]).sort();
}

/**
 * The container state and device topics among `keys` (not the host's or a Compose stack's): they
 * must match the engine's containers exactly, whatever host-level topics the bridge adds.
 */
export function containerTopicsIn(topics: Topics, keys: Iterable<string>): string[] {
  const states = `${BASE_TOPIC}/${topics.hostId}/containers/`;
  const isContainerDevice = (topic: string) => {
    const id = topics.ownDeviceOf(topic);
    return id !== undefined && id !== topics.hostDeviceId() && !id.endsWith("__stack");
  };
  return [...keys]
    .filter((t) => (t.startsWith(states) && t.endsWith("/state")) || isContainerDevice(t))
    .sort();
}

/** What a fresh subscriber (Home Assistant starting) is handed for this host: topic -> payload. */
export async function ourRetained(url: string, topics: Topics): Promise<Map<string, string>> {
  const all = await Recorder.retainedSnapshot(url, "#");
  return new Map([...all].filter(([topic]) => isOurs(topics, topic)));
}

export function parse(payload: string | undefined): Record<string, unknown> {
  if (payload === undefined) throw new Error("no payload");
  return z.record(z.string(), z.unknown()).parse(JSON.parse(payload));
}

/** Messages on one topic from index `from` of the recording on. */
export function since(rec: Recorder, from: number, topic: string): Recorded[] {
  return rec.messages.slice(from).filter((m) => m.topic === topic);
}

/** Payloads of the raw events `type/action` published about container `name`. */
export function eventsAbout(
  rec: Recorder,
  topics: Topics,
  action: string,
  name: string,
  from = 0,
): Record<string, unknown>[] {
  return since(rec, from, topics.event("container", action))
    .map((m) => parse(m.payload))
    .filter((e) => e.name === name);
}

export async function waitForEvent(
  rec: Recorder,
  topics: Topics,
  action: string,
  name: string,
  from = 0,
): Promise<Record<string, unknown>> {
  await rec.waitFor(
    `event container/${action} of ${name}`,
    () => eventsAbout(rec, topics, action, name, from).length > 0,
  );
  const [first] = eventsAbout(rec, topics, action, name, from);
  if (!first) throw new Error("unreachable");
  return first;
}

/** Waits until a topic got an empty payload (a removal) after index `from`. */
export async function waitForCleared(rec: Recorder, topic: string, from: number): Promise<void> {
  await rec.waitFor(
    `an empty payload on ${topic}`,
    () => since(rec, from, topic).some((m) => m.payload === ""),
    15_000,
  );
}

/**
 * Sends a signal that changes nothing to a running container and waits for its `kill` event on
 * the broker. The bridge publishes over one connection in order, so whatever it published for
 * earlier engine events has arrived by then.
 */
export async function barrier(
  docker: DockerApi,
  rec: Recorder,
  topics: Topics,
  name: string,
): Promise<void> {
  const from = rec.messages.length;
  await docker.kill(name, "SIGWINCH");
  await waitForEvent(rec, topics, "kill", name, from);
}

export interface BridgeUnderTest {
  hostId: string;
  topics: Topics;
  recorder: Recorder;
  service: Service;
  stop(): Promise<void>;
}

export function bridgeEnv(
  ctx: E2EServices,
  hostId: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    DOCKER_HOST: ctx.dockerHost,
    MQTT_URL: ctx.mosquittoUrl,
    DOCKER_HOST_ID: hostId,
    REMOVAL_GRACE_SECONDS: "1",
    HA_REPUBLISH_DELAY_SECONDS: "0.1",
    DOCKER_RECONNECT_MAX_SECONDS: "1",
    LOG_LEVEL: process.env.DMB_E2E_LOG_LEVEL ?? "silent",
    ...extra,
  };
}

/** Starts a recorder, then the bridge in-process, as `run.ts` would with that environment. */
export async function startBridge(
  ctx: E2EServices,
  hostId: string,
  options: { env?: Record<string, string>; service?: ServiceOptions } = {},
): Promise<BridgeUnderTest> {
  const topics = topicsFor(hostId);
  const recorder = await Recorder.connect(ctx.mosquittoUrl, [
    `${BASE_TOPIC}/${hostId}/#`,
    `${DISCOVERY_PREFIX}/#`,
  ]);
  const { config } = loadConfig({ argv: [], env: bridgeEnv(ctx, hostId, options.env) });
  const service = await startService(config, createLogger(config.log.level), {
    cleanupSettleMs: 200,
    offlineDelayMs: 300,
    reconnectBaseMs: 100,
    ...options.service,
  });
  let stopped = false;
  return {
    hostId,
    topics,
    recorder,
    service,
    async stop() {
      if (stopped) return;
      stopped = true;
      await service.stop();
      await recorder.close();
    },
  };
}

/** Runs a command in a container through the Engine API (POST exec, start), returns its exit code. */
export async function exec(docker: DockerApi, name: string, cmd: string[]): Promise<number> {
  const created = await docker.request("POST", `/containers/${encodeURIComponent(name)}/exec`, {
    Cmd: cmd,
    AttachStdout: false,
    AttachStderr: false,
  });
  if (created.status !== 201) throw new Error(`exec create: ${created.status} ${created.text}`);
  const { Id } = z.object({ Id: z.string() }).parse(created.body);
  const started = await docker.request("POST", `/exec/${Id}/start`, { Detach: true });
  if (started.status !== 200) throw new Error(`exec start: ${started.status} ${started.text}`);
  const done = await waitFor(
    async () => {
      const res = await docker.request("GET", `/exec/${Id}/json`);
      // Before the exec has started: Running false and ExitCode null.
      const state = z
        .object({ Running: z.boolean(), ExitCode: z.number().nullable() })
        .parse(res.body);
      return state.Running || state.ExitCode === null ? undefined : state.ExitCode;
    },
    { timeoutMs: 10_000, what: `exec ${cmd.join(" ")} in ${name}` },
  );
  return done;
}

export const rawEventSchema = z.looseObject({
  Type: z.string(),
  Action: z.string(),
  Actor: z.looseObject({ ID: z.string(), Attributes: z.record(z.string(), z.string()) }),
});
export type RawEvent = z.infer<typeof rawEventSchema>;

export interface EngineEventLog {
  readonly events: RawEvent[];
  /** Waits until `count` events matching `match` arrived after index `from`. */
  waitForCount(
    what: string,
    match: (e: RawEvent) => boolean,
    count: number,
    from?: number,
  ): Promise<void>;
  close(): void;
}

/** A second, independent reader of the engine's /events (what the bridge should be seeing). */
export async function followEngineEvents(
  ctx: E2EServices,
  filters: Record<string, string[]>,
): Promise<EngineEventLog> {
  const events: RawEvent[] = [];
  const path = `/events?filters=${encodeURIComponent(JSON.stringify(filters))}`;
  const req = request({ socketPath: ctx.dockerSocket, path, agent: false });
  await new Promise<void>((resolve, reject) => {
    req.on("response", (res) => {
      let rest = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        const lines = (rest + chunk).split("\n");
        rest = lines.pop() ?? "";
        for (const line of lines)
          if (line.trim()) events.push(rawEventSchema.parse(JSON.parse(line)));
      });
      res.on("error", () => undefined);
      resolve();
    });
    req.on("error", reject);
    req.end();
  });
  return {
    events,
    async waitForCount(what, match, count, from = 0) {
      await waitFor(() => events.slice(from).filter(match).length >= count, {
        timeoutMs: 15_000,
        intervalMs: 50,
        what,
      });
    },
    close() {
      req.destroy();
    },
  };
}
