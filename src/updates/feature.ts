// The image-updates feature of one engine: checks the mirrored containers' images a short random
// time after start and then every interval, publishes each verdict on the container's retained
// `update` topic and the host's count, and (with install allowed) recreates a container on Install.
import type { Logger } from "pino";
import type { Config } from "../config/loader.js";
import { describeError } from "../errors.js";
import { LABEL_PREFIX } from "../homeassistant/labels.js";
import type { Topics } from "../homeassistant/topics.js";
import { PRIORITY, type Publisher } from "../mqtt/publisher.js";
import type { ContainerFeature, MirrorView } from "../publish/features.js";
import { compilePattern } from "../state/filter.js";
import type { ContainerRecord } from "../state/model.js";
import { type Credentials, readAuthFile } from "./auth-file.js";
import { type AnswerCache, UpdateChecker, type UpdateStatus } from "./checker.js";
import type { EngineCaller } from "./engine.js";
import {
  hostCount,
  type InstallProgress,
  updatePayload,
  updatesDiscovery,
} from "./home-assistant.js";
import { InstallCommands, type InstallCommandsDeps } from "./install-commands.js";
import { installUpdate } from "./installer.js";
import { RegistryClient } from "./registry-client.js";

export const UPDATES_LABEL = `${LABEL_PREFIX}updates`;
const FALSE_WORDS = new Set(["false", "0", "no", "off"]);

export interface UpdatesDeps {
  settings: Config["updates"];
  docker: EngineCaller;
  topics: Topics;
  publisher: Pick<
    Publisher,
    "setRetained" | "clearRetained" | "publishEvent" | "subscribe" | "unsubscribe"
  >;
  log: Logger;
  /** Whether the control feature allows acting on this container (its allowlist). */
  mayAct: (record: ContainerRecord) => boolean;
  /** Whether this container is the one the bridge runs in: never recreated. */
  isSelf: (record: ContainerRecord) => boolean;
  /** Listen for Install presses at all (false with control off: no command topic is subscribed). */
  installs?: boolean;
  /** Shared with control's commands: one action per container at a time (see InstallCommands). */
  exclusive?: InstallCommandsDeps["exclusive"];
  /** Where the first check falls within its window (tests pass a constant). */
  random?: () => number;
  registry?: RegistryClient;
}

