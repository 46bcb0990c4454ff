// Names from the engine become topic levels, object ids, unique ids and entity ids here, and
// only here. The mapping is deterministic and collision-free: a name that is already a clean id
// is kept; any other name becomes a readable slug plus a hash of the original, and no kept name
// can have that shape. No id starts or ends with `_` or holds `__`, so `__` can join two ids
// (host and container) without ambiguity.
import { createHash } from "node:crypto";

/** Starts with a letter or digit; an underscore is always followed by a letter, digit or `-`. */
const CLEAN = /^(?=.{1,64}$)[A-Za-z0-9](?:[A-Za-z0-9-]|_(?=[A-Za-z0-9-]))*$/;
const HASH_SUFFIX = /_[0-9a-f]{8}$/;
const SLUG_MAX = 48;

function shortHash(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex").slice(0, 8);
}

/** True when `sanitiseId` keeps the name as it is. */
export function isCleanId(name: string): boolean {
  return CLEAN.test(name) && !HASH_SUFFIX.test(name);
}

/** A container (or host) name as an id of `[A-Za-z0-9_-]`, safe in topics and HA object ids. */
export function sanitiseId(name: string): string {
  if (isCleanId(name)) return name;
  const slug = name
    .replace(/[^A-Za-z0-9-]+/g, "_")
    .replace(/^_+|_+$/g, "")
    .slice(0, SLUG_MAX)
    .replace(/_+$/, "");
  return `${slug || "x"}_${shortHash(name)}`;
}

/**
 * The object part of a Home Assistant entity id: lowercase `[a-z0-9_]`, no leading, trailing or
 * doubled underscore. Not unique by itself (`web.1`, `web-1` and `web_1` share one): use
 * `entityObjectId` for anything that must not collide.
 */
export function entitySlug(name: string): string {
  const slug = name
    .normalize("NFKD")
    .replace(/\p{M}+/gu, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "")
    .slice(0, 64)
    .replace(/_+$/, "");
  return slug || "container";
}

/** Lowercase words joined by single `-`: `web`, Compose v2's `site-web-1`. */
const READABLE_ENTITY = /^(?=.{1,64}$)[a-z0-9]+(?:-[a-z0-9]+)*$/;
const HASH_SUFFIX_DASH = /-[0-9a-f]{8}$/;

/**
 * A container name as the object part of its entity ids, collision-free like `sanitiseId`: a
 * name of lowercase words joined by `-` (plain `web`, Compose v2 `site-web-1`) only swaps `-` for
 * `_`; any other name (`web.1`, `web_1`, Compose v1 `site_web_1`, `Web`) becomes its slug plus a
 * hash of the name. A kept name never ends in `-` and 8 hex digits, so a kept id can never take
 * the shape of a hashed one, and `_` never appears in a kept name, so two kept names stay apart.
 */
export function entityObjectId(name: string): string {
  if (READABLE_ENTITY.test(name) && !HASH_SUFFIX_DASH.test(name)) return name.replace(/-/g, "_");
  const slug = entitySlug(name).slice(0, SLUG_MAX).replace(/_+$/, "");
  return `${slug}_${shortHash(name)}`;
}
