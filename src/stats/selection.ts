// Which mirrored containers are sampled: those `stats.containers` names (all when empty), minus
// any labelled `docker-mqtt-bridge.stats=false`.
import { LABEL_PREFIX } from "../homeassistant/labels.js";
import { compilePattern } from "../state/filter.js";
import type { ContainerRecord } from "../state/model.js";

export const STATS_LABEL = `${LABEL_PREFIX}stats`;

const OFF = new Set(["false", "0", "no", "off"]);

/** The predicate for `stats.containers` (globs or /regex/, as `filter.include`). */
export function statsSelection(patterns: readonly string[]): (record: ContainerRecord) => boolean {
  const compiled = patterns.map(compilePattern);
  return (record) => {
    const label = record.labels[STATS_LABEL]?.trim().toLowerCase();
    if (label !== undefined && OFF.has(label)) return false;
    return compiled.length === 0 || compiled.some((r) => r.test(record.name));
  };
}
