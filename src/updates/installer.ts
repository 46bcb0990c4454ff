// Install: pull the container's image reference again, then recreate the container on it with the
// same configuration (see recreate.ts): rename the old one aside, create the new one under the
// name, stop the old, start the new, and remove the old only once the new one runs. Any failure
// after the rename rolls back: the new one is removed, the old one renamed back and started again
// if it was running.
import type { Logger } from "pino";
import { LineSplitter } from "../docker/line-splitter.js";
import { DockerError, describeError } from "../errors.js";
import { type Credentials, registryAuthHeader } from "./auth-file.js";
import { type EngineCaller, inspectContainerRaw, inspectImage } from "./engine.js";
import { PullProgress } from "./pull-progress.js";
import { recreatePlan } from "./recreate.js";
import { parseReference } from "./reference.js";

export interface InstallerDeps {
  docker: EngineCaller;
  log: Logger;
  credentialsFor(registry: string): Promise<Credentials | undefined>;
  /** Told how far the pull is (null: running, size unknown). */
  onProgress(percentage: number | null): void;
  /** How long a pull may send nothing before it is given up (default 120 s). */
  pullIdleMs?: number;
}

export type InstallOutcome =
  | { ok: true; id: string; image: string; from: string; to: string; changed: boolean }
  | { ok: false; step: InstallStep; error: string; rolledBack: boolean; rollbackError?: string };

export type InstallStep = "inspect" | "pull" | "create" | "connect" | "stop" | "start" | "verify";

class StepError extends Error {
  constructor(
    readonly step: InstallStep,
    cause: unknown,
  ) {
    super(describeError(cause), { cause });
  }
}

async function step<T>(name: InstallStep, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err: unknown) {
    throw new StepError(name, err);
  }
}

const enc = encodeURIComponent;

/** `POST /images/create`'s name and tag for a reference (`nginx` is `nginx` + `latest`). */
export function pullQuery(reference: string, tag: string): { fromImage: string; tag: string } {
  const suffix = `:${tag}`;
  const fromImage = reference.endsWith(suffix) ? reference.slice(0, -suffix.length) : reference;
  return { fromImage, tag };
}

/** How long a pull may send nothing before it is given up. */
const PULL_IDLE_MS = 120_000;

export async function pullImage(
  deps: InstallerDeps,
  reference: string,
  signal?: AbortSignal,
): Promise<void> {
  const ref = parseReference(reference);
  if (!ref?.tag || ref.digest) throw new Error(`${reference} is not a tagged image reference`);
  const creds = await deps.credentialsFor(ref.registry);
  const headers: Record<string, string> = {};
  if (creds) headers["x-registry-auth"] = registryAuthHeader(creds, ref.registry);
  const { fromImage, tag } = pullQuery(reference, ref.tag);
  // A pull may take long, but not in silence: one that sends nothing for this long is given up.
  const stalled = new AbortController();
  const idleMs = deps.pullIdleMs ?? PULL_IDLE_MS;
  let idle = setTimeout(() => stalled.abort(), idleMs);
  const progress = new PullProgress();
  const lines = new LineSplitter();
  let last = -1;
  let lastAt = 0;
  try {
    const res = await deps.docker.call({
      method: "POST",
      path: `/images/create?fromImage=${enc(fromImage)}&tag=${enc(tag)}`,
      headers,
      streaming: true,
      signal: signal ? AbortSignal.any([signal, stalled.signal]) : stalled.signal,
    });
    for await (const chunk of res.body) {
      clearTimeout(idle);
      idle = setTimeout(() => stalled.abort(), idleMs);
      for (const piece of lines.push(chunk as Uint8Array)) {
        if (piece.kind === "line") progress.push(piece.text);
      }
      const pct = progress.percentage;
      // At most about one report a second: each is a retained publish.
      if (pct !== last && Date.now() - lastAt >= 1000) {
        last = pct ?? -1;
        lastAt = Date.now();
        deps.onProgress(pct);
      }
    }
  } catch (err: unknown) {
    if (stalled.signal.aborted) {
      throw new Error(`pull of ${reference} sent nothing for ${idleMs / 1000} s: given up`);
    }
    throw err;
  } finally {
    clearTimeout(idle);
  }
  if (progress.error) throw new Error(`pull of ${reference} failed: ${progress.error}`);
}

