// What the log says about one engine that cannot be reached: the first failure of each kind says
// the cause and the fix in --check's words; repeats go to debug until the cause changes or the
// engine answers, so an outage reads as one line, not one per retry.
import type { Logger } from "pino";
import { diagnoseEngine } from "../docker/diagnose.js";
import { describeError } from "../errors.js";

export interface EngineReporterDeps {
  log: Logger;
  /** Where the engine is, without secrets (DockerClient.describe()). */
  engine: string;
  /** The setting that names the engine's host, for a name that does not resolve (DOCKER_HOST). */
  hostKey?: string | undefined;
}

export class EngineReporter {
  readonly #d: EngineReporterDeps;
  /** The kind of failure last logged at warn; undefined while the engine answers. */
  #last: string | undefined;
  #failures = 0;

  constructor(deps: EngineReporterDeps) {
    this.#d = deps;
  }

  /** One failed attempt; `lost` when the engine had been followed until now. */
  failed(err: unknown, retryInMs: number, lost = false): void {
    const { log, engine, hostKey } = this.#d;
    const problem = diagnoseEngine(err, engine, hostKey);
    this.#failures++;
    const fields = {
      engine,
      problem: problem.text,
      err: describeError(err),
      retryInMs,
      ...(this.#failures > 1 ? { failures: this.#failures } : {}),
    };
    const known = problem.kind === this.#last;
    this.#last = problem.kind;
    if (lost) log.warn(fields, "engine lost; reconnecting");
    else if (known) log.debug(fields, "engine still not reachable; retrying");
    else log.warn(fields, "engine not reachable; retrying");
  }

  /** The engine answered: the next failure is news again. */
  recovered(): void {
    this.#last = undefined;
    this.#failures = 0;
  }
}
