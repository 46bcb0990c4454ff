// The bench's real dockerd and mosquitto: the very services the end-to-end tests start
// (test/e2e/global-setup.ts), plus the versions the report names.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { engineRequest } from "../test/e2e/daemons.js";
import { destroyServices, startServices } from "../test/e2e/global-setup.js";
import type { E2EServices } from "../test/e2e/services.js";

const execFileAsync = promisify(execFile);

export type RealServices = E2EServices & { mosquittoVersion: string; dockerVersion: string };

let unavailable: string | undefined;

/** Starts them; throws with the reason when this machine cannot. */
export async function startRealServices(): Promise<RealServices> {
  const ctx = await startServices();
  if (!ctx.available) {
    unavailable = ctx.reason;
    throw new Error(ctx.reason);
  }
  const version = await engineRequest(ctx.dockerSocket, "GET", "/version");
  const help = (await execFileAsync(ctx.mosquittoArgv[0] ?? "mosquitto", ["-h"]).catch(
    (e: unknown) => e,
  )) as { stdout?: string };
  return {
    ...ctx,
    dockerVersion: String((version.body as { Version?: string }).Version ?? "?"),
    mosquittoVersion: /mosquitto version (\S+)/.exec(help.stdout ?? "")?.[1] ?? "?",
  };
}

/** Why the real services could not run, after a failed start; undefined before. */
export function unavailableReason(): string | undefined {
  if (process.platform !== "linux") return "not Linux";
  if (process.getuid?.() !== 0) return "not root";
  return unavailable;
}

export async function destroyRealServices(dataDir: string): Promise<void> {
  await destroyServices(dataDir);
}
