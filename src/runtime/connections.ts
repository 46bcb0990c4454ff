// What the configuration says to connect to: the broker's TLS files, the engines (configured,
// or named after themselves once they answer), and Portainer's API key.
import { readFileSync } from "node:fs";
import { type Config, configSchema } from "../config/loader.js";
import {
  type DockerClient,
  type EngineEndpoint,
  endpointFromDockerHost,
} from "../docker/client.js";
import type { EngineInfo } from "../docker/schemas.js";
import { ConfigError } from "../errors.js";
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

/** The engines given by configuration: `engines`, plus docker.host when it applies. */
export function configuredEngines(config: Config): { id: string; endpoint: EngineEndpoint }[] {
  const list = config.engines.map((e) => ({
    id: e.id,
    endpoint: endpointFromDockerHost(e.host, {
      tlsVerify: e.tls_verify ?? false,
      certPath: e.cert_path ?? "",
    }),
  }));
  // With `engines` or Portainer set, docker.host counts only when given explicitly.
  const explicit = config.docker.host !== configSchema.docker.host.default || config.host.id !== "";
  if (list.length === 0 ? config.portainer.url === "" || explicit : explicit) {
    const endpoint = endpointFromDockerHost(config.docker.host, {
      tlsVerify: config.docker.tls_verify,
      certPath: config.docker.cert_path,
    });
    list.unshift({ id: config.host.id, endpoint });
  }
  return list;
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
