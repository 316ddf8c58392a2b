// What the metrics endpoint reports, kept by the control plane without prom-client (which is loaded
// only when the endpoint is first scraped): the data planes to read at scrape time, grouped by
// container, and the control plane's own counters. Nothing here runs per notification: a data plane
// is registered once, read from its shared stats buffer when scraped, and folded in when released.
//
// Label sets stay bounded however long the agent runs: at most CONTAINER_LABELS containers have their
// own `container` label; more share "_other". A container's label goes away once its last data plane
// is released, its counts moving to "_released", so that summing over containers never goes back.
import { addStats, cloneStats, mergeStats, newStatsSnapshot, type StatsSnapshot } from '../dataplane/stats.js';

/** What a data plane exposes to the metrics (DataPlane has both). */
export interface StatsSource {
  readonly stats: SharedArrayBuffer;
  readonly policyNames: readonly string[];
}

export const CONTAINER_LABELS = 100;
export const OTHER_CONTAINERS = '_other';
export const RELEASED_CONTAINERS = '_released';

interface Group {
  label: string;
  live: Set<StatsSource>;
  /** Counts of this group's data planes already released. */
  retired: StatsSnapshot;
}

export type HandoverResult = 'taken_over' | 'failed';

export class MetricsSources {
  private readonly groups = new Map<string, Group>();
  private readonly groupOf = new Map<StatsSource, { group: Group; container: string }>();
  /** Live data planes by container id (more than one with exec'd processes). */
  private readonly liveById = new Map<string, number>();
  private readonly other: Group = { label: OTHER_CONTAINERS, live: new Set(), retired: newStatsSnapshot() };
  private readonly released: Group = { label: RELEASED_CONTAINERS, live: new Set(), retired: newStatsSnapshot() };
  /** Data planes registered (agent: containers and exec'd processes adopted, hand-overs included). */
  dataPlanesServed = 0;
  dataPlanesReleased = 0;
  reloads = 0;
  /** Data planes that kept their previous policy set in a reload (it failed to instantiate there). */
  reloadFailures = 0;
  readonly handovers: Record<HandoverResult, number> = { taken_over: 0, failed: 0 };
  readonly startTime = Date.now() / 1000;

  /**
   * @param perContainer the agent (a `container` label); `run` has one data plane and no such label.
   */
  constructor(readonly perContainer: boolean, private readonly containerLabels = CONTAINER_LABELS) {}

  add(source: StatsSource, container = ''): void {
    let group = this.groups.get(container);
    if (!group) {
      if (this.perContainer && this.groups.size >= this.containerLabels) group = this.other;
      else this.groups.set(container, group = { label: container, live: new Set(), retired: newStatsSnapshot() });
    }
    group.live.add(source);
    this.groupOf.set(source, { group, container });
    this.liveById.set(container, (this.liveById.get(container) ?? 0) + 1);
    this.dataPlanesServed++;
  }

  /** The data plane is gone: its final counts stay, under its container's label while that has others. */
  release(source: StatsSource): void {
    const entry = this.groupOf.get(source);
    if (!entry) return;
    const { group, container } = entry;
    this.groupOf.delete(source);
    const left = this.liveById.get(container)! - 1;
    if (left > 0) this.liveById.set(container, left);
    else this.liveById.delete(container);
    group.live.delete(source);
    addStats(group.retired, source.stats, source.policyNames);
    this.dataPlanesReleased++;
    if (this.perContainer && group !== this.other && group.live.size === 0) {
      mergeStats(this.released.retired, group.retired);
      this.groups.delete(group.label);
    }
  }

  reloaded(failedDataPlanes: number): void {
    this.reloads++;
    this.reloadFailures += failedDataPlanes;
  }

  handedOver(result: HandoverResult): void {
    this.handovers[result]++;
  }

  /** Containers (distinct ids) with a live data plane, labelled or not. */
  get containersServed(): number {
    return this.liveById.size;
  }

  /** The counts now, by container label ("" for `run`); read at scrape time. */
  snapshot(): Map<string, StatsSnapshot> {
    const out = new Map<string, StatsSnapshot>();
    const read = (g: Group) => {
      const s = cloneStats(g.retired);
      for (const source of g.live) addStats(s, source.stats, source.policyNames);
      out.set(g.label, s);
    };
    for (const g of this.groups.values()) read(g);
    if (this.perContainer) {
      if (this.other.live.size || hasCounts(this.other.retired)) read(this.other);
      read(this.released);
    }
    return out;
  }
}

function hasCounts(s: StatsSnapshot): boolean {
  return s.totals.some((n) => n !== 0);
}
