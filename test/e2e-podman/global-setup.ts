// Vitest global set-up of the Podman end-to-end tests: a throwaway rootful `podman system service`
// (Podman 4.3, Debian 12) and mosquitto in a fresh temp dir, with the set-up this machine needs
// (test/fixtures/podman-4.3/NOTES.md: runc, cgroupfs, the file events backend, vfs, ulimits).
// It provides the same `e2e` context the dockerd suite's tests read (../e2e/services.ts), so its
// tests use that suite's kit unchanged: the service's socket is `<dir>/docker.sock` and its PID
// sits where dockerd's would. Nothing is shared with the dockerd suite, which may run at the same
// time: its own dir (/tmp/dmp-*), storage, run and tmp dirs, events log, socket and broker port.
// Teardown removes every container, stops both by PID and removes every mount and file.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { TestProject } from "vitest/node";
import {
  CHILD_PATH,
  isAlive,
  launchDockerd,
  launchMosquitto,
  readState,
  stateFileOf,
  updateState,
} from "../e2e/daemons.js";
import {
  destroyServices,
  type E2EContext,
  findExecutable,
  freePort,
  isCi,
  isStaticElf,
  prepareRootfs,
  printTail,
} from "../e2e/global-setup.js";

const execFileAsync = promisify(execFile);

/** Not /tmp/dmb-: the dockerd suite reaps those. Short: conmon's sockets live under it. */
const DIR_PREFIX = "/tmp/dmp-";
export const PODMAN_IMAGE = "localhost/dmb-test/busybox:1";

declare module "vitest" {
  export interface ProvidedContext {
    /** The podman command line (binary and global flags) for this service's storage. */
    podmanCli: string[];
  }
}

// NOTES.md: crun 1.8 fails on this machine's hybrid cgroups (runc), no systemd (cgroupfs, file
// events), and the sandbox's huge nofile/nproc limits make runc fail (1024).
const CONTAINERS_CONF = `[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
`;

/** `env CONTAINERS_CONF=... podman <global flags>`: every podman command of this service. */
export function podmanCli(podman: string, dataDir: string): string[] {
  return [
    "/usr/bin/env",
    `CONTAINERS_CONF=${join(dataDir, "containers.conf")}`,
    podman,
    `--root=${join(dataDir, "root")}`,
    `--runroot=${join(dataDir, "run")}`,
    `--tmpdir=${join(dataDir, "tmp")}`,
    "--storage-driver=vfs",
    "--runtime=runc",
    "--cgroup-manager=cgroupfs",
    "--events-backend=file",
  ];
}

export async function runPodman(cli: readonly string[], args: string[]): Promise<string> {
  const [command, ...rest] = cli;
  if (command === undefined) throw new Error("empty podman command line");
  const { stdout } = await execFileAsync(command, [...rest, ...args], {
    env: { ...process.env, PATH: `${CHILD_PATH}:${process.env.PATH ?? ""}` },
    timeout: 60_000,
  });
  return stdout;
}

async function importImage(cli: readonly string[], rootfs: string): Promise<void> {
  // The compatible API's import loses the tag (Podman 4.3 names it docker.io/<repo>:latest).
  const tar = join(rootfs, "..", "rootfs.tar");
  await execFileAsync("tar", [
    "-C",
    rootfs,
    "--numeric-owner",
    "--owner=0",
    "--group=0",
    "-cf",
    tar,
    ".",
  ]);
  await runPodman(cli, [
    "import",
    "--change",
    'CMD ["sh"]',
    "--change",
    "ENV PATH=/bin",
    tar,
    PODMAN_IMAGE,
  ]);
  await rm(tar, { force: true });
}

/** Where Podman's runc keeps its containers' state (runc's default for root). */
const RUNC_ROOT = "/run/runc";

/**
 * Deletes, with runc itself, every container whose root file system is under `dataDir`: what is
 * left when a run was killed mid-operation and Podman lost track (its conmon gone, the process
 * still running). Other runc users' containers (another engine's) are never touched.
 */
async function deleteOrphans(dataDir: string): Promise<void> {
  for (const id of await readdir(RUNC_ROOT).catch(() => [])) {
    const state = await readFile(join(RUNC_ROOT, id, "state.json"), "utf8").catch(() => "");
    if (!state.includes(`"${dataDir}/`)) continue;
    await execFileAsync("runc", ["--root", RUNC_ROOT, "delete", "--force", id], {
      env: { ...process.env, PATH: CHILD_PATH },
    }).catch(() => undefined);
  }
}

/**
 * Removes every container with the CLI (it needs no service), then any container Podman lost,
 * then what dockerd's teardown removes (the service and mosquitto by PID, processes naming the
 * dir, mounts, files).
 */
