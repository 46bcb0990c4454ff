// Changing `host.id` renames every topic and device of an engine; what the bridge published
// under the earlier id would stay in the broker and in Home Assistant for good. At start-up the
// retained messages of every host are collected; a host whose retained state names this very
// engine (its `engine_id`) and that is not online is an earlier id of ours, and is cleared.
// A host of another engine, or one online (another bridge on this engine), is never touched.
import { expand } from "../homeassistant/abbreviations.js";
import { ORIGIN_NAME, type Topics } from "../homeassistant/topics.js";

/** The host id a device id of this bridge names (`dmb_<host>` or `dmb_<host>__...`). */
function hostOfDevice(deviceId: string): string | undefined {
  if (!deviceId.startsWith("dmb_")) return undefined;
  return deviceId.slice(4).split("__")[0] || undefined;
}

function deviceIdOf(topic: string, prefix: string): string | undefined {
  if (!topic.startsWith(`${prefix}/`) || !topic.endsWith("/config")) return undefined;
  const parts = topic.slice(prefix.length + 1, -"/config".length).split("/");
  return parts[0] === "device" ? parts[1] : parts.length === 3 ? parts[1] : undefined;
}

function isBridgeDiscovery(payload: string, host: string): boolean {
  try {
    // Either form: abbreviated keys, or an earlier version's long ones.
    const data = expand(JSON.parse(payload) as Record<string, unknown>) as {
      origin?: { name?: unknown };
      device?: { identifiers?: unknown };
    };
    const ids = Array.isArray(data.device?.identifiers) ? data.device.identifiers : [];
    return (
      data.origin?.name === ORIGIN_NAME &&
      ids.some((id) => typeof id === "string" && hostOfDevice(id) === host)
    );
  } catch {
    return false;
  }
}

export class FormerHosts {
  readonly #topics: Topics;
  readonly #prefix: string;
  /** Retained topics of other hosts, by host. */
  readonly #byHost = new Map<string, Map<string, string>>();

  constructor(topics: Topics) {
    this.#topics = topics;
    this.#prefix = topics.discoveryPrefix;
  }

  /** Hosts someone published for while the retained messages were collected. */
  readonly #live = new Set<string>();

  /** A message published now (not retained) for a host: that host is someone's, not former. */
  live(topic: string): void {
    const deviceId = deviceIdOf(topic, this.#prefix);
    const host = deviceId ? hostOfDevice(deviceId) : this.#topics.hostOf(topic);
    if (host) this.#live.add(host);
  }

  /** A retained message seen at start-up; the current host's are not this module's concern. */
  seen(topic: string, payload: string): void {
    const deviceId = deviceIdOf(topic, this.#prefix);
    const host = deviceId ? hostOfDevice(deviceId) : this.#topics.hostOf(topic);
    if (!host || host === this.#topics.hostId) return;
    if (deviceId && !isBridgeDiscovery(payload, host)) return;
    const topics = this.#byHost.get(host) ?? new Map<string, string>();
    topics.set(topic, payload);
    this.#byHost.set(host, topics);
  }

  /**
   * What to clear: every topic of this engine's earlier host ids, discovery first, then states,
   * availability last (so no entity reads an emptied state while it still exists).
   */
  staleTopics(engineId: string | undefined): string[] {
    if (!engineId) return [];
    const out: string[] = [];
    for (const [host, topics] of this.#byHost) {
      const former = this.#topics.forHost(host);
      const state = topics.get(former.hostState());
      if (!state || engineIdOf(state) !== engineId) continue;
      if (topics.get(former.availability()) === "online" || this.#live.has(host)) continue;
      const all = [...topics.keys()];
      const isDiscovery = (t: string) => t.startsWith(`${this.#prefix}/`);
      out.push(...all.filter(isDiscovery));
      out.push(...all.filter((t) => !isDiscovery(t) && t !== former.availability()));
      if (topics.has(former.availability())) out.push(former.availability());
    }
    return out;
  }
}

/** The engine id in a host state payload. */
export function engineIdOf(hostStatePayload: string | undefined): string | undefined {
  try {
    const id = (JSON.parse(hostStatePayload ?? "") as { engine_id?: unknown }).engine_id;
    return typeof id === "string" && id !== "" ? id : undefined;
  } catch {
    return undefined;
  }
}
