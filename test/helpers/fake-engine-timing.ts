// Fake Docker Engine 20.10, response timing: when an answer leaves the engine, and which state
// it shows. Models what a slow daemon, a TCP link or a Portainer proxy does to the Engine API:
// moby's GET /containers/{id}/json handler (v20.10.27 api/server/router/container/inspect.go
// getContainersByName -> daemon/inspect.go ContainerInspectCurrent) reads the container once,
// under its lock, then writes the JSON; if the answer travels slowly, it arrives showing the
// container as it was when it was read, even if the container has since been stopped or
// destroyed. A request that reaches the daemon after the destroy gets 404 instead.
// /events is not slowed down here: neither its opening nor its events.
import type { ServerResponse } from "node:http";

/** An answer computed by the engine: a JSON document with its status, or /_ping's "OK". */
export type Answer = { status: number; body: unknown } | { ping: true };

/**
 * Which state a held inspect answer shows. "request-time": the container as it was when the
 * request arrived (the daemon read it, then the answer was slow). "release-time": as it is at
 * release (the request itself was slow to reach the daemon), 404 if it is gone by then.
 */
export type InspectAnswerTime = "request-time" | "release-time";

/** What the timing rules see of one request. */
export interface TimedRequest {
  /** Unversioned path, e.g. "/containers/json". */
  path: string;
  /** For GET /containers/{id}/json: the path's id or name, and the container it named then. */
  inspect?: { param: string; id: string | undefined; name: string | undefined };
  /** Computes the answer again (release-time holds). */
  recompute?: () => Answer;
}

/** The release function holdInspect() returns, with a way to wait for held requests. */
export interface InspectHold {
  /** Answers every held request (each as its mode says) and stops holding new ones. */
  (): void;
  /** Resolves once `count` (default 1) requests have been held. */
  held(count?: number): Promise<void>;
  /** Requests held so far. */
  readonly count: number;
}

export interface InspectTarget {
  /** Container name (with or without "/"), or a full id or id prefix. */
  name?: string;
  id?: string;
}

interface DelayRule {
  matches: (req: TimedRequest) => boolean;
  ms: number;
}

interface HoldRule {
  matches: (req: TimedRequest) => boolean;
  answer: InspectAnswerTime;
  held: Array<{ res: ServerResponse; answer: Answer; req: TimedRequest }>;
  total: number;
  waiters: Array<{ count: number; resolve: () => void }>;
}

/** Does an inspect request concern this target? By the path's text, or the container it named. */
export function inspectMatcher(target: string | undefined): (req: TimedRequest) => boolean {
  if (target === undefined) return (req) => req.inspect !== undefined;
  const name = target.replace(/^\//, "");
  return (req) => {
    const i = req.inspect;
    if (!i) return false;
    return i.param === target || i.name === name || (i.id?.startsWith(target) ?? false);
  };
}

export class ResponseTiming {
  #latencyMs = 0;
  #delays: DelayRule[] = [];
  #holds: HoldRule[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #wakers = new Set<() => void>();
  #closed = false;

  constructor(private readonly write: (res: ServerResponse, answer: Answer) => void) {}

  /** Extra time before every answer leaves (a slow link); 0 turns it off. */
  setLatency(ms: number): void {
    this.#latencyMs = ms;
  }

  /** Answers to matching requests leave `ms` later (on top of the latency); the last rule wins. */
  addDelay(matches: (req: TimedRequest) => boolean, ms: number): () => void {
    const rule = { matches, ms };
    this.#delays.push(rule);
    return () => {
      this.#delays = this.#delays.filter((r) => r !== rule);
    };
  }

  addHold(matches: (req: TimedRequest) => boolean, answer: InspectAnswerTime): InspectHold {
    const rule: HoldRule = { matches, answer, held: [], total: 0, waiters: [] };
    this.#holds.push(rule);
    const release = (): void => {
      this.#holds = this.#holds.filter((r) => r !== rule);
      for (const h of rule.held.splice(0)) {
        const fresh = rule.answer === "release-time" ? h.req.recompute?.() : undefined;
        this.#later(h.res, fresh ?? h.answer, this.#latencyMs);
      }
    };
    const held = (count = 1): Promise<void> =>
      rule.total >= count
        ? Promise.resolve()
        : new Promise((resolve) => rule.waiters.push({ count, resolve }));
    return Object.defineProperties(Object.assign(release, { held }), {
      count: { get: () => rule.total },
    }) as InspectHold;
  }

  /** Sends `answer` (computed now, at request time) when the rules say so. */
  send(res: ServerResponse, req: TimedRequest, answer: Answer): void {
    const hold = this.#holds.find((h) => h.matches(req));
    if (hold) {
      hold.held.push({ res, answer, req });
      hold.total += 1;
      const ready = hold.waiters.filter((w) => hold.total >= w.count);
      hold.waiters = hold.waiters.filter((w) => hold.total < w.count);
      for (const w of ready) w.resolve();
      return;
    }
    const delay = this.#delays.findLast((d) => d.matches(req))?.ms ?? 0;
    this.#later(res, answer, delay + this.#latencyMs);
  }

  /** Wraps any late write (a held /_ping) in the link's latency. */
  sendLate(res: ServerResponse, answer: Answer): void {
    this.#later(res, answer, this.#latencyMs);
  }

  /** Resolves after `ms`, or at close(), whichever comes first (paces fixture replays). */
  pause(ms: number): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        this.#wakers.delete(resolve);
        resolve();
      }, ms);
      this.#timers.add(timer);
      this.#wakers.add(resolve);
    });
  }

  /** Drops held answers and pending timers (the engine's connections are destroyed anyway). */
  close(): void {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const wake of this.#wakers) wake();
    this.#wakers.clear();
    for (const rule of this.#holds) {
      for (const h of rule.held.splice(0)) h.res.destroy();
      for (const w of rule.waiters.splice(0)) w.resolve();
    }
  }

  #later(res: ServerResponse, answer: Answer, ms: number): void {
    const go = (): void => {
      // The client may have given up (a timeout) while the answer was on its way.
      if (this.#closed || res.destroyed || res.writableEnded) return;
      this.write(res, answer);
    };
    if (ms <= 0) {
      go();
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      go();
    }, ms);
    this.#timers.add(timer);
  }
}
