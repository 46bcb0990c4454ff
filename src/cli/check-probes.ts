// The probes of --check, each tried once as the run would: an engine (direct or through
// Portainer), Portainer's environment list, the broker, and a port the bridge would listen on.
import { randomBytes } from "node:crypto";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import type { Config } from "../config/loader.js";
import { DockerClient, type EngineEndpoint, MIN_TESTED_API_VERSION } from "../docker/client.js";
import { engineProblem } from "../docker/diagnose.js";
import { PortainerClient, type PortainerEnvironment } from "../docker/portainer.js";
import { brokerProblem, redactBroker } from "../mqtt/diagnose.js";
import {
  type EngineAddress,
  endpointOf,
  type ListenTarget,
  mqttTls,
  PORTAINER_HOST_KEY,
  portainerKey,
  probeListen,
} from "../runtime/connections.js";

export interface CheckLine {
  ok: boolean;
  what: string;
  text: string;
}

/** "1 container", "4 containers". */
export function count(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
}

async function withTimeout<T>(what: string, ms: number, run: (signal: AbortSignal) => Promise<T>) {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new Error(`${what}: no answer within ${ms / 1000} s`));
    }, ms);
  });
  try {
    return await Promise.race([run(controller.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** An engine's answer, or what is wrong, named as the run's log names that engine. */
type EngineProbe = { where: string } & (
  | { ok: true; facts: string }
  | { ok: false; problem: string }
);

/**
 * What the bridge asks an engine for: /_ping, /version, /info, the containers, /events. A failure
 * is put in the run's words (docker/diagnose.ts), about the address the run's log gives.
 */
async function probeEngine(
  endpoint: EngineEndpoint,
  timeoutMs: number,
  hostKey: string,
): Promise<EngineProbe> {
  const docker = new DockerClient(endpoint, { requestTimeoutMs: timeoutMs });
  const where = docker.describe();
  try {
    const facts = await withTimeout(`engine at ${docker.describe()}`, timeoutMs, async (signal) => {
      const api = await docker.negotiate(signal);
      const version = await docker.version(signal);
      const info = await docker.info(signal);
      const containers = await docker.listContainers(signal);
      // The bridge follows /events: ask for a window in the past, so the stream ends at once.
      const past = `${Math.floor(Date.now() / 1000) - 5}`;
      const events = await docker.events({ since: past, until: past, signal });
      for await (const _chunk of events) {
        // Drained; nothing expected.
      }
      return { api, version, info, containers: containers.length };
    });
    const old =
      Number(facts.api) < Number(MIN_TESTED_API_VERSION)
        ? ` (older than API ${MIN_TESTED_API_VERSION}, untested)`
        : "";
    const release = facts.version.Version || facts.info.ServerVersion;
    const text = `Docker ${release}, API ${facts.api}${old}, name "${facts.info.Name}", ${count(facts.containers, "container")}; events readable`;
    return { ok: true, where, facts: text };
  } catch (err: unknown) {
    return { ok: false, where, problem: engineProblem(err, where, hostKey) };
  } finally {
    await docker.close().catch(() => undefined);
  }
}

/** One configured engine (`engines`, or docker.host). */
export async function checkEngine(address: EngineAddress, timeoutMs: number): Promise<CheckLine> {
  const name = address.id === "" ? "" : `${address.id}: `;
  let probe: EngineProbe;
  try {
    probe = await probeEngine(endpointOf(address), timeoutMs, address.hostKey);
  } catch (err: unknown) {
    // The address itself is unusable (a certificate file that cannot be read).
    const problem = engineProblem(err, address.host, address.hostKey);
    return { ok: false, what: "engine", text: `${name}${problem}` };
  }
  if (!probe.ok) return { ok: false, what: "engine", text: `${name}${probe.problem}` };
  const label = address.id === "" ? probe.where : `${address.id} at ${probe.where}`;
  return { ok: true, what: "engine", text: `${label}: ${probe.facts}` };
}

/** Ids or names of `portainer.environments` (each may end in `=host-id`). */
function selectors(config: Config): string[] {
  return config.portainer.environments.map((entry) => entry.split("=")[0] ?? entry);
}

const matches = (selector: string, env: PortainerEnvironment) =>
  selector === String(env.Id) || selector === env.Name;

/**
 * Portainer: lists the environments with the API key, then checks each Docker environment the
 * run would follow as an engine. `others` is how many engines are configured besides Portainer.
 */
export async function checkPortainer(
  config: Config,
  timeoutMs: number,
  others: number,
): Promise<CheckLine[]> {
  let client: PortainerClient | undefined;
  try {
    client = new PortainerClient({
      url: config.portainer.url,
      apiKey: portainerKey(config),
      tls: { rejectUnauthorized: config.portainer.reject_unauthorized },
    });
    const portainer = client;
    const where = portainer.describe();
    const listed = await withTimeout(`Portainer at ${where}`, timeoutMs, (signal) =>
      portainer.listEnvironments(signal),
    );
    const wanted = selectors(config);
    const followed =
      wanted.length === 0 ? listed : listed.filter((e) => wanted.some((s) => matches(s, e)));
    const unmatched = wanted.filter((s) => !listed.some((e) => matches(s, e)));
    const lines: CheckLine[] = [];
    const summary = `${where}: ${count(listed.length, "Docker environment")}, following ${followed.length}`;
    if (unmatched.length > 0) {
      const names = listed.map((e) => `${e.Id} "${e.Name}"`).join(", ") || "none";
      const quoted = unmatched.map((s) => `"${s}"`).join(", ");
      lines.push({
        ok: false,
        what: "portainer",
        text: `${summary}; portainer.environments: ${quoted} matches no Docker environment (there are: ${names})`,
      });
    } else if (followed.length === 0 && others === 0) {
      lines.push({ ok: false, what: "portainer", text: `${summary}: nothing to follow` });
    } else {
      lines.push({ ok: true, what: "portainer", text: summary });
    }
    const engines = await Promise.all(
      followed.map(async (env): Promise<CheckLine> => {
        const label = `Portainer environment "${env.Name}" (id ${env.Id})`;
        const endpoint = portainer.endpointFor(env.Id);
        const probe = await probeEngine(endpoint, timeoutMs, PORTAINER_HOST_KEY);
        const text = probe.ok ? probe.facts : probe.problem;
        return { ok: probe.ok, what: "engine", text: `${label}: ${text}` };
      }),
    );
    return [...lines, ...engines];
  } catch (err: unknown) {
    return [{ ok: false, what: "portainer", text: (err as Error).message }];
  } finally {
    await client?.close().catch(() => undefined);
  }
}

/** The broker of mqtt.url: connects with the run's options, then disconnects. */
export async function checkBroker(config: Config, timeoutMs: number): Promise<CheckLine> {
  let client: MqttClient | undefined;
  try {
    const options: IClientOptions = {
      clientId: `docker-mqtt-bridge-check_${randomBytes(3).toString("hex")}`,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: timeoutMs,
      protocolVersion: config.mqtt.protocol_version,
      ...mqttTls(config),
    };
    if (config.mqtt.username) options.username = config.mqtt.username;
    if (config.mqtt.password) options.password = config.mqtt.password;
    const connecting = mqtt.connect(config.mqtt.url, options);
    client = connecting;
    await withTimeout(
      `broker at ${redactBroker(config.mqtt.url)}`,
      timeoutMs,
      () =>
        new Promise<void>((resolve, reject) => {
          connecting.once("connect", () => resolve());
          connecting.once("error", reject);
          connecting.once("close", () => reject(new Error("the broker closed the connection")));
        }),
    );
    return { ok: true, what: "broker", text: `${redactBroker(config.mqtt.url)}: connected` };
  } catch (err: unknown) {
    return { ok: false, what: "broker", text: brokerProblem(err, config.mqtt.url) };
  } finally {
    await client?.endAsync(true).catch(() => undefined);
  }
}

/** A port the run would listen on: bound and released at once. */
export async function checkListen(
  what: string,
  target: ListenTarget,
  okText: string,
): Promise<CheckLine> {
  try {
    await probeListen(target);
    return { ok: true, what, text: okText };
  } catch (err: unknown) {
    return { ok: false, what, text: (err as Error).message };
  }
}
