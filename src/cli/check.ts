// --check: tries what the run would use, once, as the run would (the configuration, every engine,
// Portainer and its environments, the broker or the embedded broker's port, the HTTP port) and
// says in plain words what is wrong and the likely fix. One line per check; exit status 0 or 1.
import { type LoadedConfig, loadConfig } from "../config/loader.js";
import {
  embeddedBrokerTarget,
  engineAddresses,
  httpTarget,
  resolveAddresses,
} from "../runtime/connections.js";
import { VERSION } from "../version.js";
import {
  type CheckLine,
  checkBroker,
  checkEngine,
  checkListen,
  checkPortainer,
  count,
} from "./check-probes.js";

/** Where --check writes; tests capture it. */
export interface CheckIo {
  out(text: string): void;
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

/** Every check the configuration calls for, in parallel; lines in a stable order. */
async function checkAll(
  loaded: LoadedConfig,
  timeoutMs: number,
  env: NodeJS.ProcessEnv,
): Promise<CheckLine[]> {
  const { config } = loaded;
  const engines = await resolveAddresses(engineAddresses(config), { env });
  const embedded = embeddedBrokerTarget(config);
  const http = httpTarget(config);
  const groups = await Promise.all([
    Promise.all(engines.map((address) => checkEngine(address, timeoutMs))),
    config.portainer.url === "" ? [] : checkPortainer(config, timeoutMs, engines.length),
    config.mqtt.url === ""
      ? checkListen(
          "broker",
          embedded,
          `no mqtt.url: the embedded broker can listen on ${embedded.host}:${embedded.port}`,
        )
      : checkBroker(config, timeoutMs),
    config.http.port === 0
      ? []
      : checkListen(
          "http",
          http,
          `${http.host}:${http.port} is free for /healthz, /readyz and /metrics`,
        ),
  ]);
  return groups.flat();
}

/** --check: the configuration, then everything it says to use, one line each; the exit status. */
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
    lines.push(...(await checkAll(loaded, timeoutMs, env)));
  }
  const failed = lines.filter((l) => !l.ok).length;
  const label = (ok: boolean) => (ok ? "ok" : "FAIL");
  const width = Math.max(...lines.map((l) => l.what.length)) + 1;
  io.out(
    [
      `docker-mqtt-bridge ${VERSION} check`,
      ...lines.map((l) => `  ${label(l.ok).padEnd(5)} ${l.what.padEnd(width)} ${l.text}`),
      failed === 0 ? "all checks passed" : `${count(failed, "check")} failed`,
      "",
    ].join("\n"),
  );
  return failed === 0 ? 0 : 1;
}
