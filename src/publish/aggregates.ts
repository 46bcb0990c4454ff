// Host and Compose stack devices: their counts are recomputed once per burst of changes (not per
// event), and a stack disappears only when none of its containers is left or within its grace.
import type { EngineInfo } from "../docker/schemas.js";
import {
  type HostInfo,
  hostDiscovery,
  hostState,
  stackDiscovery,
  stackState,
} from "../homeassistant/aggregates.js";
import type { DiscoveryContext } from "../homeassistant/discovery.js";
import { PRIORITY, type Publisher } from "../mqtt/publisher.js";
import type { ContainerRecord } from "../state/model.js";

export interface AggregateDeps {
  ctx: DiscoveryContext;
  publisher: Publisher;
  discovery: boolean;
  stacks: boolean;
  /** The mirrored containers now. */
  records: () => Iterable<ContainerRecord>;
  /** Compose projects of containers waiting out their removal grace. */
  pendingProjects: () => Iterable<string>;
}

export class Aggregates {
  readonly #d: AggregateDeps;
  #host: HostInfo | undefined;
  readonly #stacks = new Set<string>();
  #scheduled: NodeJS.Immediate | undefined;

  constructor(deps: AggregateDeps) {
    this.#d = deps;
  }

  setHost(info: EngineInfo, apiVersion: string): void {
    this.#host = {
      name: this.#d.ctx.topics.hostId,
      engineVersion: info.ServerVersion,
      apiVersion,
      engineId: info.ID,
    };
    if (this.#d.discovery) {
      for (const m of hostDiscovery(this.#d.ctx, this.#host)) {
        this.#d.publisher.setRetained(m.topic, JSON.stringify(m.payload), PRIORITY.hostDiscovery);
      }
    }
    this.markDirty();
  }

  /**
   * Announces a container's parent stack device now, if it is not yet: called before the
   * container's own discovery, so Home Assistant knows the device its `via_device` names.
   */
  announceParentOf(record: ContainerRecord): void {
    const project = record.compose_project;
    if (!project || !this.#d.stacks || this.#stacks.has(project)) return;
    this.#stacks.add(project);
    if (!this.#d.discovery) return;
    const members = [...this.#d.records()].filter((r) => r.compose_project === project);
    if (!members.some((r) => r.name === record.name)) members.push(record);
    this.#announceStack(project, members);
  }

  /** Re-announced when its members change only if a feature adds entities that depend on them. */
  #announceStack(project: string, members: readonly ContainerRecord[]): void {
    for (const m of stackDiscovery(this.#d.ctx, project, members)) {
      this.#d.publisher.setRetained(m.topic, JSON.stringify(m.payload), PRIORITY.stackDiscovery);
    }
  }

  #clearStack(project: string): void {
    const { publisher, ctx } = this.#d;
    for (const m of stackDiscovery(ctx, project))
      publisher.clearRetained(m.topic, PRIORITY.stackDiscovery);
    publisher.clearRetained(ctx.topics.stackState(project), PRIORITY.state);
  }

  /** Something changed; recompute once the current burst of events has been applied. */
  markDirty(): void {
    this.#scheduled ??= setImmediate(() => {
      this.#scheduled = undefined;
      this.flush();
    });
  }

  stop(): void {
    if (this.#scheduled) clearImmediate(this.#scheduled);
    this.#scheduled = undefined;
  }

  /** Clears the host's and every stack's discovery and state. */
  retire(): void {
    this.stop();
    const { publisher, ctx } = this.#d;
    for (const project of this.#stacks) this.#clearStack(project);
    this.#stacks.clear();
    const host = this.#host ?? { name: ctx.topics.hostId, engineVersion: "", apiVersion: "" };
    for (const m of hostDiscovery(ctx, host))
      publisher.clearRetained(m.topic, PRIORITY.hostDiscovery);
    publisher.clearRetained(ctx.topics.hostState(), PRIORITY.state);
  }

  flush(): void {
    const { publisher, ctx } = this.#d;
    const records = [...this.#d.records()];
    if (this.#host) {
      publisher.setRetained(
        ctx.topics.hostState(),
        JSON.stringify(hostState(records, this.#host)),
        PRIORITY.state,
      );
    }
    if (!this.#d.stacks) return;
    const byProject = new Map<string, ContainerRecord[]>();
    for (const r of records) {
      if (!r.compose_project) continue;
      const list = byProject.get(r.compose_project) ?? [];
      list.push(r);
      byProject.set(r.compose_project, list);
    }
    const membersMatter = (ctx.extensions ?? []).some((e) => e.stack !== undefined);
    for (const [project, members] of byProject) {
      const known = this.#stacks.has(project);
      // The publisher sends a retained payload only when it differs from the last one.
      if ((!known || membersMatter) && this.#d.discovery) this.#announceStack(project, members);
      this.#stacks.add(project);
      publisher.setRetained(
        ctx.topics.stackState(project),
        JSON.stringify(stackState(project, members)),
        PRIORITY.state,
      );
    }
    const pending = new Set(this.#d.pendingProjects());
    for (const project of [...this.#stacks]) {
      if (byProject.has(project) || pending.has(project)) continue;
      this.#stacks.delete(project);
      this.#clearStack(project);
    }
  }
}
