// A second MQTT client that records everything it receives, as Home Assistant or an automation
// would see it, with condition waits (never fixed sleeps).
import mqtt, { type MqttClient } from "mqtt";

export interface Recorded {
  topic: string;
  payload: string;
  retain: boolean;
  qos: number;
  at: number;
}

export class Recorder {
  readonly messages: Recorded[] = [];
  readonly #client: MqttClient;
  #waiters: (() => void)[] = [];

  private constructor(client: MqttClient) {
    this.#client = client;
    client.on("message", (topic, payload, packet) => {
      this.messages.push({
        topic,
        payload: payload.toString(),
        retain: packet.retain,
        qos: packet.qos,
        at: Date.now(),
      });
      for (const w of this.#waiters) w();
    });
  }

  static async connect(
    url: string,
    filters: string[] = ["#"],
    protocolVersion: 4 | 5 = 4,
  ): Promise<Recorder> {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 200, protocolVersion });
    const recorder = new Recorder(client);
    await client.subscribeAsync(filters, { qos: 1 });
    return recorder;
  }

  /** The last payload seen on a topic (retained or live), or undefined. */
  last(topic: string): string | undefined {
    for (let i = this.messages.length - 1; i >= 0; i--) {
      const m = this.messages[i];
      if (m && m.topic === topic) return m.payload;
    }
    return undefined;
  }

  lastJson(topic: string): Record<string, unknown> | undefined {
    const text = this.last(topic);
    return text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
  }

  on(topic: string): Recorded[] {
    return this.messages.filter((m) => m.topic === topic);
  }

  /** Waits until the predicate holds over what was received; fails with a description on timeout. */
  async waitFor(description: string, predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
    if (predicate()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== check);
        const tail = this.messages
          .slice(-15)
          .map((m) => `  ${m.topic} ${m.payload.slice(0, 160)}`)
          .join("\n");
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for: ${description}\nlast messages:\n${tail}`,
          ),
        );
      }, timeoutMs);
      const check = () => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((w) => w !== check);
        resolve();
      };
      this.#waiters.push(check);
    });
  }

  /** Waits for the last JSON on a topic to match the given fields. */
  async waitForState(
    topic: string,
    fields: Record<string, unknown>,
    timeoutMs = 10_000,
  ): Promise<Record<string, unknown>> {
    const matches = () => {
      const state = this.lastJson(topic);
      return (
        state !== undefined &&
        Object.entries(fields).every(([k, v]) => JSON.stringify(state[k]) === JSON.stringify(v))
      );
    };
    await this.waitFor(`${topic} to hold ${JSON.stringify(fields)}`, matches, timeoutMs);
    return this.lastJson(topic) ?? {};
  }

  async publish(topic: string, payload: string, retain = false): Promise<void> {
    await this.#client.publishAsync(topic, payload, { retain, qos: 1 });
  }

  /**
   * A fresh subscription's view of retained messages: what Home Assistant sees on (re)start.
   * A retained marker stored just before subscribing is delivered after the retained messages
   * stored earlier (brokers keep them in order), so when it arrives the view is complete.
   */
  static async retainedSnapshot(url: string, filter: string): Promise<Map<string, string>> {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
    const marker = `test-marker/${Math.random().toString(36).slice(2)}`;
    const retained = new Map<string, string>();
    const done = new Promise<void>((resolve) => {
      client.on("message", (topic, payload, packet) => {
        if (topic === marker) resolve();
        else if (packet.retain) retained.set(topic, payload.toString());
      });
    });
    await client.publishAsync(marker, "x", { qos: 1, retain: true });
    await client.subscribeAsync([filter, marker], { qos: 1 });
    await done;
    await client.publishAsync(marker, "", { qos: 1, retain: true });
    await client.endAsync();
    return retained;
  }

  clear(): void {
    this.messages.length = 0;
  }

  async close(): Promise<void> {
    await this.#client.endAsync();
  }
}
