// Passes one caller's AbortSignal on to many concurrent requests through a single listener.
// undici adds an 'abort' listener to the signal of every request until its body is closed: a
// snapshot's 16 concurrent inspects on one signal crossed Node's limit of 10 and printed
// MaxListenersExceededWarning. Here each request gets its own child signal, released when done.

interface Relay {
  readonly children: Set<AbortController>;
  readonly onAbort: () => void;
}

export interface AbortLease {
  /** The signal to hand to one request (null when the caller gave none). */
  readonly signal: AbortSignal | null;
  /** The request is finished: stop relaying to it. Safe to call more than once. */
  release(): void;
}

export class AbortRelay {
  readonly #relays = new Map<AbortSignal, Relay>();

  /** A child of `parent` for one request; aborts when `parent` does, with its reason. */
  lease(parent: AbortSignal | undefined): AbortLease {
    // Nothing to relay: an already aborted signal fails the request at once by itself.
    if (!parent || parent.aborted) return { signal: parent ?? null, release: () => undefined };
    let relay = this.#relays.get(parent);
    if (!relay) {
      const children = new Set<AbortController>();
      const onAbort = () => {
        this.#relays.delete(parent);
        for (const child of children) child.abort(parent.reason);
        children.clear();
      };
      relay = { children, onAbort };
      this.#relays.set(parent, relay);
      parent.addEventListener("abort", onAbort, { once: true });
    }
    const child = new AbortController();
    relay.children.add(child);
    const current = relay;
    return {
      signal: child.signal,
      release: () => {
        if (!current.children.delete(child) || current.children.size > 0) return;
        // The last request on this signal is done: leave nothing behind on the caller's signal.
        parent.removeEventListener("abort", current.onAbort);
        if (this.#relays.get(parent) === current) this.#relays.delete(parent);
      },
    };
  }
}
