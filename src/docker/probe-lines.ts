// Recognises the exec events of healthcheck probes in a raw /events line, before it is parsed.
// Each probe is three events (exec_create, exec_start, exec_die) per container per interval; when
// they are not published, parsing and validating them is most of what an idle bridge does.
//
// Only what is certain is recognised; anything else is left to the parser (and to the event
// publisher's own check), so a miss costs time, never an event:
// - the markers are JSON keys written by the engine (`"execID":"`): a label or command holding the
//   same text has its quotes escaped (`\"`), so it cannot match; the engine's attribute order is
//   not relied on, and a key found twice (a label named `Action` beside the action) is a miss;
// - an exec is a probe when its exec_create (or exec_start) command is exactly the container's
//   healthcheck command, as the model knows it; its exec_start and exec_die are then known by id;
// - an exec_die whose start was not seen (the exec began before the stream) is left to the
//   publisher, which asks the engine.

/** The healthcheck command of a container by name, as exec events show it; null without one. */
export type HealthcheckLookup = (containerName: string) => string | null | undefined;

const EXEC_ID = '"execID":"';
const ACTION = '"Action":"';
const NAME = '"name":"';
const CONTAINER_TYPE = '"Type":"container"';
const BACKSLASH = 92;

/** More probe execs in flight than any engine runs at once; the set is cleared when full. */
const MAX_PROBES_IN_FLIGHT = 4096;

/**
 * The JSON string value after `key` (a key with its opening quote), decoded; undefined when the
 * key is absent, appears twice, or the value is not a complete string.
 */
export function stringAfter(line: string, key: string): string | undefined {
  const at = line.indexOf(key);
  if (at === -1 || line.indexOf(key, at + key.length) !== -1) return undefined;
  const start = at + key.length;
  let end = line.indexOf('"', start);
  while (end !== -1) {
    let slashes = 0;
    while (line.charCodeAt(end - 1 - slashes) === BACKSLASH) slashes++;
    if (slashes % 2 === 0) break;
    end = line.indexOf('"', end + 1);
  }
  if (end === -1) return undefined;
  const raw = line.slice(start, end);
  if (!raw.includes("\\")) return raw;
  // Escapes (`\u003e` for `>` from Go's encoder, `\"`): JSON decodes exactly as the parser would.
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return undefined;
  }
}

export class ProbeLines {
  readonly #healthcheckOf: HealthcheckLookup;
  /** Probe execs seen created or started whose exec_die has not come yet. */
  readonly #inFlight = new Set<string>();

  constructor(healthcheckOf: HealthcheckLookup) {
    this.#healthcheckOf = healthcheckOf;
  }

  /** True for a line that is certainly an exec event of a healthcheck probe. */
  isProbe(line: string): boolean {
    const at = line.indexOf(EXEC_ID);
    if (at === -1) return false;
    const start = at + EXEC_ID.length;
    const end = line.indexOf('"', start);
    if (end === -1 || line.indexOf(EXEC_ID, end) !== -1) return false;
    const execId = line.slice(start, end);
    if (execId === "" || execId.includes("\\") || !line.includes(CONTAINER_TYPE)) return false;
    const action = stringAfter(line, ACTION);
    if (action === undefined) return false;
    if (this.#inFlight.has(execId)) {
      if (action === "exec_die") this.#inFlight.delete(execId);
      return action.startsWith("exec_");
    }
    const command = commandOf(action);
    if (command === undefined) return false;
    const name = stringAfter(line, NAME);
    if (name === undefined) return false;
    const healthcheck = this.#healthcheckOf(name.startsWith("/") ? name.slice(1) : name);
    if (healthcheck == null || healthcheck !== command) return false;
    if (this.#inFlight.size >= MAX_PROBES_IN_FLIGHT) this.#inFlight.clear();
    this.#inFlight.add(execId);
    return true;
  }
}

/** The command of an `exec_create: <command>` or `exec_start: <command>` action. */
function commandOf(action: string): string | undefined {
  for (const prefix of ["exec_create: ", "exec_start: "]) {
    if (action.startsWith(prefix)) return action.slice(prefix.length);
  }
  return undefined;
}
