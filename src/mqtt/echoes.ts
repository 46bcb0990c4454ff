// The broker sends a client its own publishes back on topics it subscribes to (MQTT 3.1.1 has
// no "no local"). Those echoes must not be taken for another client's message: the bridge's own
// quick clear-then-announce of a device would look like a user deleting it in Home Assistant.
export class Echoes {
  /** Per topic, payloads sent and not yet received back, oldest first. */
  readonly #pending = new Map<string, string[]>();

  sent(topic: string, payload: string): void {
    const queue = this.#pending.get(topic) ?? [];
    queue.push(payload);
    this.#pending.set(topic, queue);
  }

  /** True (and forgotten) when the message is the echo of one of our own publishes. */
  received(topic: string, payload: string): boolean {
    const queue = this.#pending.get(topic);
    const at = queue?.indexOf(payload) ?? -1;
    if (!queue || at === -1) return false;
    // One connection keeps order: what was sent before it was echoed already, or never will be.
    queue.splice(0, at + 1);
    if (queue.length === 0) this.#pending.delete(topic);
    return true;
  }

  /** The connection closed: nothing sent on it will come back. */
  clear(): void {
    this.#pending.clear();
  }
}