export async function destroyPodman(dataDir: string, podman: string): Promise<void> {
  await runPodman(podmanCli(podman, dataDir), ["rm", "--all", "--force", "--time=0"]).catch(
    () => "",
  );
  await deleteOrphans(dataDir);
  await destroyServices(dataDir);
  await deleteOrphans(dataDir);
}

/** Removes what an earlier run left when it was killed before its teardown (its owner is gone). */
async function reapStale(podman: string): Promise<void> {
  for (const entry of await readdir("/tmp").catch(() => [])) {
    if (!entry.startsWith("dmp-")) continue;
    const dataDir = join("/tmp", entry);
    try {
      const { ownerPid } = readState(dataDir);
      if (ownerPid > 0 && !isAlive(ownerPid)) await destroyPodman(dataDir, podman);
    } catch {
      // not one of ours, or half-written: leave it
    }
  }
}

export async function startPodmanServices(): Promise<{ ctx: E2EContext; cli: string[] }> {
  const unavailable = (reason: string) => ({ ctx: { available: false, reason } as const, cli: [] });
  if (process.platform !== "linux") return unavailable("a throwaway Podman service needs Linux.");
  if (process.getuid?.() !== 0) return unavailable("not running as root, which this suite needs.");
  const names = ["podman", "runc", "conmon", "mosquitto", "tar"] as const;
  const found = new Map(names.map((name) => [name, findExecutable(name)]));
  const missing = names.filter((name) => found.get(name) === undefined);
  const podman = found.get("podman");
  const mosquitto = found.get("mosquitto");
  const busybox = ["/bin/busybox", findExecutable("busybox")].find(
    (path) => path !== undefined && existsSync(path) && isStaticElf(path),
  );
  if (missing.length > 0 || !podman || !mosquitto) {
    return unavailable(
      `${missing.join(", ")} not found (install with: bash scripts/install-test-deps.sh).`,
    );
  }
  if (!busybox) return unavailable("busybox is not statically linked (install busybox-static).");
  await reapStale(podman);
  const dataDir = await mkdtemp(DIR_PREFIX);
  updateState(dataDir, { ownerPid: process.pid });
  const cli = podmanCli(podman, dataDir);
  try {
    await writeFile(join(dataDir, "containers.conf"), CONTAINERS_CONF);
    const port = await freePort();
    const confPath = join(dataDir, "mosquitto.conf");
    await writeFile(
      confPath,
      `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`,
    );
    const mosquittoArgv = [mosquitto, "-c", confPath];
    const mosquittoPid = await launchMosquitto(mosquittoArgv, dataDir, port);
    const rootfs = await prepareRootfs(dataDir, busybox);
    await importImage(cli, rootfs);
    await rm(rootfs, { recursive: true, force: true });
    const socket = join(dataDir, "docker.sock");
    const argv = [...cli, "system", "service", "--time=0", `unix://${socket}`];
    // dockerd's launcher fits any engine: starts argv detached, waits for /_ping, records the PID.
    const pid = await launchDockerd(argv, dataDir, socket);
    return {
      cli,
      ctx: {
        available: true,
        dataDir,
        dockerSocket: socket,
        dockerHost: `unix://${socket}`,
        dockerdPid: pid,
        dockerdArgv: argv,
        storageDriver: "vfs",
        mosquittoPort: port,
        mosquittoUrl: `mqtt://127.0.0.1:${port}`,
        mosquittoPid,
        mosquittoArgv,
        image: PODMAN_IMAGE,
        stateFile: stateFileOf(dataDir),
      },
    };
  } catch (err: unknown) {
    for (const log of ["dockerd.log", "mosquitto.log"]) printTail(join(dataDir, log));
    await destroyPodman(dataDir, podman);
    return unavailable(err instanceof Error ? err.message : String(err));
  }
}

export async function setup(project: TestProject): Promise<() => Promise<void>> {
  const startedAt = performance.now();
  const { ctx, cli } = await startPodmanServices();
  project.provide("e2e", ctx);
  project.provide("podmanCli", cli);
  if (!ctx.available) {
    if (isCi()) throw new Error(`CI=true but the Podman service cannot run here: ${ctx.reason}`);
    console.warn(`[e2e-podman] skipping the Podman end-to-end tests: ${ctx.reason}`);
    return async () => undefined;
  }
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
  console.info(`[e2e-podman] podman service at ${ctx.dockerHost} ready in ${seconds}s`);
  const podman = cli[2] ?? "podman";
  return () => destroyPodman(ctx.dataDir, podman);
}
