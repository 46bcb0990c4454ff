// What every scenario gets: the clock, the real engine and broker when the machine can run them,
// fresh brokers and fake engines on demand, and bridge processes that are all stopped at the end.

import { type DockerApi, restartMosquitto } from "../test/e2e/services.js";
import { startTestBroker, type TestBroker } from "../test/helpers/broker.js";
import { FakeEngine } from "../test/helpers/fake-engine.js";
import { BridgeProcess, type BridgeSpawn } from "./bridge-process.js";
import type { WallClock } from "./clock.js";
import type { RealServices } from "./real-services.js";
import type { Floor } from "./scenarios/floor.js";

export type BrokerKind = "mosquitto" | "aedes";

export interface Broker {
  url: string;
  kind: BrokerKind;
}

/** One measured number, as it goes to the table and to latest.json. */
export interface Figure {
  scenario: string;
  name: string;
  value: number | null;
  unit: string;
  /** What the number is computed from, e.g. 40 (events) or "3 bursts x 20". */
  samples: number | string;
  /** Engine and broker it was measured against. */
  setup: string;
  /**
   * The goal, e.g. "< 1", or "<= floor + 0.15" against `floor`; `met` says whether the value
   * reaches it.
   */
  target?: string;
  /** Where the target comes from: "#18" (its targets, named as there) or "bench" (earlier goals). */
  targetFrom?: string;
  /** The floor (what Node alone costs, same unit, same run) this figure is held against. */
  floor?: number;
  /** Filled in at the end: value - floor, and value / floor (null when the floor is 0). */
  vsFloor?: { difference: number; ratio: number | null };
  met?: boolean;
  note?: string;
}

/** Which of the floor's values a figure is held against. */
export type FloorKey = "startupS" | "peakRssMiB" | "steadyRssMiB";

export interface BenchOptions {
  quick: boolean;
  profile: boolean;
  only: Set<string> | undefined;
  /** Node flags added to every bridge (the --nodelay-shim experiment). */
  bridgeArgs?: string[];
  /** The Node binary the bridge and the floor run with (--node=PATH; default: the bench's own). */
  node?: string;
}

export class BenchContext {
  readonly clock: WallClock;
  readonly real: RealServices | undefined;
  readonly api: DockerApi | undefined;
  readonly options: BenchOptions;
  readonly profileDir: string;
  /** Date.now() by which the scenarios must be done, leaving time for the teardown. */
  readonly deadline: number;
  readonly figures: Figure[] = [];
  /** What Node alone costs, measured first (the floor scenario); undefined until then. */
  floor: Floor | undefined;
  readonly #bridges = new Set<BridgeProcess>();
  readonly #engines = new Set<FakeEngine>();
  #aedes: TestBroker | undefined;

  constructor(deps: {
    clock: WallClock;
    real: RealServices | undefined;
    api: DockerApi | undefined;
    options: BenchOptions;
    profileDir: string;
    deadline: number;
  }) {
    this.clock = deps.clock;
    this.real = deps.real;
    this.api = deps.api;
    this.options = deps.options;
    this.profileDir = deps.profileDir;
    this.deadline = deps.deadline;
  }

  /** Node flags that write a CPU profile of the bridge to profileDir when it exits. */
  profileArgs(tag: string): string[] {
    return ["--cpu-prof", `--cpu-prof-dir=${this.profileDir}`, `--cpu-prof-name=${tag}.cpuprofile`];
  }

  /** The Node binary that runs the bridge and the floor. */
  get node(): string {
    return this.options.node ?? process.execPath;
  }

  /** #18's "within X of `node -e 0`" targets: the floor value and the target against it. */
  overFloor(key: FloorKey, plus: number): Pick<Figure, "floor" | "target" | "targetFrom"> {
    const floor = this.floor?.[key];
    return {
      ...(floor === undefined ? {} : { floor }),
      target: `<= floor + ${plus}`,
      targetFrom: "#18",
    };
  }

  log(message: string): void {
    process.stderr.write(`[bench] ${message}\n`);
  }

  setup(engine: "dockerd" | "fake", broker: BrokerKind): string {
    const e =
      engine === "dockerd" ? `dockerd ${this.real?.dockerVersion ?? ""}`.trim() : "fake engine";
    const b =
      broker === "mosquitto" ? `mosquitto ${this.real?.mosquittoVersion ?? ""}`.trim() : "aedes";
    return `${e} + ${b}`;
  }

  add(figure: Figure): void {
    this.figures.push(figure);
  }

  /** A broker holding no retained messages: mosquitto restarted in place, or a new aedes. */
  async freshBroker(): Promise<Broker> {
    if (this.real) {
      await restartMosquitto(this.real);
      return { url: this.real.mosquittoUrl, kind: "mosquitto" };
    }
    await this.#aedes?.close();
    this.#aedes = await startTestBroker();
    return { url: this.#aedes.url, kind: "aedes" };
  }

  startBridge(options: BridgeSpawn): BridgeProcess {
    const extra = this.options.bridgeArgs ?? [];
    const nodeArgs = [...extra, ...(options.nodeArgs ?? [])];
    const bridge = BridgeProcess.start({ ...options, nodeArgs, node: this.node }, this.clock);
    this.#bridges.add(bridge);
    bridge.child.once("exit", () => this.#bridges.delete(bridge));
    return bridge;
  }

  async fakeEngine(): Promise<FakeEngine> {
    const engine = await FakeEngine.start();
    this.#engines.add(engine);
    return engine;
  }

  async closeEngine(engine: FakeEngine): Promise<void> {
    this.#engines.delete(engine);
    await engine.close();
  }

  /** Stops every bridge still running, closes fake engines and aedes. */
  async cleanup(): Promise<void> {
    await Promise.all([...this.#bridges].map((b) => b.stop(3000)));
    await Promise.all([...this.#engines].map((e) => e.close()));
    this.#engines.clear();
    await this.#aedes?.close();
    this.#aedes = undefined;
  }
}

/** The retained state topic of a container (names of letters, digits and `-` are kept as is). */
export function stateTopic(hostId: string, name: string): string {
  return `docker/${hostId}/containers/${name}/state`;
}

export function statusOf(payload: Buffer): { status?: string; exit_code?: number | null } {
  if (payload.length === 0) return {};
  try {
    return JSON.parse(payload.toString("utf8")) as { status?: string; exit_code?: number | null };
  } catch {
    return {};
  }
}