/** The longest wait before the first check (shorter when the interval is shorter). */
const FIRST_CHECK_WINDOW_MS = 60_000;
/** A recreated container is checked again this long after it is announced (bursts coalesce). */
const RECHECK_DELAY_MS = 1_000;
/** The longest delay setTimeout honours. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class UpdatesFeature implements ContainerFeature {
  readonly discovery;
  readonly #d: UpdatesDeps;
  readonly #log: Logger;
  readonly #patterns: RegExp[];
  readonly #registry: RegistryClient;
  readonly #ownsRegistry: boolean;
  readonly #statuses = new Map<string, UpdateStatus & { id: string }>();
  readonly #progress = new Map<string, InstallProgress>();
  readonly #recheck = new Set<string>();
  #answers: AnswerCache = new Map();
  #view: MirrorView | undefined;
  #timer: NodeJS.Timeout | undefined;
  #recheckTimer: NodeJS.Timeout | undefined;
  #abort = new AbortController();
  #credentials: Promise<ReadonlyMap<string, Credentials>> | undefined;
  #checker: UpdateChecker | undefined;
  #running: Promise<void> | undefined;
  #firstDone = false;
  #stopped = false;
  readonly #commands: InstallCommands;

  constructor(deps: UpdatesDeps) {
    this.#d = deps;
    this.#log = deps.log.child({ module: "updates" });
    this.#patterns = deps.settings.containers.map(compilePattern);
    this.#ownsRegistry = deps.registry === undefined;
    this.#registry =
      deps.registry ??
      new RegistryClient({ insecure: deps.settings.insecure_registries, log: this.#log });
    this.#commands = new InstallCommands({
      topics: deps.topics,
      publisher: deps.publisher,
      log: this.#log,
      containers: () => this.#view?.announced() ?? [],
      mayInstall: (r) => this.mayInstall(r),
      hasUpdate: (r) => {
        const status = this.#statuses.get(r.name);
        return status?.id === r.id && status.available === true;
      },
      install: (record, signal) => this.#install(record, signal),
      ...(deps.exclusive ? { exclusive: deps.exclusive } : {}),
    });
    this.discovery = updatesDiscovery({
      topics: deps.topics,
      isChecked: (r) => this.isChecked(r),
      mayInstall: (r) => this.mayInstall(r),
    });
  }

  /** Whether a container's image is checked: configuration, then its opt-out label. */
  isChecked(record: ContainerRecord): boolean {
    const label = record.labels[UPDATES_LABEL]?.trim().toLowerCase();
    if (label !== undefined && FALSE_WORDS.has(label)) return false;
    return this.#patterns.length === 0 || this.#patterns.some((p) => p.test(record.name));
  }

  mayInstall(record: ContainerRecord): boolean {
    return this.isChecked(record) && !this.#d.isSelf(record) && this.#d.mayAct(record);
  }

  start(view: MirrorView): void {
    this.#view = view;
    if (this.#d.installs ?? true) this.#commands.start();
    const intervalMs = this.#intervalMs();
    const random = this.#d.random ?? Math.random;
    const firstMs = Math.round(
      (0.1 + 0.9 * random()) * Math.min(FIRST_CHECK_WINDOW_MS, intervalMs),
    );
    this.#log.info(
      { firstCheckMs: firstMs, intervalHours: this.#d.settings.interval_hours },
      "image update checks scheduled",
    );
    this.#schedule(firstMs);
  }

  announced(record: ContainerRecord): void {
    const known = this.#statuses.get(record.name);
    if (!this.isChecked(record)) {
      if (known) this.cleared(record.name);
      return;
    }
    // A recreated container (new id) or one new since the last check: ask again soon, with the
    // registry answers of the last check (no new registry request for a reference it asked).
    if (this.#firstDone && known?.id !== record.id) {
      this.#recheck.add(record.name);
      if (!this.#recheckTimer && !this.#stopped) {
        this.#recheckTimer = setTimeout(() => {
          this.#recheckTimer = undefined;
          const names = [...this.#recheck];
          this.#recheck.clear();
          void this.#runGuarded(() => this.#checkNames(names));
        }, RECHECK_DELAY_MS);
      }
    }
  }

  cleared(name: string): void {
    this.#recheck.delete(name);
    if (!this.#statuses.delete(name)) return;
    this.#d.publisher.clearRetained(this.#d.topics.containerUpdate(name), PRIORITY.state);
    this.#publishCount();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#recheckTimer);
    this.#abort.abort();
    this.#commands.stop();
    if (this.#ownsRegistry) {
      this.#registry.close().catch((err: unknown) => {
        this.#log.debug({ err: describeError(err) }, "registry client close failed");
      });
    }
  }

  /** Resolves when every install under way has ended (a stopped one after its rollback). */
  async settled(): Promise<void> {
    await this.#commands.idle();
  }

  /** Runs a full check now (tests and the scheduler). */
  async checkNow(): Promise<void> {
    this.#answers = new Map();
    const view = this.#view;
    if (!view) return;
    const names = [...view.announced()].filter((r) => this.isChecked(r)).map((r) => r.name);
    await this.#checkNames(names);
    this.#firstDone = true;
  }

  /** Publishes a container's verdict again with install progress (undefined: none running). */
  setProgress(name: string, progress: InstallProgress | undefined): void {
    if (progress) this.#progress.set(name, progress);
    else this.#progress.delete(name);
    const status = this.#statuses.get(name);
    if (status) this.#publish(name, status);
  }

  #intervalMs(): number {
    return this.#d.settings.interval_hours * 3_600_000;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(
      () => {
        void this.#runGuarded(() => this.checkNow()).finally(() =>
          this.#schedule(this.#intervalMs()),
        );
      },
      // setTimeout fires after 1 ms past 2^31-1 ms (24.8 days; interval_hours may be 720).
      Math.min(delayMs, MAX_TIMER_MS),
    );
  }

  /** One check at a time; a failure is logged, never thrown into a timer. */
  async #runGuarded(run: () => Promise<void>): Promise<void> {
    const previous = this.#running ?? Promise.resolve();
    const next = previous.then(async () => {
      if (this.#stopped) return;
      try {
        await run();
      } catch (err: unknown) {
        if (!this.#stopped)
          this.#log.warn({ err: describeError(err) }, "image update check failed");
      }
    });
    this.#running = next;
    await next;
  }

  async #ensureChecker(): Promise<UpdateChecker> {
    if (this.#checker) return this.#checker;
    const file = this.#d.settings.registry_auth_file;
    this.#credentials ??= file
      ? readAuthFile(file).catch((err: unknown) => {
          this.#log.error(
            { file, err: describeError(err) },
            "cannot read the registry auth file: registries are asked anonymously",
          );
          return new Map();
        })
      : Promise.resolve(new Map());
    const credentials = await this.#credentials;
    this.#registry.setCredentials(credentials);
    this.#checker = new UpdateChecker({
      docker: this.#d.docker,
      registry: this.#registry,
      log: this.#log,
    });
    return this.#checker;
  }

  /** Credentials for a registry (the install's pull), once the auth file has been read. */
  async credentialsFor(registry: string): Promise<Credentials | undefined> {
    await this.#ensureChecker();
    return (await this.#credentials)?.get(registry);
  }

  async #checkNames(names: readonly string[]): Promise<void> {
    const view = this.#view;
    if (!view || names.length === 0) return;
    const checker = await this.#ensureChecker();
    const targets = names.flatMap((name) => {
      const record = view.get(name);
      return record && this.isChecked(record) ? [{ name, id: record.id }] : [];
    });
    const started = Date.now();
    const results = await checker.check(targets, this.#answers, this.#abort.signal);
    if (this.#stopped) return;
    for (const t of targets) {
      const status = results.get(t.name);
      // Gone meanwhile, or no longer mirrored: the bridge's cleared() removes what we published.
      if (!status || view.get(t.name)?.id !== t.id) continue;
      const withId = { ...status, id: t.id };
      this.#statuses.set(t.name, withId);
      this.#publish(t.name, withId);
    }
    this.#publishCount();
    const { containers: _names, ...counts } = hostCount(this.#statuses);
    this.#log.info(
      {
        containers: targets.length,
        references: this.#answers.size,
        ...counts,
        ms: Date.now() - started,
      },
      "image update check done",
    );
  }

  #publish(name: string, status: UpdateStatus & { id: string }): void {
    const { id: _id, ...payload } = status;
    this.#d.publisher.setRetained(
      this.#d.topics.containerUpdate(name),
      updatePayload(payload, this.#progress.get(name)),
      PRIORITY.state,
    );
  }

  #publishCount(): void {
    this.#d.publisher.setRetained(
      this.#d.topics.hostUpdates(),
      JSON.stringify(hostCount(this.#statuses)),
      PRIORITY.state,
    );
  }

  async #install(record: ContainerRecord, signal: AbortSignal) {
    try {
      return await installUpdate(
        {
          docker: this.#d.docker,
          log: this.#log,
          credentialsFor: (registry) => this.credentialsFor(registry),
          onProgress: (percentage) => this.setProgress(record.name, { percentage }),
        },
        record.id,
        signal,
      );
    } finally {
      this.setProgress(record.name, undefined);
    }
  }
}
