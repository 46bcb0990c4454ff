// The container labels users set to shape what Home Assistant shows, in one namespace, and how
// their values are read: one parser per label, so every reader agrees.

export const LABEL_PREFIX = "docker-mqtt-bridge.";

export const LABELS = {
  /** false/0/no/off opts the container out: no entities, no state, no events. */
  enable: `${LABEL_PREFIX}enable`,
  /** Device name shown in Home Assistant instead of the container name. */
  name: `${LABEL_PREFIX}name`,
  /** Suggested area for the device. */
  area: `${LABEL_PREFIX}area`,
  /** Icon (mdi:...) for the container's Running and Status entities. */
  icon: `${LABEL_PREFIX}icon`,
} as const;

export const COMPOSE_ONEOFF = "com.docker.compose.oneoff";

const TRUE_WORDS = new Set(["true", "1", "yes", "on"]);
const FALSE_WORDS = new Set(["false", "0", "no", "off"]);

/**
 * The `enable` label: true for true/1/yes/on, false for false/0/no/off (any case, trimmed),
 * undefined when absent or anything else (which neither opts in nor out).
 */
export function enableLabel(labels: Readonly<Record<string, string>>): boolean | undefined {
  const value = labels[LABELS.enable]?.trim().toLowerCase();
  if (value === undefined) return undefined;
  if (TRUE_WORDS.has(value)) return true;
  if (FALSE_WORDS.has(value)) return false;
  return undefined;
}

/**
 * Home Assistant's own icon rule (helpers/config_validation.py `icon`): the text must hold a
 * `:` (`prefix:name`). An icon that breaks it makes Home Assistant reject the whole entity.
 */
export function isValidIcon(value: string): boolean {
  return value.includes(":");
}

export interface LabelProblem {
  container: string;
  label: string;
  value: string;
  reason: string;
}

const REMEMBERED_PROBLEMS = 4096;

/** Reports each (container, label, value) problem once, however often discovery is rebuilt. */
export class LabelProblemReporter {
  readonly #seen = new Set<string>();
  readonly #report: (problem: LabelProblem) => void;

  constructor(report: (problem: LabelProblem) => void) {
    this.#report = report;
  }

  report(problem: LabelProblem): void {
    const key = [problem.container, problem.label, problem.value].join("\u0000");
    if (this.#seen.has(key)) return;
    // Bounded: hostile label churn can at worst repeat a warning, never grow memory.
    if (this.#seen.size >= REMEMBERED_PROBLEMS) this.#seen.clear();
    this.#seen.add(key);
    this.#report(problem);
  }
}
