// What the configuration says to connect to (the broker's TLS files, the engines, Portainer's API
// key) and to listen on (the embedded broker, the HTTP server), with failures explained.
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import type { Logger } from "pino";
import { type Config, configSchema } from "../config/loader.js";
import {
  type DockerClient,
  type EngineEndpoint,
  endpointFromDockerHost,
} from "../docker/client.js";
import { type DiscoveredHost, discoverDockerHost } from "../docker/discover.js";
import type { EngineInfo } from "../docker/schemas.js";
import { BridgeError, ConfigError, describeError } from "../errors.js";
import type { PublisherOptions } from "../mqtt/publisher.js";
import type { EngineReporter } from "./engine-reporter.js";

/** TLS options for the broker: CA and client certificate files, verification on by default. */
export function mqttTls(config: Config): NonNullable<PublisherOptions["tls"]> {
  const read = (key: string, path: string) => {
    try {
      return readFileSync(path, "utf8");
    } catch (err: unknown) {
      throw new ConfigError(`${key}: ${path} cannot be read: ${(err as Error).message}`, {
        code: "CONFIG_FILE_UNREADABLE",
        cause: err,
      });
    }
  };
  const tls: NonNullable<PublisherOptions["tls"]> = {
    rejectUnauthorized: config.mqtt.reject_unauthorized,
  };
  if (config.mqtt.ca_file) tls.ca = read("mqtt.ca_file", config.mqtt.ca_file);
  if (config.mqtt.cert_file) tls.cert = read("mqtt.cert_file", config.mqtt.cert_file);
  if (config.mqtt.key_file) tls.key = read("mqtt.key_file", config.mqtt.key_file);
  return tls;
}

/**
 * Waits for the engine to answer /info, retrying with capped backoff (the host id may depend on
 * it); failures go through the reporter, so the log says what is wrong once, not every retry.
 */
export async function firstContact(
  docker: DockerClient,
  reporter: EngineReporter,
  maxMs: number,
  signal?: AbortSignal,
): Promise<EngineInfo> {
  let delay = 500;
  for (;;) {
    try {
      await docker.negotiate(signal);
      const info = await docker.info(signal);
      reporter.recovered();
      return info;
    } catch (err: unknown) {
      if (signal?.aborted) throw err;
      reporter.failed(err, delay);
      await sleep(delay, signal);
      delay = Math.min(delay * 2, maxMs);
    }
  }
}

/** A timer that a stop cuts short (the loop above then sees the aborted signal). */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** An engine as the configuration names it: its id ("" = named after the engine) and address. */
export interface EngineAddress {
  id: string;
  host: string;
  tlsVerify: boolean;
  certPath: string;
  /** The setting to check when its host cannot be resolved, as the failure's text names it. */
  hostKey: string;
}

/** What names a Portainer environment's host. */
export const PORTAINER_HOST_KEY = "portainer.url";

/** The engines given by configuration: `engines`, plus docker.host when it applies. */
export function engineAddresses(config: Config): EngineAddress[] {
  const list = config.engines.map((e) => ({
    id: e.id,
    host: e.host,
    tlsVerify: e.tls_verify ?? false,
    certPath: e.cert_path ?? "",
    hostKey: `the host of engine ${e.id}`,
  }));
  // With `engines` or Portainer set, docker.host counts only when given explicitly.
  const explicit = config.docker.host !== configSchema.docker.host.default || config.host.id !== "";
  if (list.length === 0 ? config.portainer.url === "" || explicit : explicit) {
    list.unshift({
      id: config.host.id,
      host: config.docker.host,
      tlsVerify: config.docker.tls_verify,
      certPath: config.docker.cert_path,
      hostKey: "DOCKER_HOST",
    });
  }
  return list;
}

/**
 * The addresses with an empty host (docker.host unset) resolved to the first usual socket that
 * answers; logged, with every socket tried, so a user sees which engine the bridge follows.
 */