/** Pulls and recreates the container; never throws, reports what happened. */
export async function installUpdate(
  deps: InstallerDeps,
  containerId: string,
  signal?: AbortSignal,
): Promise<InstallOutcome> {
  const { docker, log } = deps;
  const call = (method: "POST" | "DELETE", path: string, body?: unknown, timeoutMs?: number) =>
    docker.call({
      method,
      path,
      ...(body === undefined ? {} : { body }),
      ...(timeoutMs ? { timeoutMs } : {}),
      ...(signal ? { signal } : {}),
    });
  let renamed = false;
  let newId: string | undefined;
  let plan: ReturnType<typeof recreatePlan> | undefined;
  let oldId = containerId;
  try {
    const inspect = await step("inspect", async () => {
      const found = await inspectContainerRaw(docker, containerId, signal);
      if (!found) throw new Error("the container is gone");
      return found;
    });
    oldId = String(inspect.Id);
    if ((inspect.HostConfig as { AutoRemove?: boolean } | undefined)?.AutoRemove) {
      // Stopping it would delete it: there would be nothing to roll back to.
      throw new StepError(
        "inspect",
        new Error("the container is removed when it stops (--rm): not recreated"),
      );
    }
    const config = (inspect.Config ?? {}) as { Image?: string };
    const reference = config.Image ?? "";
    const oldImageId = String(inspect.Image ?? "");
    const oldImage = await step("inspect", () => inspectImage(docker, oldImageId, signal));
    deps.onProgress(null);
    await step("pull", () => pullImage(deps, reference, signal));
    const newImage = await step("pull", () => inspectImage(docker, reference, signal));
    if (!newImage)
      throw new StepError("pull", new Error(`${reference} is not on the engine after the pull`));
    const digestOf = (img: typeof oldImage) =>
      img?.RepoDigests?.find((d) => d.includes("@"))?.split("@")[1] ?? img?.Id ?? "";
    if (newImage.Id === oldImageId) {
      return {
        ok: true,
        id: oldId,
        image: reference,
        from: digestOf(oldImage),
        to: digestOf(newImage),
        changed: false,
      };
    }
    plan = recreatePlan(
      inspect,
      (oldImage?.Config ?? undefined) as Record<string, unknown> | undefined,
      reference,
    );
    const { name } = plan;
    // Compose's own aside name: the bridge never mirrors a `<id12>_<name>` container.
    const aside = `${oldId.slice(0, 12)}_${name}`;
    log.info(
      { container: name, image: reference, from: oldImageId, to: newImage.Id },
      "installing an image update: recreating the container",
    );
    await step("create", () =>
      call("POST", `/containers/${enc(oldId)}/rename?name=${enc(aside)}`).then((r) =>
        r.body.dump(),
      ),
    );
    renamed = true;
    const created = await step("create", async () => {
      const res = await call("POST", `/containers/create?name=${enc(name)}`, plan?.body);
      return (await res.body.json()) as { Id: string };
    });
    newId = created.Id;
    for (const { network, config: endpoint } of plan.connect) {
      await step("connect", () =>
        call("POST", `/networks/${enc(network)}/connect`, {
          Container: newId,
          EndpointConfig: endpoint,
        }).then((r) => r.body.dump()),
      );
    }
    if (plan.wasRunning) {
      const stopTimeout = Number((inspect.Config as { StopTimeout?: number }).StopTimeout ?? 10);
      await step("stop", () =>
        call("POST", `/containers/${enc(oldId)}/stop`, undefined, (stopTimeout + 15) * 1000).then(
          (r) => r.body.dump(),
        ),
      );
      await step("start", () =>
        call("POST", `/containers/${enc(newId ?? "")}/start`).then((r) => r.body.dump()),
      );
      await step("verify", async () => {
        // Running now and still a moment later, never restarted: a process that dies at once
        // (and a restart policy bringing it back) is a failed install.
        for (const wait of [0, 1000]) {
          if (wait) await new Promise((r) => setTimeout(r, wait));
          const now = await inspectContainerRaw(docker, newId ?? "", signal);
          const state = (now?.State ?? {}) as {
            Running?: boolean;
            Restarting?: boolean;
            ExitCode?: number;
          };
          if (!state.Running || state.Restarting || Number(now?.RestartCount ?? 0) > 0) {
            throw new Error(
              `the new container does not keep running (exit code ${state.ExitCode ?? "?"})`,
            );
          }
        }
      });
    }
    try {
      await call("DELETE", `/containers/${enc(oldId)}?force=1`).then((r) => r.body.dump());
    } catch (removeErr: unknown) {
      // The new container runs; only the old one (renamed aside, stopped) is left over.
      log.warn(
        { container: name, leftover: aside, err: describeError(removeErr) },
        "image update installed, but the old container could not be removed",
      );
    }
    return {
      ok: true,
      id: newId,
      image: reference,
      from: digestOf(oldImage),
      to: digestOf(newImage),
      changed: true,
    };
  } catch (err: unknown) {
    const failed = err instanceof StepError ? err : new StepError("inspect", err);
    const outcome: InstallOutcome = {
      ok: false,
      step: failed.step,
      error: failed.message,
      rolledBack: false,
    };
    if (!renamed) return outcome;
    try {
      await rollBack();
      outcome.rolledBack = true;
    } catch (rollbackErr: unknown) {
      outcome.rollbackError = describeError(rollbackErr);
    }
    return outcome;
  }

  async function rollBack(): Promise<void> {
    // Never aborted: a half-done recreate must be undone even while the bridge stops.
    const undo = (method: "POST" | "DELETE", path: string) =>
      docker.call({ method, path, timeoutMs: 60_000 }).then((r) => r.body.dump());
    if (newId) {
      await undo("DELETE", `/containers/${enc(newId)}?force=1`).catch((e: unknown) => {
        if (!(e instanceof DockerError && e.status === 404)) throw e;
      });
    }
    await undo("POST", `/containers/${enc(oldId)}/rename?name=${enc(plan?.name ?? "")}`);
    // Whether or not our stop was answered (a timeout, an abort), the engine may have stopped it;
    // starting a running container is a 304.
    if (plan?.wasRunning) await undo("POST", `/containers/${enc(oldId)}/start`);
  }
}
