import { describe, expect, it } from "vitest";
import { PRIORITY, RetainedStore } from "../../src/mqtt/retained-store.js";

type Message = [topic: string, payload: string];

/** Takes every message the store wants sent, as the publisher would, without acknowledging. */
function take(store: RetainedStore): Message[] {
  const out: Message[] = [];
  for (let next = store.next(); next; next = store.next()) {
    store.sending(next.topic, next.payload);
    out.push([next.topic, next.payload]);
  }
  return out;
}

/** Takes every message and lets the broker acknowledge each. */
function deliver(store: RetainedStore): Message[] {
  const out = take(store);
  for (const [topic, payload] of out) store.acknowledged(topic, payload);
  return out;
}

describe("RetainedStore", () => {
  it("hands out availability, then host, stack and container discovery, then state", () => {
    const store = new RetainedStore();
    store.set("state/a", "running", PRIORITY.state);
    store.set("config/container", "{c}", PRIORITY.discovery);
    store.set("config/stack", "{s}", PRIORITY.stackDiscovery);
    store.set("config/host", "{h}", PRIORITY.hostDiscovery);
    store.set("state/b", "exited", PRIORITY.state);
    store.set("availability", "online", PRIORITY.availability);
    expect(take(store)).toEqual([
      ["availability", "online"],
      ["config/host", "{h}"],
      ["config/stack", "{s}"],
      ["config/container", "{c}"],
      ["state/a", "running"],
      ["state/b", "exited"],
    ]);
    expect(store.pending()).toBe(0);
  });

  it("sends only the newest of values set before the broker could take them", () => {
    const store = new RetainedStore();
    store.set("state/a", "created", PRIORITY.state);
    store.set("state/a", "running", PRIORITY.state);
    store.set("state/a", "paused", PRIORITY.state);
    expect(take(store)).toEqual([["state/a", "paused"]]);
  });

  it("sends nothing when a value goes back to what the broker already has", () => {
    const store = new RetainedStore();
    store.set("state/a", "running", PRIORITY.state);
    deliver(store);
    store.set("state/a", "paused", PRIORITY.state);
    store.set("state/a", "running", PRIORITY.state);
    expect(take(store)).toEqual([]);
  });

  it("sends a value again when it changed back while the other one was in flight", () => {
    const store = new RetainedStore();
    store.set("state/a", "running", PRIORITY.state);
    deliver(store);
    store.set("state/a", "paused", PRIORITY.state);
    expect(take(store)).toEqual([["state/a", "paused"]]);
    // Not acknowledged yet: the broker will end with "paused", so "running" must follow it.
    store.set("state/a", "running", PRIORITY.state);
    expect(take(store)).toEqual([["state/a", "running"]]);
  });

  it("clears availability after the configs that read it, and forgets a clear once acknowledged", () => {
    const store = new RetainedStore();
    store.set("availability", "online", PRIORITY.availability);
    store.set("config/container", "{c}", PRIORITY.discovery);
    deliver(store);
    store.clear("availability", PRIORITY.availability);
    store.clear("config/container", PRIORITY.discovery);
    expect(store.retained("availability")).toBeUndefined();
    expect(deliver(store)).toEqual([
      ["config/container", ""],
      ["availability", ""],
    ]);
    store.reconnected();
    expect(take(store)).toEqual([]);
  });

  it("keeps a held topic back until released, and then only if the broker lacks its value", () => {
    const store = new RetainedStore();
    store.set("config/a", "{old}", PRIORITY.discovery);
    deliver(store);
    store.hold("config/a");
    store.set("config/a", "{new}", PRIORITY.discovery);
    store.set("state/a", "running", PRIORITY.state);
    expect(take(store)).toEqual([["state/a", "running"]]);
    expect(store.release("config/a")).toBe(true);
    expect(take(store)).toEqual([["config/a", "{new}"]]);

    store.hold("config/a");
    store.set("config/a", "{other}", PRIORITY.discovery);
    // Sent outside the queue (as a discovery migration does) and acknowledged there.
    store.acknowledgedNow("config/a", "{other}");
    store.release("config/a");
    expect(take(store)).toEqual([]);
  });

  it("after a reconnect, or a failed send, sends the wanted values again", () => {
    const store = new RetainedStore();
    store.set("state/a", "running", PRIORITY.state);
    store.set("availability", "online", PRIORITY.availability);
    deliver(store);
    store.reconnected();
    expect(take(store)).toEqual([
      ["availability", "online"],
      ["state/a", "running"],
    ]);
    store.set("state/a", "exited", PRIORITY.state);
    expect(take(store)).toEqual([["state/a", "exited"]]);
    store.failed("state/a", "exited", true);
    expect(take(store)).toEqual([["state/a", "exited"]]);
    // A newer value set meanwhile is what goes out instead.
    store.set("state/a", "dead", PRIORITY.state);
    store.failed("state/a", "exited", true);
    expect(take(store)).toEqual([["state/a", "dead"]]);
    // A failed value is not taken for one the broker has, even when set again before the retry.
    store.failed("state/a", "dead", true);
    store.set("state/a", "exited", PRIORITY.state);
    store.set("state/a", "dead", PRIORITY.state);
    expect(take(store)).toEqual([["state/a", "dead"]]);
    // Failed while disconnected: the reconnect sends it, not the failure.
    store.failed("state/a", "dead", false);
    expect(take(store)).toEqual([]);
    store.reconnected();
    expect(take(store)).toEqual([
      ["availability", "online"],
      ["state/a", "dead"],
    ]);
  });

  it("republishes only the priorities asked for, and nothing it was told to forget", () => {
    const store = new RetainedStore();
    store.set("availability", "online", PRIORITY.availability);
    store.set("config/a", "{a}", PRIORITY.discovery);
    store.set("config/b", "{b}", PRIORITY.discovery);
    store.set("state/a", "running", PRIORITY.state);
    deliver(store);
    store.forget("config/b");
    store.republish([PRIORITY.availability, PRIORITY.discovery]);
    expect(take(store)).toEqual([
      ["availability", "online"],
      ["config/a", "{a}"],
    ]);
    expect(store.retained("config/b")).toBeUndefined();
  });
});
