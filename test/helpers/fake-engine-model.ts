// Fake Docker Engine 20.10, container side: the container record, and how 20.10 renders it in
// `GET /containers/json` and `GET /containers/{id}/json` (shapes copied from the captures).
import { randomBytes } from "node:crypto";
import {
  type RestartManagerState,
  type RestartPolicy,
  type RestartPolicyInput,
  toRestartPolicy,
} from "./fake-engine-restart.js";

export type ContainerState =
  | "created"
  | "running"
  | "paused"
  | "restarting"
  | "removing"
  | "exited"
  | "dead";
export type HealthStatus = "starting" | "healthy" | "unhealthy";

export interface HealthcheckConfig {
  Test: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  Retries?: number;
}

export interface HealthLogEntry {
  Start: string;
  End: string;
  ExitCode: number;
  Output: string;
}

export interface VolumeMount {
  name: string;
  destination: string;
}

/** What a test says about a container; everything but `name` has a 20.10-like default. */
export interface ContainerSpec {
  name: string;
  id?: string;
  /** Image reference as the user gave it; default "probe/busybox:1". */
  image?: string;
  labels?: Record<string, string>;
  /** `true` gives the capture's `--health-cmd true --health-interval 1s`. */
  healthcheck?: boolean | HealthcheckConfig;
  /** Path + Args; default ["sleep", "3600"]. */
  cmd?: string[];
  /** Network mode; default "bridge" ("none" in all the captures). */
  network?: string;
  volumes?: VolumeMount[];
  /** `docker run --restart`: "always", "on-failure:3", ... or the inspect object; default "no". */
  restartPolicy?: RestartPolicyInput;
}

/** A container as it already exists when a test starts (no events are emitted for it). */
export interface ContainerSeed extends ContainerSpec {
  /** Default "running". */
  state?: ContainerState;
  /** Health for a container with a healthcheck; default healthy when running. */
  health?: HealthStatus;
  failingStreak?: number;
  healthLog?: HealthLogEntry[];
  exitCode?: number;
  oomKilled?: boolean;
  restartCount?: number;
  created?: Date;
  startedAt?: Date;
  finishedAt?: Date;
}

export interface FakeContainer {
  id: string;
  name: string;
  image: string;
  imageId: string;
  cmd: string[];
  labels: Record<string, string>;
  healthcheck: HealthcheckConfig | null;
  network: string;
  volumes: VolumeMount[];
  restartPolicy: RestartPolicy;
  /** moby's in-memory restart manager; null until an exit or a stop needs it. */
  restartManager: RestartManagerState | null;
  /** HasBeenManuallyStopped: set by stop/kill, cleared by a manual start. */
  manuallyStopped: boolean;
  /** Wall-clock nanoseconds; 0n is Go's zero time. */
  created: bigint;
  startedAt: bigint;
  finishedAt: bigint;
  running: boolean;
  paused: boolean;
  restarting: boolean;
  removing: boolean;
  dead: boolean;
  oomKilled: boolean;
  pid: number;
  exitCode: number;
  restartCount: number;
  endpointId: string;
  health: { status: HealthStatus; failingStreak: number; log: HealthLogEntry[] | null } | null;
  /** The captured inspect document this container was seeded from, if any. */
  inspectTemplate?: Record<string, unknown>;
}

export const DEFAULT_IMAGE = "probe/busybox:1";
export const DEFAULT_IMAGE_ID =
  "sha256:ecc70b614c3dc4bec38a4c2ecd5a2816a8682765b28c375d56278e6ed1ea0e45";
export const NONE_NETWORK_ID = "67f964643da4b59c8a0970446626f7ab8a4d874b09799d8cedbe0abc2bd85944";
const CAPTURE_HEALTHCHECK: HealthcheckConfig = { Test: ["CMD-SHELL", "true"], Interval: 1e9 };

export function randomId(): string {
  return randomBytes(32).toString("hex");
}

export function msToNs(ms: number): bigint {
  return BigInt(Math.round(ms)) * 1_000_000n;
}

