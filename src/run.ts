// Composition root (started by main.ts): configuration -> logger -> service; signals and exit codes.
// Exit 0 after a clean stop, 1 on a fatal error, 2 on invalid configuration.
import { parseCliArgs, runCommand } from "./cli/cli.js";
import { loadConfig } from "./config/loader.js";
import { ConfigError, describeError } from "./errors.js";
import { createLogger } from "./runtime/log.js";
import { type Service, startService } from "./runtime/service.js";

const STOP_TIMEOUT_MS = 5000;

async function main(): Promise<void> {
  let request: ReturnType<typeof parseCliArgs>;
  let loaded: ReturnType<typeof loadConfig>;
  try {
    request = parseCliArgs(process.argv.slice(2));
    if (request.mode !== "run") {
      const io = {
        out: (text: string) => process.stdout.write(text),
        err: (text: string) => process.stderr.write(text),
      };
      // Exit at once: a check's sockets are closed, but their timers need not hold us.
      process.exit(await runCommand(request, process.env, io));
    }
    loaded = loadConfig({ argv: request.configArgv, env: process.env });
  } catch (err: unknown) {
    if (err instanceof ConfigError) {
      process.stderr.write(`docker-mqtt-bridge: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const { config } = loaded;
  const log = createLogger(config.log.level, undefined, config.log.format);

  const startup = new AbortController();
  let service: Service | undefined;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting at once");
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, "stopping");
    startup.abort();
    const force = setTimeout(() => {
      log.error("stop took too long; exiting");
      process.exit(1);
    }, STOP_TIMEOUT_MS);
    force.unref();
    (service ? service.stop() : Promise.resolve())
      .then(() => {
        log.info("stopped");
        process.exit(0);
      })
      .catch((err: unknown) => {
        log.error({ err: describeError(err) }, "error while stopping");
        process.exit(1);
      });
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  try {
    service = await startService(config, log, { signal: startup.signal });
  } catch (err: unknown) {
    if (stopping) return;
    throw err;
  }
  if (stopping) await service.stop();
}

main().catch((err: unknown) => {
  // A file named by the configuration (TLS, API key) may only be read at start-up: still exit 2.
  if (err instanceof ConfigError) {
    process.stderr.write(`docker-mqtt-bridge: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`docker-mqtt-bridge: fatal: ${describeError(err)}\n`);
  process.exit(1);
});
