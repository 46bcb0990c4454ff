// Which containers are mirrored, which events reach the events topics and which label keys they
// may carry. Container rules match names (glob or /regex/), labels (`key` or `key=value`) and
// Compose projects; event rules are applied on the engine (its `filters` query) where that is
// exact, and again here.
import { COMPOSE_ONEOFF, enableLabel } from "../homeassistant/labels.js";
import type { ContainerRecord } from "./model.js";
import { MODEL_ACTIONS } from "./reducer.js";

export interface ContainerFilterSettings {
  include: readonly string[];
  exclude: readonly string[];
  labelsInclude: readonly string[];
  labelsExclude: readonly string[];
  projectsInclude: readonly string[];
  projectsExclude: readonly string[];
  /** Only containers labelled `docker-mqtt-bridge.enable=true` (or 1/yes/on) are mirrored. */
  labelledOnly: boolean;
  includeOneoff: boolean;
}

/** A name pattern: `/regex/` or a glob with `*` and `?`. Throws on an invalid regex. */
export function compilePattern(pattern: string): RegExp {
  const regex = /^\/(.*)\/([a-z]*)$/.exec(pattern);
  if (regex) return new RegExp(regex[1] ?? "", regex[2]);
  const escaped = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${escaped}$`);
}

function labelMatcher(rule: string): (labels: Record<string, string>) => boolean {
  const at = rule.indexOf("=");
  if (at === -1) return (labels) => rule in labels;
  const key = rule.slice(0, at);
  const value = rule.slice(at + 1);
  return (labels) => labels[key] === value;
}

/** Builds the mirror predicate. An include list, when given, must match; excludes always win. */
export function buildContainerFilter(
  s: ContainerFilterSettings,
): (record: ContainerRecord) => boolean {
  const include = s.include.map(compilePattern);
  const exclude = s.exclude.map(compilePattern);
  const labelsInclude = s.labelsInclude.map(labelMatcher);
  const labelsExclude = s.labelsExclude.map(labelMatcher);
  return (record) => {
    const optIn = enableLabel(record.labels);
    if (optIn === false) return false;
    if (s.labelledOnly && optIn !== true) return false;
    if (!s.includeOneoff && record.labels[COMPOSE_ONEOFF]?.toLowerCase() === "true") return false;
    if (exclude.some((r) => r.test(record.name))) return false;
    if (labelsExclude.some((m) => m(record.labels))) return false;
    const project = record.compose_project;
    if (project !== null && s.projectsExclude.includes(project)) return false;
    if (include.length > 0 && !include.some((r) => r.test(record.name))) return false;
    if (labelsInclude.length > 0 && !labelsInclude.some((m) => m(record.labels))) return false;
    if (
      s.projectsInclude.length > 0 &&
      (project === null || !s.projectsInclude.includes(project))
    ) {
      return false;
    }
    return true;
  };
}

export interface EventFilterSettings {
  /** Event types published; empty: all. */
  types: readonly string[];
  /** Actions published (without detail); empty: all. */
  actions: readonly string[];
}

/**
 * The `filters` for `GET /events`: exact on the engine, so only what is published or what the
 * model needs is sent at all (healthcheck exec noise included, when exec actions are not asked for).
 */
export function engineEventFilters(s: EventFilterSettings): Record<string, string[]> {
  const filters: Record<string, string[]> = {};
  if (s.types.length > 0) filters.type = [...new Set(["container", ...s.types])];
  if (s.actions.length > 0) filters.event = [...new Set([...MODEL_ACTIONS, ...s.actions])];
  return filters;
}

/** Whether an event goes to the events topics. */
export function buildEventFilter(
  s: EventFilterSettings,
): (type: string, action: string) => boolean {
  const types = new Set(s.types);
  const actions = new Set(s.actions);
  return (type, action) =>
    (types.size === 0 || types.has(type)) && (actions.size === 0 || actions.has(action));
}

/**
 * Label keys that look like secrets, left out of event payloads by default. Globs on the whole
 * key, any case. Whole words only where a bare substring would hit ordinary labels: `key` must
 * stand alone or end the key (`monkey`, `keycloak.realm` stay), `auth` likewise
 * (`org.opencontainers.image.authors`, a Traefik `forwardauth.address` stay); nothing matches
 * `com.docker.compose.*` (`config-hash`, `project.config_files`...).
 */
export const SECRET_LABEL_PATTERNS = [
  "*password*",
  "*passwd*",
  "*secret*",
  "*token*",
  "*credential*",
  "*apikey*",
  "*api_key*",
  "*api-key*",
  "*privatekey*",
  "*private_key*",
  "*private-key*",
  "key",
  "*.key",
  "*_key",
  "*-key",
  "auth",
  "*.auth",
  "*_auth",
  "*-auth",
  "*authorization*",
  "*basicauth*",
  "*digestauth*",
  "*.pass",
  "*_pass",
  "*-pass",
] as const;

/** Matches keys against patterns: globs any case, or `/regex/flags` as written. */
export function buildKeyMatcher(patterns: readonly string[]): (key: string) => boolean {
  const globs: RegExp[] = [];
  const regexes: RegExp[] = [];
  for (const p of patterns) {
    if (/^\/.*\/[a-z]*$/.test(p)) regexes.push(compilePattern(p));
    else globs.push(compilePattern(p.toLowerCase()));
  }
  return (key) => {
    const lower = key.toLowerCase();
    return globs.some((r) => r.test(lower)) || regexes.some((r) => r.test(key));
  };
}
