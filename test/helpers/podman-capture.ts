// Podman 4.3's Docker-compatible /events lines, taken from the real capture
// (test/fixtures/podman-4.3/events.raw.jsonl, see NOTES.md there) and re-addressed to a container
// of the fake engine: the shape (legacy fields, HealthStatus, containerExitCode, podId, no
// oldName, no `: status` suffix) is the capture's; only the id, the name and the times change.
import { readFileSync } from "node:fs";

export const PODMAN_CAPTURE = new URL("../fixtures/podman-4.3/events.raw.jsonl", import.meta.url);

/** The captured lines, in order (line n of the file is index n - 1). */
export function podmanLines(): string[] {
  return readFileSync(PODMAN_CAPTURE, "utf8")
    .split("\n")
    .filter((l) => l !== "");
}

interface CapturedEvent {
  id?: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  time: number;
  timeNano: number;
}

/**
 * Line `n` (1-based) of the capture, for container `target` at `timeNano`: one line ready for
 * FakeEngine.emitRaw().
 */
export function podmanEvent(
  n: number,
  target: { id: string; name: string },
  timeNano: bigint,
): string {
  const text = podmanLines()[n - 1];
  if (text === undefined) throw new Error(`the Podman capture has no line ${n}`);
  const event = JSON.parse(text) as CapturedEvent;
  if (event.id !== undefined) event.id = target.id;
  event.Actor.ID = target.id;
  event.Actor.Attributes.name = target.name;
  event.time = Number(timeNano / 1_000_000_000n);
  event.timeNano = 0;
  // JSON numbers lose digits past 2^53: the exact nanoseconds are written as text.
  return `${JSON.stringify(event).replace('"timeNano":0', `"timeNano":${timeNano}`)}\n`;
}
