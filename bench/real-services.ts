// A throwaway real dockerd and mosquitto for the bench, in a fresh temp dir; stopped by PID and
// removed afterwards. The process primitives come from test/e2e/daemons.ts; the few steps below
// (find the binaries, the dockerd argv with a storage-driver fallback, the busybox test image,
// the teardown) are copied in short from test/e2e/global-setup.ts, which does not export them.
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import {
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  symlink,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  CHILD_PATH,
  cmdlineOf,
  engineRequest,
  isAlive,
  launchDockerd,
  launchMosquitto,
  pingEngine,
  readState,
  SEARCH_DIRS,
  stateFileOf,
  stopPid,
  updateState,
} from "../test/e2e/daemons.js";
import type { E2EServices } from "../test/e2e/services.js";
import { freePort } from "./bridge-process.js";

const execFileAsync = promisify(execFile);
const IMAGE = "dmb-bench/busybox:1";

export type RealServices = E2EServices & { mosquittoVersion: string; dockerVersion: string };

function findExecutable(name: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? "").split(":").filter(Boolean), ...SEARCH_DIRS]) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A dynamically linked busybox would not run in an image without a libc (ELF64 LE only). */
function isStaticElf(path: string): boolean {
  const elf = readFileSync(path);
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) return true;
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  for (let i = 0; i < elf.readUInt16LE(0x38); i++) {
    if (elf.readUInt32LE(phoff + i * phentsize) === 3) return false; // PT_INTERP
  }
  return true;
}

/** Why the real services cannot run here, or undefined when they can. */
export function unavailableReason(): string | undefined {
  if (process.platform !== "linux") return "not Linux";
  if (process.getuid?.() !== 0) return "not root";
  const missing = ["dockerd", "containerd", "runc", "mosquitto", "busybox", "tar"].filter(
    (n) => findExecutable(n) === undefined,
  );
  if (missing.length > 0) return `${missing.join(", ")} not found (scripts/install-test-deps.sh)`;
  const busybox = ["/bin/busybox", findExecutable("busybox")].find(
    (p) => p !== undefined && existsSync(p) && isStaticElf(p),
  );
  return busybox ? undefined : "busybox is not statically linked (busybox-static)";
}

function dockerdArgv(dockerd: string, dataDir: string, driver: string): string[] {
  return [
    dockerd,
    `--config-file=${join(dataDir, "daemon.json")}`,
    `--data-root=${join(dataDir, "root")}`,
    `--exec-root=${join(dataDir, "exec")}`,
    `--pidfile=${join(dataDir, "dockerd.pid")}`,
    `--host=unix://${join(dataDir, "docker.sock")}`,
    `--storage-driver=${driver}`,
    "--iptables=false",
    "--ip6tables=false",
    "--bridge=none",
    "--containerd-namespace=dmb-bench",
    "--containerd-plugins-namespace=dmb-bench-plugins",
  ];
}