export async function resolveAddresses(
  addresses: readonly EngineAddress[],
  options: {
    env: NodeJS.ProcessEnv;
    log?: Logger;
    discover?: (env: NodeJS.ProcessEnv) => Promise<DiscoveredHost>;
  },
): Promise<EngineAddress[]> {
  const discover = options.discover ?? ((env) => discoverDockerHost({ env }));
  const out: EngineAddress[] = [];
  for (const address of addresses) {
    if (address.host !== "") {
      out.push(address);
      continue;
    }
    const found = await discover(options.env);
    const tried = found.tried.map((path) => `unix://${path}`);
    if (found.found) {
      options.log?.info(
        { engine: found.host, tried },
        "DOCKER_HOST not set: using the first socket that answers",
      );
    } else {
      options.log?.warn(
        { engine: found.host, tried },
        "DOCKER_HOST not set and no engine socket answers: waiting for the first; set DOCKER_HOST to choose",
      );
    }
    out.push({ ...address, host: found.host });
  }
  return out;
}

export function endpointOf(address: EngineAddress): EngineEndpoint {
  return endpointFromDockerHost(address.host, {
    tlsVerify: address.tlsVerify,
    certPath: address.certPath,
  });
}

/** The engines given by configuration (resolved: see resolveAddresses), with their endpoints. */
export function configuredEngines(
  addresses: readonly EngineAddress[],
): { id: string; endpoint: EngineEndpoint; hostKey: string }[] {
  return addresses.map((a) => ({
    id: a.id,
    endpoint: endpointOf(a),
    hostKey: a.hostKey,
  }));
}

/** A port the bridge listens on, named as the configuration names it. */
export interface ListenTarget {
  /** "the embedded broker", "the HTTP server". */
  what: string;
  host: string;
  port: number;
  hostKey: string;
  portKey: string;
  /** What else the user can do about a taken port. */
  alternative?: string;
}

export function embeddedBrokerTarget(config: Config): ListenTarget {
  return {
    what: "the embedded MQTT broker",
    host: config.mqtt.embedded_host,
    port: config.mqtt.embedded_port,
    hostKey: "mqtt.embedded_host",
    portKey: "mqtt.embedded_port",
    alternative: "set MQTT_URL to your broker",
  };
}

export function httpTarget(config: Config): ListenTarget {
  return {
    what: "the HTTP server",
    host: config.http.host,
    port: config.http.port,
    hostKey: "http.host",
    portKey: "http.port",
  };
}

/** A failure to listen, explained with the fix, as one line (LISTEN_FAILED). */
export function listenError(err: unknown, target: ListenTarget): BridgeError {
  const code = (err as { code?: unknown } | null)?.code;
  const host = target.host.includes(":") ? `[${target.host}]` : target.host;
  const where = `${host}:${target.port}`;
  const other = `choose another ${target.portKey}`;
  let text: string;
  if (code === "EADDRINUSE") {
    const fix = target.alternative ? `${target.alternative} or ${other}` : other;
    text = `port ${where} is taken by another program: ${fix}`;
  } else if (code === "EACCES" || code === "EPERM") {
    text = `no permission to listen on ${where} (ports below 1024 need privileges): ${other}`;
  } else if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND" || code === "EAI_AGAIN") {
    text = `${target.host} is not an address of this machine: check ${target.hostKey}`;
  } else {
    text = `cannot listen on ${where}: ${describeError(err)}`;
  }
  return new BridgeError("LISTEN_FAILED", `${target.what}: ${text}`, { cause: err });
}

/** Listens on the target's address and closes again: whether the run could listen there. */
export async function probeListen(target: ListenTarget): Promise<void> {
  const server = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(target.port, target.host, () => resolve());
    });
  } catch (err: unknown) {
    throw listenError(err, target);
  }
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

export function portainerKey(config: Config): string {
  const file = config.portainer.api_key_file;
  if (file === "") return config.portainer.api_key;
  try {
    return readFileSync(file, "utf8").trim();
  } catch (err: unknown) {
    throw new ConfigError(
      `portainer.api_key_file: ${file} cannot be read: ${(err as Error).message}`,
      {
        code: "CONFIG_FILE_UNREADABLE",
        cause: err,
      },
    );
  }
}
