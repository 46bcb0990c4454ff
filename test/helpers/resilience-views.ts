// Views over what the recorder received, shared by the resilience and hostile-input tests: they
// work on a Harness and on a resilience Kit alike.
import type { Topics } from "../../src/homeassistant/topics.js";
import type { FakeEngine } from "./fake-engine.js";
import type { EngineEvent } from "./fake-engine-events.js";
import { goTime } from "./fake-engine-model.js";
import type { Recorder } from "./recorder.js";

export interface View {
  engine: FakeEngine;
  recorder: Recorder;
  topics: Topics;
}

export const deviceTopic = (x: Pick<View, "topics">, name: string) =>
  x.topics.deviceDiscovery(x.topics.containerDeviceId(name));

/** A raw event as the bridge publishes it. */
export interface PublishedEvent {
  type: string;
  action: string;
  detail: string;
  id: string;
  name: string;
  attributes: Record<string, string>;
}

/** Parsed raw events on `events/<type>/<action>`. */
export const eventsOn = (x: View, type: string, action: string) =>
  x.recorder.on(x.topics.event(type, action)).map((m) => JSON.parse(m.payload) as PublishedEvent);

/** Raw events of one container on `events/container/<action>`. */
export const eventsOf = (x: View, action: string, name: string) =>
  eventsOn(x, "container", action).filter((e) => e.name === name);

/** The container's topics (state, device, event entity) that got any message at all. */
export const topicsOf = (x: View, name: string) =>
  [x.topics.containerState(name), deviceTopic(x, name), x.topics.containerEvents(name)].filter(
    (t) => x.recorder.on(t).length > 0,
  );

/** The last event the engine emitted for a container with this action. */
export function lastEvent(engine: FakeEngine, name: string, action: string): EngineEvent {
  const ev = engine.history.findLast(
    (e) => e.Type === "container" && e.Action === action && e.Actor.Attributes.name === name,
  );
  if (!ev) throw new Error(`no ${action} event for ${name}`);
  return ev;
}

/**
 * Once the engine streams to the bridge: `docker run` each name and wait until it shows running
 * with the engine's own start time (the bridge shows the event's view first, then the answer of
 * the inspect it asks for: only then is the container settled).
 */
export async function runAndWait(x: View, ...names: string[]): Promise<string[]> {
  await x.engine.waitForEventStream({ count: 1 });
  const ids = names.map((name) => x.engine.run({ name }));
  for (const name of names) {
    const startedAt = goTime(x.engine.container(name)?.startedAt ?? 0n);
    await x.recorder.waitForState(x.topics.containerState(name), {
      running: true,
      started_at: startedAt,
    });
  }
  return ids;
}

/** A `before` hook: seeds containers, and makes the next inspect of each of `fail` answer `status`. */
export const seedFailing =
  (seed: Parameters<FakeEngine["seed"]>[0], fail: string[], status: number) =>
  (engine: FakeEngine) => {
    engine.seed(seed);
    for (const name of fail) {
      engine.failNext(`/containers/${engine.container(name)?.id}/json`, status);
    }
  };