export function newContainer(seed: ContainerSeed, nowNs: bigint): FakeContainer {
  const state = seed.state ?? "running";
  const running = state === "running" || state === "paused" || state === "restarting";
  const started = state !== "created";
  const healthcheck =
    seed.healthcheck === true ? CAPTURE_HEALTHCHECK : seed.healthcheck ? seed.healthcheck : null;
  // Only a running, unpaused process has a health monitor; without one the status is unhealthy.
  const live = state === "running";
  const defaultHealth: HealthStatus = live ? "healthy" : "unhealthy";
  return {
    id: seed.id ?? randomId(),
    name: seed.name.replace(/^\//, ""),
    image: seed.image ?? DEFAULT_IMAGE,
    imageId: DEFAULT_IMAGE_ID,
    cmd: seed.cmd ?? ["sleep", "3600"],
    labels: { ...seed.labels },
    healthcheck,
    network: seed.network ?? "bridge",
    volumes: seed.volumes ?? [],
    restartPolicy: toRestartPolicy(seed.restartPolicy),
    restartManager: null,
    manuallyStopped: false,
    created: seed.created ? msToNs(seed.created.getTime()) : nowNs,
    startedAt: seed.startedAt ? msToNs(seed.startedAt.getTime()) : started ? nowNs : 0n,
    // Never started, never finished: the engine reports Go's zero time for both.
    finishedAt: seed.finishedAt
      ? msToNs(seed.finishedAt.getTime())
      : running || !started
        ? 0n
        : nowNs,
    running,
    paused: state === "paused",
    restarting: state === "restarting",
    removing: state === "removing",
    dead: state === "dead",
    oomKilled: seed.oomKilled ?? false,
    pid: running && state !== "restarting" ? 1000 + Math.floor(Math.random() * 30000) : 0,
    exitCode: seed.exitCode ?? 0,
    restartCount: seed.restartCount ?? 0,
    endpointId: running && state !== "restarting" ? randomId() : "",
    health:
      healthcheck && started
        ? {
            status: seed.health ?? defaultHealth,
            failingStreak: seed.failingStreak ?? 0,
            log: seed.healthLog ?? null,
          }
        : null,
  };
}

/** container/state.go StateString. */
export function stateOf(c: FakeContainer): ContainerState {
  if (c.running) return c.paused ? "paused" : c.restarting ? "restarting" : "running";
  if (c.removing) return "removing";
  if (c.dead) return "dead";
  return c.startedAt === 0n ? "created" : "exited";
}

/** go-units HumanDuration. */
export function humanDuration(ns: bigint): string {
  const seconds = Number(ns / 1_000_000_000n);
  if (seconds < 1) return "Less than a second";
  if (seconds === 1) return "1 second";
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(seconds / 3600);
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(seconds / 3600 / 24 / 365)} years`;
}

/** container/state.go String: the list's `Status` text. */
export function statusText(c: FakeContainer, nowNs: bigint): string {
  if (c.running) {
    const up = humanDuration(nowNs - c.startedAt);
    if (c.paused) return `Up ${up} (Paused)`;
    if (c.restarting)
      return `Restarting (${c.exitCode}) ${humanDuration(nowNs - c.finishedAt)} ago`;
    if (c.health) {
      const h = c.health.status === "starting" ? "health: starting" : c.health.status;
      return `Up ${up} (${h})`;
    }
    return `Up ${up}`;
  }
  if (c.removing) return "Removal In Progress";
  if (c.dead) return "Dead";
  if (c.startedAt === 0n) return "Created";
  return `Exited (${c.exitCode}) ${humanDuration(nowNs - c.finishedAt)} ago`;
}

/** Go's time.Time RFC3339Nano in UTC (trailing zeros of the fraction trimmed). */
export function goTime(ns: bigint): string {
  if (ns === 0n) return "0001-01-01T00:00:00Z";
  const seconds = ns / 1_000_000_000n;
  const frac = (ns % 1_000_000_000n).toString().padStart(9, "0").replace(/0+$/, "");
  const base = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  return `${base}${frac ? `.${frac}` : ""}Z`;
}

export function parseGoTime(text: string): bigint {
  if (text.startsWith("0001-")) return 0n;
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(text);
  if (!m) throw new Error(`bad time ${text}`);
  const seconds = BigInt(Date.parse(`${m[1]}Z`) / 1000);
  return seconds * 1_000_000_000n + BigInt((m[2] ?? "").padEnd(9, "0"));
}

/** Network driver type as the network events' `type` attribute shows it. */
export function networkType(network: string): string {
  if (network === "none") return "null";
  if (network === "host") return "host";
  return "bridge";
}

export function networkId(network: string): string {
  if (network === "none") return NONE_NETWORK_ID;
  return Buffer.from(network.padEnd(32, "\0").slice(0, 32)).toString("hex");
}

/** The command as the list shows it: `sh -c 'exit 3'`. */
function commandText(cmd: string[]): string {
  return cmd
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`))
    .join(" ");
}

