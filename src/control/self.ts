// Which container the bridge itself runs in, so it never stops or pauses itself. The engine gives
// no "who am I": the kernel's tables name the container's id (the cgroup path under cgroup v1 or
// a systemd scope, the bind mounts of /etc/hostname and friends under cgroup v2), and the default
// hostname of a container is its id's first 12 characters.
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import type { ContainerRecord } from "../state/model.js";

const ID = /(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])/g;

/** Every 64-hex token in the texts: layer ids too, which never equal a container's id. */
export function idsIn(...texts: string[]): Set<string> {
  const ids = new Set<string>();
  for (const text of texts) for (const m of text.matchAll(ID)) ids.add(m[0]);
  return ids;
}

export interface SelfClues {
  ids: ReadonlySet<string>;
  hostname: string;
}

/** True for the container whose id the clues name, or whose id the hostname starts. */
export function isSelfBy(clues: SelfClues, record: Pick<ContainerRecord, "id">): boolean {
  if (clues.ids.has(record.id)) return true;
  return /^[0-9a-f]{12}$/.test(clues.hostname) && record.id.startsWith(clues.hostname);
}

function readOr(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/**
 * The mount-table lines that can name this process's own container: the engine's bind mounts of
 * /etc/hostname, /etc/hosts and /etc/resolv.conf. A process on the host sees every container's
 * mounts (Podman's userdata/shm, Docker's shareable IPC): those name other containers.
 */
export function ownMounts(mountinfo: string): string {
  const own = / \/etc\/(?:hostname|hosts|resolv\.conf) /;
  return mountinfo
    .split("\n")
    .filter((line) => own.test(line))
    .join("\n");
}

/** This process's clues (empty outside a container, or where /proc is not readable). */
export function readSelfClues(): SelfClues {
  return {
    ids: idsIn(readOr("/proc/self/cgroup"), ownMounts(readOr("/proc/self/mountinfo"))),
    hostname: hostname(),
  };
}
