// The separate MQTT client that sees what a Home Assistant would: it subscribes, stamps every
// message with the wall clock on arrival, counts messages and bytes, and lets a scenario wait for
// a message or for silence. It never publishes, so nothing it counts is its own traffic.
import mqtt, { type MqttClient } from "mqtt";
import { compareBig, type WallClock } from "./clock.js";

export interface Received {
  /** Wall clock (ns) when the message was handed to us. */
  at: bigint;
  topic: string;
  payload: Buffer;
  retain: boolean;
}

type Listener = (m: Received) => void;

export class Subscriber {
  readonly #client: MqttClient;
  readonly #clock: WallClock;
  readonly #listeners = new Set<Listener>();
  /** Kept only when asked for (a throughput run would hold millions). */
  readonly messages: Received[] = [];
  #keep: boolean;
  count = 0;
  /** Topic plus payload bytes, as the application sees them (MQTT framing not included). */
  bytes = 0;
  lastAt = 0n;

  private constructor(client: MqttClient, clock: WallClock, keep: boolean) {
    this.#client = client;
    this.#clock = clock;
    this.#keep = keep;
    client.on("message", (topic, payload, packet) => {
      const m: Received = { at: clock.nowNs(), topic, payload, retain: packet.retain };
      this.count++;
      this.bytes += Buffer.byteLength(topic) + payload.length;
      this.lastAt = m.at;
      if (this.#keep) this.messages.push(m);
      for (const listener of this.#listeners) listener(m);
    });
  }

  static async connect(
    url: string,
    clock: WallClock,
    options: { filters?: string[]; keep?: boolean } = {},
  ): Promise<Subscriber> {
    const client = mqtt.connect(url, {
      clientId: `bench-sub-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
      reconnectPeriod: 0,
      clean: true,
    });
    await new Promise<void>((resolve, reject) => {
      client.once("connect", () => resolve());
      client.once("error", reject);
    });
    const sub = new Subscriber(client, clock, options.keep ?? true);
    await client.subscribeAsync(options.filters ?? ["#"], { qos: 0 });
    return sub;
  }

  /** Forgets everything received so far (e.g. retained messages from before a run). */
  reset(): void {
    this.messages.length = 0;
    this.count = 0;
    this.bytes = 0;
    this.lastAt = 0n;
  }

  on(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves with the first message (from now on) that `match` accepts. */
  next(match: (m: Received) => boolean, timeoutMs: number, what: string): Promise<Received> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`bench: no MQTT message within ${timeoutMs} ms: ${what}`));
      }, timeoutMs);
      const off = this.on((m) => {
        if (!match(m)) return;
        clearTimeout(timer);
        off();
        resolve(m);
      });
    });
  }

  /** Resolves once no message has arrived for `quietMs` (counting from now at the earliest). */
  async quiet(quietMs: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const startedAt = this.#clock.nowNs();
    for (;;) {
      const last = [this.lastAt, startedAt].sort(compareBig)[1] ?? startedAt;
      const idleMs = Number(this.#clock.nowNs() - last) / 1e6;
      if (idleMs >= quietMs) return;
      if (Date.now() > deadline) throw new Error(`bench: MQTT not quiet within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, Math.max(5, Math.min(100, quietMs - idleMs))));
    }
  }

  async close(): Promise<void> {
    await this.#client.endAsync(true);
  }
}

/**
 * Empties the broker of retained messages (left by an earlier scenario), so a run starts from a
 * broker a fresh bridge would meet. Uses a client of its own, before any counting starts.
 */
export async function clearRetained(url: string, clock: WallClock): Promise<number> {
  const sub = await Subscriber.connect(url, clock);
  await sub.quiet(300, 30_000);
  const topics = new Set(
    sub.messages.filter((m) => m.retain && m.payload.length > 0).map((m) => m.topic),
  );
  await sub.close();
  if (topics.size === 0) return 0;
  const client = mqtt.connect(url, { clientId: `bench-clear-${process.pid}`, reconnectPeriod: 0 });
  await new Promise<void>((resolve, reject) => {
    client.once("connect", () => resolve());
    client.once("error", reject);
  });
  await Promise.all(
    [...topics].map((topic) => client.publishAsync(topic, "", { retain: true, qos: 1 })),
  );
  await client.endAsync();
  return topics.size;
}