function networksOf(c: FakeContainer): Record<string, unknown> {
  return {
    [c.network]: {
      IPAMConfig: null,
      Links: null,
      Aliases: null,
      NetworkID: networkId(c.network),
      // Released at die (daemon.Cleanup), also while a restart policy's back-off runs.
      EndpointID: c.running && !c.restarting ? c.endpointId : "",
      Gateway: "",
      IPAddress: "",
      IPPrefixLen: 0,
      IPv6Gateway: "",
      GlobalIPv6Address: "",
      GlobalIPv6PrefixLen: 0,
      MacAddress: "",
      DriverOpts: null,
    },
  };
}

function mountsOf(c: FakeContainer): unknown[] {
  return c.volumes.map((v) => ({
    Type: "volume",
    Name: v.name,
    Source: `/var/lib/docker/volumes/${v.name}/_data`,
    Destination: v.destination,
    Driver: "local",
    Mode: "z",
    RW: true,
    Propagation: "",
  }));
}

/** One entry of `GET /containers/json`, keys in the capture's order. */
export function toListEntry(
  c: FakeContainer,
  nowNs: bigint,
  withHealth = false,
): Record<string, unknown> {
  const entry: Record<string, unknown> = {
    Id: c.id,
    Names: [`/${c.name}`],
    Image: c.image,
    ImageID: c.imageId,
    Command: commandText(c.cmd),
    Created: Number(c.created / 1_000_000_000n),
    Ports: [],
    Labels: { ...c.labels },
    State: stateOf(c),
    Status: statusText(c, nowNs),
    HostConfig: { NetworkMode: c.network },
    NetworkSettings: { Networks: networksOf(c) },
    Mounts: mountsOf(c),
  };
  // API 1.52 lists health (daemon/container/view.go transform: "none" without a healthcheck).
  if (withHealth) {
    entry.Health = {
      Status: c.health?.status ?? "none",
      FailingStreak: c.health?.failingStreak ?? 0,
    };
  }
  return entry;
}

/** `GET /containers/{id}/json`: the captured inspect document with this container's values. */
export function toInspect(c: FakeContainer, fallback: Record<string, unknown>): unknown {
  const template = c.inspectTemplate ?? fallback;
  const t = template as {
    HostConfig: Record<string, unknown>;
    Config: Record<string, unknown>;
    NetworkSettings: Record<string, unknown>;
  };
  const state: Record<string, unknown> = {
    Status: stateOf(c),
    Running: c.running,
    Paused: c.paused,
    Restarting: c.restarting,
    OOMKilled: c.oomKilled,
    Dead: c.dead,
    Pid: c.pid,
    ExitCode: c.exitCode,
    Error: "",
    StartedAt: goTime(c.startedAt),
    FinishedAt: goTime(c.finishedAt),
  };
  if (c.health) {
    state.Health = {
      Status: c.health.status,
      FailingStreak: c.health.failingStreak,
      Log: c.health.log,
    };
  }
  const config: Record<string, unknown> = {
    ...t.Config,
    Hostname: c.id.slice(0, 12),
    Cmd: c.cmd,
    Healthcheck: c.healthcheck,
    Image: c.image,
    Labels: { ...c.labels },
  };
  if (!c.healthcheck) delete config.Healthcheck;
  const dir = `/var/lib/docker/containers/${c.id}`;
  return {
    ...template,
    Id: c.id,
    Created: goTime(c.created),
    Path: c.cmd[0] ?? "",
    Args: c.cmd.slice(1),
    State: state,
    Image: c.imageId,
    ResolvConfPath: `${dir}/resolv.conf`,
    HostnamePath: `${dir}/hostname`,
    HostsPath: `${dir}/hosts`,
    LogPath: `${dir}/${c.id}-json.log`,
    Name: `/${c.name}`,
    RestartCount: c.restartCount,
    HostConfig: { ...t.HostConfig, NetworkMode: c.network, RestartPolicy: c.restartPolicy },
    Mounts: mountsOf(c),
    Config: config,
    NetworkSettings: { ...t.NetworkSettings, Networks: networksOf(c) },
  };
}
