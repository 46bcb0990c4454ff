// The command line around the service: which mode the arguments ask for, --help generated from the
// schema, --print-config with each value's source, and --check (in check.ts).

import { keyDocs, showDefault, type YamlItem, yamlLines } from "../config/docs.js";
import { type LoadedConfig, loadConfig, redactUrl } from "../config/loader.js";
import { ConfigError } from "../errors.js";
import { VERSION } from "../version.js";

export type CliMode = "run" | "help" | "version" | "check" | "print-config";

export interface CliRequest {
  mode: CliMode;
  /** Also print the configuration (with --check). */
  printConfig: boolean;
  /** What is left for loadConfig: --config and the configuration flags. */
  configArgv: string[];
}

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

const COMMANDS: { flags: string[]; mode: CliMode; text: string }[] = [
  {
    flags: ["--check"],
    mode: "check",
    text: "check the configuration, the engine and the broker; exit 0 if all is well, else 1",
  },
  {
    flags: ["--print-config"],
    mode: "print-config",
    text: "print the effective configuration (secrets redacted) and each value's source",
  },
  { flags: ["--help", "-h"], mode: "help", text: "show this help" },
  { flags: ["--version", "-V"], mode: "version", text: "print the version" },
];

/**
 * Splits the command line into the mode and the configuration flags. Throws ConfigError for an
 * option nobody knows, so a typo is not silently ignored (unless --help or --version is asked for).
 */
export function parseCliArgs(argv: readonly string[]): CliRequest {
  const modes = new Set<CliMode>();
  const configArgv: string[] = [];
  const configFlags = new Set(["config", ...keyDocs().map((k) => k.arg)]);
  let problem: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    const command = COMMANDS.find((c) => c.flags.includes(arg));
    if (command) {
      modes.add(command.mode);
      continue;
    }
    if (!arg.startsWith("--")) {
      problem ??= `unexpected argument '${arg}' (see --help)`;
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    if (!configFlags.has(name)) {
      problem ??= `unknown option --${name} (see --help)`;
      continue;
    }
    configArgv.push(arg);
    const next = argv[i + 1];
    if (eq === -1 && next !== undefined && !next.startsWith("--")) {
      configArgv.push(next);
      i++;
    } else if (eq === -1 && name === "config") {
      problem ??= "--config needs a file name";
    }
  }
  if (problem && !modes.has("help") && !modes.has("version")) throw new ConfigError(problem);
  const mode: CliMode = modes.has("help")
    ? "help"
    : modes.has("version")
      ? "version"
      : modes.has("check")
        ? "check"
        : modes.has("print-config")
          ? "print-config"
          : "run";
  return { mode, printConfig: mode === "check" && modes.has("print-config"), configArgv };
}

/** --help: every option with its environment variable and default, from the schema. */
export function helpText(): string {
  const lines = [
    `docker-mqtt-bridge ${VERSION}`,
    "Mirrors Docker Engine containers and events into MQTT, with Home Assistant discovery.",
    "",
    "Usage: docker-mqtt-bridge [--config FILE] [--OPTION VALUE ...] [--check | --print-config]",
    "",
    "Commands (without one, the bridge runs until SIGTERM or SIGINT):",
    ...COMMANDS.map((c) => `  ${c.flags.join(", ").padEnd(22)} ${c.text}`),
    "",
    "Options. Each is also an environment variable and a key of the config file; sources, lowest",
    "to highest: defaults < config file < environment < flags.",
    "",
    "  --config FILE",
    "      env CONFIG_FILE",
    "      A YAML or JSON file of keys (see config/config.example.yaml).",
  ];
  for (const k of keyDocs()) {
    lines.push(
      "",
      `  --${k.arg} ${k.placeholder}`,
      `      env ${k.env}, key ${k.key}, default ${showDefault(k.default)}`,
      `      ${k.doc}.`,
    );
  }
  lines.push("", "Exit status: 0 stopped cleanly, 1 fatal error, 2 invalid configuration.");
  return `${lines.join("\n")}\n`;
}

/** A value with user:password taken out of every URL in it, lists and maps (engines) included. */
function redactDeep(value: unknown): unknown {
  if (typeof value === "string") return redactUrl(value);
  if (Array.isArray(value)) return value.map(redactDeep);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v)]));
  }
  return value;
}

/** --print-config: the effective configuration as YAML, secrets redacted, sources as comments. */
export function printConfigText(loaded: LoadedConfig): string {
  const { config, sources } = loaded;
  const lines = [
    `# docker-mqtt-bridge ${VERSION}: effective configuration (secrets redacted).`,
    "# Each value's source is in the comment after it.",
  ];
  const items = keyDocs().map((k): YamlItem => {
    let value: unknown = config;
    for (const part of k.key.split(".")) value = (value as Record<string, unknown>)[part];
    let source = sources[k.key] ?? "default";
    if (k.key === "mqtt.password" && config.mqtt.password_file !== "") {
      source = `file ${config.mqtt.password_file} (mqtt.password_file)`;
    }
    if (k.sensitive && value !== "") value = "[redacted]";
    else value = redactDeep(value);
    return { key: k.key, value, after: source };
  });
  lines.push(...yamlLines(items));
  return `${lines.join("\n")}\n`;
}

/** Runs a mode other than "run"; resolves to the exit status. */
export async function runCommand(
  request: CliRequest,
  env: NodeJS.ProcessEnv,
  io: CliIo,
): Promise<number> {
  switch (request.mode) {
    case "help":
      io.out(helpText());
      return 0;
    case "version":
      io.out(`${VERSION}\n`);
      return 0;
    case "check": {
      // --check brings its own probes; a plain run does not load them.
      const { runCheck } = await import("./check.js");
      return runCheck(
        request.configArgv,
        env,
        io,
        request.printConfig ? { printConfig: printConfigText } : {},
      );
    }
    case "print-config":
      try {
        io.out(printConfigText(loadConfig({ argv: request.configArgv, env })));
        return 0;
      } catch (err: unknown) {
        if (!(err instanceof ConfigError)) throw err;
        io.err(`docker-mqtt-bridge: ${err.message}\n`);
        return 2;
      }
    case "run":
      throw new Error("runCommand does not run the service");
  }
}