async function importImage(socketPath: string, dataDir: string, busybox: string): Promise<void> {
  const rootfs = join(dataDir, "rootfs");
  await Promise.all(["bin", "etc", "tmp"].map((d) => mkdir(join(rootfs, d), { recursive: true })));
  await copyFile(busybox, join(rootfs, "bin", "busybox"));
  const { stdout } = await execFileAsync(busybox, ["--list"]);
  const applets = stdout.split("\n").filter((a) => a !== "" && a !== "busybox" && !a.includes("/"));
  await Promise.all(applets.map((a) => symlink("busybox", join(rootfs, "bin", a))));
  const [repo = "", tag = ""] = IMAGE.split(":");
  const query = new URLSearchParams({ fromSrc: "-", repo, tag });
  query.append("changes", 'CMD ["sh"]');
  query.append("changes", "ENV PATH=/bin");
  const tar = spawn("tar", ["-C", rootfs, "--numeric-owner", "--owner=0", "--group=0", "-c", "."], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const tarExit = once(tar, "close");
  const res = await engineRequest(socketPath, "POST", `/images/create?${query}`, {
    stream: tar.stdout,
    contentType: "application/x-tar",
    timeoutMs: 60_000,
  });
  await tarExit;
  await rm(rootfs, { recursive: true, force: true });
  if (res.status !== 200 || res.text.includes('"error')) {
    throw new Error(`bench: importing ${IMAGE} failed (${res.status}): ${res.text.slice(0, 300)}`);
  }
}

/** Starts dockerd (overlay2, else vfs) and mosquitto on a free loopback port; imports the image. */
export async function startRealServices(): Promise<RealServices> {
  const dockerd = findExecutable("dockerd") ?? "dockerd";
  const mosquitto = findExecutable("mosquitto") ?? "mosquitto";
  const busybox =
    ["/bin/busybox", findExecutable("busybox")].find((p) => p && isStaticElf(p)) ?? "busybox";
  const dataDir = await mkdtemp("/tmp/dmb-bench-");
  updateState(dataDir, { ownerPid: process.pid });
  try {
    const port = await freePort();
    const conf = join(dataDir, "mosquitto.conf");
    await writeFile(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
    const mosquittoArgv = [mosquitto, "-c", conf];
    const mosquittoPid = await launchMosquitto(mosquittoArgv, dataDir, port);
    await writeFile(join(dataDir, "daemon.json"), "{}\n");
    const socket = join(dataDir, "docker.sock");
    let started: { pid: number; argv: string[]; driver: string } | undefined;
    const failures: string[] = [];
    for (const driver of ["overlay2", "vfs"]) {
      const argv = dockerdArgv(dockerd, dataDir, driver);
      try {
        started = { pid: await launchDockerd(argv, dataDir, socket), argv, driver };
        break;
      } catch (err: unknown) {
        failures.push(`${driver}: ${err instanceof Error ? err.message : String(err)}`);
        await killLeftovers(dataDir, join(dataDir, "exec"));
        await unmountUnder(dataDir);
        await rm(join(dataDir, "root"), { recursive: true, force: true });
        await rm(join(dataDir, "exec"), { recursive: true, force: true });
      }
    }
    if (!started) throw new Error(`dockerd did not start (${failures.join("; ")})`);
    await importImage(socket, dataDir, busybox);
    const version = await engineRequest(socket, "GET", "/version");
    const mosquittoVersion = (await execFileAsync(mosquitto, ["-h"]).catch((e: unknown) => e)) as {
      stdout?: string;
    };
    return {
      available: true,
      dataDir,
      dockerSocket: socket,
      dockerHost: `unix://${socket}`,
      dockerdPid: started.pid,
      dockerdArgv: started.argv,
      storageDriver: started.driver,
      mosquittoPort: port,
      mosquittoUrl: `mqtt://127.0.0.1:${port}`,
      mosquittoPid,
      mosquittoArgv,
      image: IMAGE,
      stateFile: stateFileOf(dataDir),
      dockerVersion: String((version.body as { Version?: string }).Version ?? "?"),
      mosquittoVersion: /mosquitto version (\S+)/.exec(mosquittoVersion.stdout ?? "")?.[1] ?? "?",
    };
  } catch (err: unknown) {
    await destroyRealServices(dataDir);
    throw err;
  }
}

/** Kills runc containers, then every process whose command line names `marker` (our dir). */
async function killLeftovers(dataDir: string, marker: string): Promise<void> {
  const runcRoot = join(dataDir, "exec", "runtime-runc");
  for (const ns of await readdir(runcRoot).catch(() => [])) {
    for (const id of await readdir(join(runcRoot, ns)).catch(() => [])) {
      await execFileAsync("runc", ["--root", join(runcRoot, ns), "delete", "--force", id], {
        env: { ...process.env, PATH: CHILD_PATH },
      }).catch(() => undefined);
    }
  }
  for (const entry of await readdir("/proc")) {
    const pid = Number(entry);
    if (Number.isInteger(pid) && pid !== process.pid && cmdlineOf(pid).includes(marker)) {
      if (isAlive(pid)) process.kill(pid, "SIGKILL");
    }
  }
}

async function unmountUnder(dataDir: string): Promise<void> {
  const points = (await readFile("/proc/self/mountinfo", "utf8"))
    .split("\n")
    .map((line) =>
      (line.split(" ")[4] ?? "").replace(/\\([0-7]{3})/g, (_, o: string) =>
        String.fromCharCode(Number.parseInt(o, 8)),
      ),
    )
    .filter((mp) => mp === dataDir || mp.startsWith(`${dataDir}/`))
    .sort((a, b) => b.length - a.length);
  for (const mp of points) {
    await execFileAsync("umount", [mp]).catch(() =>
      execFileAsync("umount", ["-l", mp]).catch(() => undefined),
    );
  }
}

/** Removes every container, stops dockerd and mosquitto by PID, unmounts, deletes the dir. */
export async function destroyRealServices(dataDir: string): Promise<void> {
  let state: ReturnType<typeof readState> | undefined;
  try {
    state = readState(dataDir);
  } catch {
    state = undefined;
  }
  const socket = join(dataDir, "docker.sock");
  if (state?.dockerdPid && isAlive(state.dockerdPid) && (await pingEngine(socket))) {
    const list = await engineRequest(socket, "GET", "/containers/json?all=1").catch(
      () => undefined,
    );
    const ids = Array.isArray(list?.body) ? (list.body as { Id: string }[]).map((c) => c.Id) : [];
    await Promise.all(
      ids.map((id) =>
        engineRequest(socket, "DELETE", `/containers/${id}?force=1&v=1`).catch(() => undefined),
      ),
    );
  }
  if (state?.dockerdPid) await stopPid(state.dockerdPid, dataDir, { graceMs: 15_000 });
  if (state?.mosquittoPid) await stopPid(state.mosquittoPid, dataDir, { graceMs: 5_000 });
  await killLeftovers(dataDir, dataDir);
  await unmountUnder(dataDir);
  await rm(dataDir, { recursive: true, force: true, maxRetries: 3 });
}
