// The id the bridge knows an engine by (`engine_id` in the host state; what tells a former host id
// of this engine from another engine's). Docker's /info `ID` is kept for the engine's life; Podman's
// is a new random one every time its API service starts (see test/fixtures/podman-4.3/NOTES.md),
// so for Podman the id is derived from what stays: its host name and its storage root.
import { createHash } from "node:crypto";
import type { EngineInfo } from "./schemas.js";

/** Podman's /info has `BuildahVersion`; Docker's never does. */
export function isPodman(info: EngineInfo): boolean {
  return info.BuildahVersion !== undefined;
}

/** /info with `ID` replaced by a stable one where the engine's own is not (Podman). */
export function withStableId(info: EngineInfo): EngineInfo {
  if (!isPodman(info)) return info;
  const digest = createHash("sha256")
    .update(`${info.Name}\0${info.DockerRootDir ?? ""}`)
    .digest("hex");
  return { ...info, ID: `podman-${digest.slice(0, 32)}` };
}
