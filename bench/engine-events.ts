// The bench's own `GET /events` stream, opened beside the bridge's: it gives each container
// event's `timeNano` (read from the raw line: JSON numbers lose digits past 2^53), the engine's
// own time of the transition that latency is measured from.
import { type ClientRequest, request } from "node:http";
import type { WallClock } from "./clock.js";

export interface SeenEvent {
  action: string;
  id: string;
  name: string;
  timeNano: bigint;
  receivedAt: bigint;
}

type Listener = (e: SeenEvent) => void;

const TIME_NANO = /"timeNano"\s*:\s*(\d+)/;

export class EngineEvents {
  readonly events: SeenEvent[] = [];
  readonly #listeners = new Set<Listener>();
  #req: ClientRequest | undefined;

  private constructor(private readonly clock: WallClock) {}

  /** Opens the stream (container events only) and resolves once the engine sent its headers. */
  static async open(socketPath: string, clock: WallClock): Promise<EngineEvents> {
    const log = new EngineEvents(clock);
    const filters = encodeURIComponent(JSON.stringify({ type: ["container"] }));
    await new Promise<void>((resolve, reject) => {
      const req = request(
        { socketPath, path: `/events?filters=${filters}`, method: "GET", agent: false },
        (res) => {
          if (res.statusCode !== 200) {
            reject(new Error(`bench: GET /events answered ${res.statusCode}`));
            return;
          }
          let rest = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            const lines = (rest + chunk).split("\n");
            rest = lines.pop() ?? "";
            for (const line of lines) if (line.trim() !== "") log.#line(line);
          });
          res.on("error", () => undefined);
          resolve();
        },
      );
      req.on("error", reject);
      req.end();
      log.#req = req;
    });
    return log;
  }

  #line(line: string): void {
    const receivedAt = this.clock.nowNs();
    const raw = JSON.parse(line) as {
      Action: string;
      Actor: { ID: string; Attributes?: { name?: string } };
    };
    const e: SeenEvent = {
      action: raw.Action,
      id: raw.Actor.ID,
      name: raw.Actor.Attributes?.name ?? "",
      timeNano: BigInt(TIME_NANO.exec(line)?.[1] ?? "0"),
      receivedAt,
    };
    this.events.push(e);
    for (const listener of this.#listeners) listener(e);
  }

  /** The first event from now on (or already seen after `since`) that `match` accepts. */
  next(match: (e: SeenEvent) => boolean, timeoutMs: number, what: string): Promise<SeenEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#listeners.delete(listener);
        reject(new Error(`bench: no engine event within ${timeoutMs} ms: ${what}`));
      }, timeoutMs);
      const listener = (e: SeenEvent) => {
        if (!match(e)) return;
        clearTimeout(timer);
        this.#listeners.delete(listener);
        resolve(e);
      };
      this.#listeners.add(listener);
    });
  }

  close(): void {
    this.#req?.destroy();
  }
}
