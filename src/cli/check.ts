// --check: tries the configuration, the engine and the broker once, as the bridge would, and says
// in plain words what is wrong and the likely fix. One line per check; exit status 0 or 1.
import { randomBytes } from "node:crypto";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { type LoadedConfig, loadConfig } from "../config/loader.js";
import { DockerClient, endpointFromDockerHost, MIN_TESTED_API_VERSION } from "../docker/client.js";
import { engineProblem } from "../docker/diagnose.js";
import { brokerProblem, redactBroker } from "../mqtt/diagnose.js";
import { mqttTls } from "../runtime/connections.js";
import { VERSION } from "../version.js";

/** Where --check writes; tests capture it. */
export interface CheckIo {
  out(text: string): void;
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

interface CheckLine {
  ok: boolean | "skipped";
  what: string;
  text: string;
}

async function checkEngine(loaded: LoadedConfig, timeoutMs: number): Promise<CheckLine> {
  const { config } = loaded;
  let docker: DockerClient | undefined;
  let where = config.docker.host;
  try {
    docker = new DockerClient(
      endpointFromDockerHost(config.docker.host, {
        tlsVerify: config.docker.tls_verify,
        certPath: config.docker.cert_path,
      }),
      { requestTimeoutMs: timeoutMs },
    );
    where = docker.describe();
    const client = docker;
    const facts = await withTimeout(`engine at ${where}`, timeoutMs, async (signal) => {
      const api = await client.negotiate(signal);
      const version = await client.version(signal);
      const info = await client.info(signal);
      const containers = await client.listContainers(signal);
      // The bridge follows /events: ask for a window in the past, so the stream ends at once.
      const past = `${Math.floor(Date.now() / 1000) - 5}`;
      const events = await client.events({ since: past, until: past, signal });
      for await (const _chunk of events) {
        // Drained; nothing expected.
      }
      return { api, version, info, containers: containers.length };
    });
    const old =
      Number(facts.api) < Number(MIN_TESTED_API_VERSION)
        ? ` (older than API ${MIN_TESTED_API_VERSION}, untested)`
        : "";
    return {
      ok: true,
      what: "engine",
      text: `${where}: Docker ${facts.version.Version || facts.info.ServerVersion}, API ${facts.api}${old}, name "${facts.info.Name}", ${facts.containers} containers; events readable`,
    };
  } catch (err: unknown) {
    return { ok: false, what: "engine", text: engineProblem(err, where) };
  } finally {
    await docker?.close().catch(() => undefined);
  }
}

async function checkBroker(loaded: LoadedConfig, timeoutMs: number): Promise<CheckLine> {
  const { config } = loaded;
  if (config.mqtt.url === "") {
    return {
      ok: "skipped",
      what: "broker",
      text: `mqtt.url is empty: the bridge would serve an embedded broker on ${config.mqtt.embedded_host}:${config.mqtt.embedded_port}`,
    };
  }
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

function describeSources(loaded: LoadedConfig): string {
  const counts = new Map<string, number>();
  for (const source of Object.values(loaded.sources)) {
    const kind = source.startsWith("file ") ? source : (source.split(" ")[0] ?? source);
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  const parts = [...counts]
    .filter(([kind]) => kind !== "default")
    .map(([kind, n]) => `${n} from ${kind}`);
  return parts.length > 0 ? parts.join(", ") : "all defaults";
}

/** --check: config, engine and broker, one line each; resolves to the exit status. */
export async function runCheck(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  io: CheckIo,
  options: { timeoutMs?: number; printConfig?: (loaded: LoadedConfig) => string } = {},
): Promise<number> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const lines: CheckLine[] = [];
  let loaded: LoadedConfig | undefined;
  try {
    loaded = loadConfig({ argv, env });
    lines.push({ ok: true, what: "config", text: `valid (${describeSources(loaded)})` });
  } catch (err: unknown) {
    lines.push({ ok: false, what: "config", text: (err as Error).message });
  }
  if (loaded) {
    if (options.printConfig) io.out(options.printConfig(loaded));
    const [engine, broker] = await Promise.all([
      checkEngine(loaded, timeoutMs),
      checkBroker(loaded, timeoutMs),
    ]);
    lines.push(engine, broker);
  }
  const failed = lines.filter((l) => l.ok === false).length;
  const label = (ok: CheckLine["ok"]) => (ok === true ? "ok" : ok === false ? "FAIL" : "skip");
  io.out(
    [
      `docker-mqtt-bridge ${VERSION} check`,
      ...lines.map((l) => `  ${label(l.ok).padEnd(5)} ${l.what.padEnd(7)} ${l.text}`),
      failed === 0 ? "all checks passed" : `${failed} check${failed > 1 ? "s" : ""} failed`,
      "",
    ].join("\n"),
  );
  return failed === 0 ? 0 : 1;
}
