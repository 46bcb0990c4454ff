// The snapshot: list every container, then inspect each (health, restarts and exact times are
// only in inspect before API 1.52), a bounded number at a time. A container that vanishes between
// list and inspect is left out; one whose inspect fails falls back to its list entry.
import type { Logger } from "pino";
import { describeError } from "../errors.js";
import type { ContainerRecord } from "../state/model.js";
import {
  isKnownStatus,
  recordFromInspect,
  recordFromSummary,
  reportUnknownStatus,
} from "../state/records.js";
import type { DockerApi } from "./client.js";

/** List, then inspect each container (health, restarts and times are only there before API 1.52). */
export async function takeSnapshot(
  api: Pick<DockerApi, "listContainers" | "inspectContainer">,
  options: { signal?: AbortSignal; concurrency?: number; log?: Logger } = {},
): Promise<ContainerRecord[]> {
  const signal = options.signal ?? new AbortController().signal;
  const list = await api.listContainers(signal);
  const records: (ContainerRecord | null)[] = new Array(list.length).fill(null);
  const unknownStatuses = new Set<string>();
  let next = 0;
  const worker = async () => {
    while (next < list.length) {
      const i = next++;
      const summary = list[i];
      if (!summary) continue;
      try {
        const inspect = await api.inspectContainer(summary.Id, signal);
        // null: it vanished between list and inspect; its destroy event will follow.
        if (inspect) reportUnknownStatus(inspect, unknownStatuses, options.log);
        records[i] = inspect ? recordFromInspect(inspect) : null;
      } catch (err: unknown) {
        if (signal.aborted) throw err;
        options.log?.warn(
          { container: summary.Id.slice(0, 12), err: describeError(err) },
          "inspect failed; using the list entry",
        );
        if (!isKnownStatus(summary.State) && !unknownStatuses.has(summary.State)) {
          unknownStatuses.add(summary.State);
          options.log?.error(
            { container: summary.Id.slice(0, 12), status: summary.State, text: summary.Status },
            "the engine listed a container status this bridge does not know; read from its status text",
          );
        }
        records[i] = recordFromSummary(summary);
      }
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(options.concurrency ?? 16, list.length) }, worker),
  );
  return records.filter((r): r is ContainerRecord => r !== null);
}
