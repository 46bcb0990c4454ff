// One check: for each container, its image reference and the digest its local image was pulled
// by, then one registry question per distinct reference, then the verdict: update available, up
// to date, or not checkable and why. The verdict's rules (localVerdict, finalVerdict) are pure.
import type { Logger } from "pino";
import { describeError } from "../errors.js";
import { containerImage, type EngineCaller, type ImageInspect, inspectImage } from "./engine.js";
import { formatReference, type ImageReference, localDigest, parseReference } from "./reference.js";
import { RegistryError } from "./registry-client.js";

export type NotCheckable =
  | "image_id"
  | "invalid_reference"
  | "pinned_by_digest"
  | "no_repo_digests"
  | "other_repository"
  | "image_missing"
  | "registry_unreachable"
  | "registry_auth_failed"
  | "registry_rate_limited"
  | "tag_not_found"
  | "registry_error";

/** The retained payload of `<base>/<host>/containers/<name>/update` (without the HA part). */
export interface UpdateStatus {
  /** The container's image reference (`Config.Image`). */
  image: string;
  /** The digest the local image was pulled by, or null. */
  installed: string | null;
  /** The digest the registry's tag points to now, or null when not asked or not answered. */
  latest: string | null;
  /** null: not checkable (see reason). */
  available: boolean | null;
  checked_at: string;
  reason: NotCheckable | null;
  /** The reason in words. */
  detail: string | null;
  /** From the image's org.opencontainers.image.source or .url label. */
  release_url: string | null;
}

export type RegistryAnswer = { digest: string } | { error: unknown };

/** What the local side allows: a reference to ask about, or the verdict already. */
export type LocalVerdict =
  | { kind: "ask"; ref: ImageReference; installed: string }
  | { kind: "done"; reason: NotCheckable; detail: string; installed: string | null };

const LINK_LABELS = ["org.opencontainers.image.source", "org.opencontainers.image.url"];

export function releaseUrl(
  labels: Readonly<Record<string, string>> | null | undefined,
): string | null {
  for (const key of LINK_LABELS) {
    const value = labels?.[key]?.trim();
    if (value && /^https?:\/\/\S+$/.test(value)) return value;
  }
  return null;
}

export function localVerdict(reference: string, image: ImageInspect | null): LocalVerdict {
  const done = (reason: NotCheckable, detail: string, installed: string | null = null) =>
    ({ kind: "done", reason, detail, installed }) as const;
  if (/^(sha256:)?[0-9a-f]{12,64}$/.test(reference)) {
    return done("image_id", "the container was created from an image id, not a name");
  }
  const ref = parseReference(reference);
  if (!ref) return done("invalid_reference", `"${reference}" is not an image reference`);
  if (ref.digest) return done("pinned_by_digest", "pinned by digest: it cannot change", ref.digest);
  if (!image) return done("image_missing", "the container's image is no longer on the engine");
  const digests = image.RepoDigests ?? [];
  if (digests.length === 0) {
    return done("no_repo_digests", "built or loaded locally: the image has no RepoDigests");
  }
  const installed = localDigest(ref, digests);
  if (!installed) {
    return done(
      "other_repository",
      `the image was pulled under another name (${digests.join(", ")}), not from ${formatReference(ref)}`,
    );
  }
  return { kind: "ask", ref, installed };
}

function registryReason(err: unknown): NotCheckable {
  if (!(err instanceof RegistryError)) return "registry_error";
  switch (err.code) {
    case "REGISTRY_UNREACHABLE":
      return "registry_unreachable";
    case "REGISTRY_AUTH_FAILED":
      return "registry_auth_failed";
    case "REGISTRY_RATE_LIMITED":
      return "registry_rate_limited";
    case "REGISTRY_NOT_FOUND":
      return "tag_not_found";
    default:
      return "registry_error";
  }
}

export function finalVerdict(
  image: string,
  local: LocalVerdict,
  answer: RegistryAnswer | undefined,
  checkedAt: string,
  link: string | null,
): UpdateStatus {
  const base = { image, checked_at: checkedAt, release_url: link };
  if (local.kind === "done") {
    return {
      ...base,
      installed: local.installed,
      latest: null,
      available: null,
      reason: local.reason,
      detail: local.detail,
    };
  }
  if (!answer || "error" in answer) {
    const error = answer ? answer.error : new Error("not asked");
    return {
      ...base,
      installed: local.installed,
      latest: null,
      available: null,
      reason: registryReason(error),
      detail: describeError(error),
    };
  }
  return {
    ...base,
    installed: local.installed,
    latest: answer.digest,
    available: answer.digest !== local.installed,
    reason: null,
    detail: null,
  };
}

export interface CheckTarget {
  name: string;
  id: string;
}

export interface CheckerDeps {
  docker: EngineCaller;
  registry: { manifestDigest(ref: ImageReference, signal?: AbortSignal): Promise<string> };
  log: Logger;
  now?: () => Date;
}

/** Registry answers by reference: one question per distinct reference and check. */
export type AnswerCache = Map<string, Promise<RegistryAnswer>>;

export class UpdateChecker {
  readonly #d: CheckerDeps;

  constructor(deps: CheckerDeps) {
    this.#d = deps;
  }

  /**
   * Checks the containers; `answers` holds what the registry said in this check (pass the same
   * map to reuse answers, a new one to ask again). A container gone meanwhile is left out.
   */
  async check(
    targets: readonly CheckTarget[],
    answers: AnswerCache,
    signal?: AbortSignal,
  ): Promise<Map<string, UpdateStatus>> {
    const out = new Map<string, UpdateStatus>();
    await Promise.all(
      targets.map(async (t) => {
        try {
          const status = await this.#checkOne(t, answers, signal);
          if (status) out.set(t.name, status);
        } catch (err: unknown) {
          if (signal?.aborted) return;
          this.#d.log.warn(
            { container: t.name, err: describeError(err) },
            "image update check failed",
          );
        }
      }),
    );
    return out;
  }

  async #checkOne(
    target: CheckTarget,
    answers: AnswerCache,
    signal?: AbortSignal,
  ): Promise<UpdateStatus | undefined> {
    const container = await containerImage(this.#d.docker, target.id, signal);
    if (!container) return undefined;
    const image = container.imageId
      ? await inspectImage(this.#d.docker, container.imageId, signal)
      : null;
    const local = localVerdict(container.reference, image);
    let answer: RegistryAnswer | undefined;
    if (local.kind === "ask") {
      const key = formatReference(local.ref);
      let pending = answers.get(key);
      if (!pending) {
        pending = this.#d.registry.manifestDigest(local.ref, signal).then(
          (digest) => ({ digest }),
          (error: unknown) => ({ error }),
        );
        answers.set(key, pending);
      }
      answer = await pending;
    }
    const now = (this.#d.now ?? (() => new Date()))().toISOString();
    return finalVerdict(container.reference, local, answer, now, releaseUrl(image?.Config?.Labels));
  }
}
