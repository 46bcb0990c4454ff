// The container image cannot be built here, so this proves its parts outside a container: the
// Dockerfile's build script and start command work on this checkout, its HEALTHCHECK command
// tells a live HTTP server from a dead one, the production dependencies have no native add-ons,
// and config/compose.yaml wires the bridge to a read-only socket proxy.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { Registry } from "prom-client";
import { beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { startHttpServer } from "../../src/runtime/http-server.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  version: string;
  scripts: Record<string, string>;
};

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile instructions by stage (FROM ... AS name), continuation lines joined. */
function parseDockerfile(text: string): Map<string, Instruction[]> {
  const stages = new Map<string, Instruction[]>();
  let current: Instruction[] = [];
  const joined = text.replace(/\\\r?\n/g, " ");
  for (const raw of joined.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(\w+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const op = (m[1] ?? "").toUpperCase();
    const args = (m[2] ?? "").replace(/\s+/g, " ");
    if (op === "FROM") {
      current = [];
      stages.set(/\sAS\s+(\S+)$/i.exec(args)?.[1] ?? `stage${stages.size}`, current);
    }
    current.push({ op, args });
  }
  return stages;
}

const stages = parseDockerfile(readFileSync(join(ROOT, "Dockerfile"), "utf8"));
const build = stages.get("build") ?? [];
const runtime = [...stages.values()].at(-1) ?? [];
const all = (list: Instruction[], op: string) => list.filter((i) => i.op === op);
const execForm = (list: Instruction[], op: string): string[] => {
  const last = all(list, op).at(-1);
  return last ? (JSON.parse(last.args) as string[]) : [];
};

function run(command: string[], options: { env?: NodeJS.ProcessEnv } = {}) {
  const [file = "", ...args] = command;
  return spawnSync(file, args, {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, ...options.env },
  });
}

describe("Dockerfile", () => {
  const buildScript = all(build, "RUN")
    .map((i) => /npm run (\S+)/.exec(i.args)?.[1])
    .find((s) => s !== undefined);
  const start = [...execForm(runtime, "ENTRYPOINT"), ...execForm(runtime, "CMD")];

  beforeAll(() => {
    // The very script the image's build stage runs, into the real dist/.
    expect(buildScript).toBe("build");
    const result = run(["npm", "run", buildScript ?? "build"]);
    expect(result.status, result.stdout + result.stderr).toBe(0);
  }, 120_000);

  it("builds dist/main.js with the build stage's script", () => {
    expect(pkg.scripts[buildScript ?? ""]).toBeDefined();
    expect(existsSync(join(ROOT, "dist/main.js"))).toBe(true);
  });

  it("starts with a command that runs the built bridge", () => {
    expect(start).toEqual(["node", "dist/main.js"]);
    const version = run([...start, "--version"]);
    expect(version.status, version.stderr).toBe(0);
    expect(version.stdout).toBe(`${pkg.version}\n`);
    const help = run([...start, "--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("--check");
    const bad = run([...start, "--no-such-option"]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe("docker-mqtt-bridge: unknown option --no-such-option (see --help)\n");
  });

  it("runs as node, with production dependencies only, on a Node LTS base", () => {
    expect(all(runtime, "USER").map((i) => i.args)).toEqual(["node"]);
    expect(all(runtime, "RUN").some((i) => /npm ci --omit=dev/.test(i.args))).toBe(true);
    expect(all(build, "RUN").some((i) => /npm ci(?! --omit)/.test(i.args))).toBe(true);
    for (const from of all([...stages.values()].flat(), "FROM")) {
      expect(from.args).toMatch(/^node:\$\{NODE_VERSION\}-(alpine|slim)\b/);
    }
    const labels = all(runtime, "LABEL")
      .map((i) => i.args)
      .join(" ");
    for (const key of ["title", "description", "licenses", "version", "revision", "created"]) {
      expect(labels).toContain(`org.opencontainers.image.${key}=`);
    }
    expect(
      all(runtime, "ENV")
        .map((i) => i.args)
        .join(" "),
    ).toMatch(/HTTP_PORT=\d+/);
  });

  it("has a HEALTHCHECK that tells a live /healthz from no server", async () => {
    const healthcheck = all(runtime, "HEALTHCHECK").at(-1)?.args ?? "";
    const command = JSON.parse(healthcheck.slice(healthcheck.indexOf("CMD ") + 4)) as string[];
    expect(command.slice(0, 2)).toEqual(["node", "-e"]);
    const server = await startHttpServer({
      host: "127.0.0.1",
      port: 0,
      registry: new Registry(),
      readiness: () => ({ ready: false, broker: { url: "", connected: false }, engines: [] }),
      log: pino({ level: "silent" }),
    });
    // Asynchronously: the server answering the probe lives in this process.
    const probe = () =>
      new Promise<number | null>((resolve) => {
        const child = spawn(command[0] ?? "", command.slice(1), {
          env: { ...process.env, HTTP_PORT: String(server.port) },
          stdio: "ignore",
          timeout: 20_000,
        });
        child.on("exit", (code) => resolve(code));
      });
    const alive = { status: await probe() };
    await server.close();
    const dead = { status: await probe() };
    expect(alive.status).toBe(0);
    expect(dead.status).toBe(1);
  });

  it("ships no native add-ons in the production dependencies", () => {
    const ls = run(["npm", "ls", "--omit=dev", "--all", "--parseable"]);
    expect(ls.status, ls.stderr).toBe(0);
    const dirs = ls.stdout.split("\n").filter((d) => d.includes("node_modules"));
    expect(dirs.length).toBeGreaterThan(10);
    const native: string[] = [];
    const walk = (dir: string, depth: number) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (name === "binding.gyp" || name.endsWith(".node")) native.push(path);
        else if (depth < 6 && name !== "node_modules" && statSync(path).isDirectory()) {
          walk(path, depth + 1);
        }
      }
    };
    for (const dir of dirs) walk(dir, 0);
    expect(native).toEqual([]);
  });

  it("keeps the build context to what the build needs", () => {
    const ignored = readFileSync(join(ROOT, ".dockerignore"), "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#"));
    expect(ignored).toEqual(expect.arrayContaining(["node_modules", "dist", ".git"]));
    const copied = all([...stages.values()].flat(), "COPY")
      .filter((i) => !i.args.startsWith("--from"))
      .flatMap((i) => i.args.split(" ").slice(0, -1));
    for (const path of copied) {
      expect(ignored).not.toContain(path);
      expect(existsSync(join(ROOT, path)), path).toBe(true);
    }
  });
});

describe("config/compose.yaml", () => {
  const compose = parseYaml(readFileSync(join(ROOT, "config/compose.yaml"), "utf8")) as {
    services: Record<string, { environment?: Record<string, unknown>; volumes?: string[] }>;
  };

  it("puts a read-only socket proxy between the bridge and the engine", () => {
    const proxy = compose.services["socket-proxy"];
    expect(proxy?.environment).toMatchObject({
      CONTAINERS: 1,
      EVENTS: 1,
      INFO: 1,
      VERSION: 1,
      PING: 1,
      POST: 0,
    });
    expect(proxy?.volumes).toEqual(["/var/run/docker.sock:/var/run/docker.sock:ro"]);
    const bridge = compose.services["docker-mqtt-bridge"];
    expect(bridge?.environment).toMatchObject({
      DOCKER_HOST: "tcp://socket-proxy:2375",
      MQTT_URL: "mqtt://mosquitto:1883",
    });
    expect(bridge?.volumes).toBeUndefined();
    expect(compose.services.mosquitto).toBeDefined();
  });
});
