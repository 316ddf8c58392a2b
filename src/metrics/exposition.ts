// The metrics endpoint's text: prom-client registries (Prometheus text 0.0.4 and OpenMetrics 1.0)
// whose counters are filled by collect() callbacks from one snapshot of MetricsSources per scrape.
// Loaded with the first scrape, never on the data plane.
import { createRequire } from 'node:module';
import type { Histogram, Registry } from 'prom-client';
import { portableName } from '../syscalls/tables.js';
import {
  LATENCY_BUCKET_COUNT, OUTCOME_COUNT, OUTCOME_NAMES, PolicyStat, Stat, latencyBucketUpperNs, type StatsSnapshot,
} from '../dataplane/stats.js';
import type { MetricsSources } from './sources.js';

// prom-client (CommonJS) is required when this module is evaluated, not imported: bundled
// (scripts/bundle.js), an import would be hoisted to the top of the CLI's one file and loaded by every
// start-up, where this module is loaded only with the first scrape.
const { Counter, Gauge, Registry: RegistryClass } = createRequire(import.meta.url)('prom-client') as typeof import('prom-client');

/** The audit log's words for a notification's outcome (src/dataplane/audit.ts). */
const DECISION: Record<(typeof OUTCOME_NAMES)[number], string> = {
  continued: 'continue', errno: 'errno', returned: 'return', emulated: 'emulate', failedClosed: 'fail-closed', noPolicy: 'no-policy',
};
const POLICY_DECISIONS: [number, string][] = [
  [PolicyStat.noOpinion, 'no-opinion'], [PolicyStat.continue, 'continue'], [PolicyStat.errno, 'errno'],
  [PolicyStat.return, 'return'], [PolicyStat.emulate, 'emulate'], [PolicyStat.failedClosed, 'fail-closed'],
  [PolicyStat.contain, 'contain'],
];
/**
 * Histogram bounds, in ns: one per power of two from ~1 µs to ~1 s. Each is a bound of the data
 * plane's own buckets (4 per power of two), so the counts are exact, not re-binned.
 */
const LATENCY_BOUNDS_NS = Array.from({ length: 21 }, (_, i) => 2 ** (10 + i));

export const PROMETHEUS_TYPE = RegistryClass.PROMETHEUS_CONTENT_TYPE;
export const OPENMETRICS_TYPE = RegistryClass.OPENMETRICS_CONTENT_TYPE;

type Labels = Record<string, string>;
type Snapshots = Map<string, StatsSnapshot>;

/**
 * A histogram whose buckets are already counted (the data plane's shared latency histogram), for
 * prom-client's registry, which takes any metric object with name, help, type and get(); its own
 * Histogram can only observe values one by one.
 */
class CountedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  constructor(readonly name: string, readonly help: string, private readonly read: () => Snapshots, private readonly labelsOf: (key: string) => Labels) {}

  async get() {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const [key, s] of this.read()) {
      const labels = this.labelsOf(key);
      let b = 0, cumulative = 0, count = 0;
      for (let i = 0; i < LATENCY_BUCKET_COUNT; i++) count += s.latency[i]!;
      for (const bound of LATENCY_BOUNDS_NS) {
        while (b < LATENCY_BUCKET_COUNT && latencyBucketUpperNs(b) <= bound) cumulative += s.latency[b++]!;
        values.push({ labels: { ...labels, le: bound / 1e9 }, value: cumulative, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { ...labels, le: '+Inf' }, value: count, metricName: `${this.name}_bucket` });
      values.push({ labels, value: s.latencySumNs / 1e9, metricName: `${this.name}_sum` });
      values.push({ labels, value: count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void { /* nothing kept: everything is read at scrape time */ }
}

function openMetricsRegistry(): Registry {
  const registry = new RegistryClass();
  (registry as unknown as Registry<typeof OPENMETRICS_TYPE>).setContentType(OPENMETRICS_TYPE);
  return registry;
}

export class Exposition {
  private readonly registries: { prometheus: Registry; openmetrics: Registry };
  private current: Snapshots = new Map();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly sources: MetricsSources, private readonly info: { version: string; command: string }) {
    this.registries = {
      prometheus: this.build(new RegistryClass()),
      openmetrics: this.build(openMetricsRegistry()),
    };
  }

  /** The text for one scrape; OpenMetrics when the client accepts it (Prometheus asks for it first). */
  render(accept: string | undefined): Promise<{ contentType: string; body: string }> {
    const openmetrics = /application\/openmetrics-text/i.test(accept ?? '');
    const registry = openmetrics ? this.registries.openmetrics : this.registries.prometheus;
    // One scrape at a time: the collect() callbacks all read the snapshot taken for it.
    const next = this.queue.then(async () => {
      this.current = this.sources.snapshot();
      return { contentType: registry.contentType as string, body: await registry.metrics() };
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  private build(registry: Registry): Registry {
    const sources = this.sources;
    const perContainer = sources.perContainer;
    const c = (labels: string[]) => (perContainer ? ['container', ...labels] : labels);
    const labelsOf = (key: string, more: Labels = {}): Labels => (perContainer ? { container: key, ...more } : more);
    const registers = [registry];
    const self = this;

    /** A counter per container from one of the totals. */
    const total = (name: string, help: string, stat: number) => new Counter({
      name, help, labelNames: c([]), registers,
      collect() {
        this.reset();
        for (const [key, s] of self.current) this.inc(labelsOf(key), s.totals[stat]!);
      },
    });

    new Gauge({
      name: 'wasmsup_build_info', help: 'Always 1; the labels say which wasmsup this is and what it runs as.', labelNames: ['version', 'command'], registers,
      collect() { this.set({ version: self.info.version, command: self.info.command }, 1); },
    });
    new Gauge({
      name: 'process_start_time_seconds', help: 'Start time of the process since unix epoch in seconds.', registers,
      collect() { this.set(sources.startTime); },
    });
    new Counter({
      name: 'wasmsup_notifications_total',
      help: 'Notifications answered, by syscall and final decision (continue, errno, return, emulate, fail-closed, no-policy).',
      labelNames: c(['syscall', 'decision']), registers,
      collect() {
        this.reset();
        for (const [key, s] of self.current) {
          // Only syscalls seen: the filter routes nothing but what the policies (and --intercept) name.
          for (let i = 0; i < s.outcomes.length; i++) {
            const n = s.outcomes[i]!;
            if (n === 0) continue;
            const id = Math.floor(i / OUTCOME_COUNT), outcome = OUTCOME_NAMES[i % OUTCOME_COUNT]!;
            this.inc(labelsOf(key, { syscall: portableName(id) ?? 'unknown', decision: DECISION[outcome] }), n);
          }
        }
      },
    });
    new Counter({
      name: 'wasmsup_policy_decisions_total',
      help: 'What each policy answered when asked (no-opinion: it left the call to the next policy).',
      labelNames: c(['policy', 'decision']), registers,
      collect() {
        this.reset();
        for (const [key, s] of self.current) {
          for (const [policy, row] of s.byPolicy) {
            for (const [k, decision] of POLICY_DECISIONS) if (row[k]) this.inc(labelsOf(key, { policy, decision }), row[k]!);
          }
        }
      },
    });
    const perPolicy = (name: string, help: string, stat: number) => new Counter({
      name, help, labelNames: c(['policy']), registers,
      collect() {
        this.reset();
        for (const [key, s] of self.current) for (const [policy, row] of s.byPolicy) this.inc(labelsOf(key, { policy }), row[stat]!);
      },
    });
    perPolicy('wasmsup_policy_traps_total', 'Decisions a policy trapped in (out of fuel included); each failed the call closed.', PolicyStat.traps);
    perPolicy('wasmsup_policy_fuel_exhausted_total', 'Decisions stopped for running out of fuel (--policy-fuel).', PolicyStat.fuelExhausted);
    perPolicy('wasmsup_policy_skipped_total', 'Notifications a policy was not asked about because it was put aside for trapping (--max-traps).', PolicyStat.skipped);
    total('wasmsup_emulation_failures_total', 'Emulations that failed in the host (the call got an error the policy did not choose).', Stat.emulationFailed);
    total('wasmsup_traps_total', 'Policy traps, all policies.', Stat.traps);
    total('wasmsup_fuel_exhausted_total', 'Policy decisions stopped for running out of fuel, all policies.', Stat.fuelExhausted);
    total('wasmsup_policies_put_aside_total', 'Times a policy was put aside after --max-traps traps in a row (until the next reload).', Stat.policiesSkipped);
    total('wasmsup_replayed_total', 'Restarted calls answered with the result of their undelivered emulation.', Stat.replayed);
    total('wasmsup_audit_records_total', 'Audit records written to the ring (--audit).', Stat.audited);
    total('wasmsup_audit_dropped_total', 'Audit records dropped because the ring was full.', Stat.auditDropped);
    new Counter({
      name: 'wasmsup_containments_total',
      help: 'Workloads killed or frozen, by a policy\'s CONTAIN decision or by --default-action.',
      labelNames: c(['action']), registers,
      collect() {
        this.reset();
        for (const [key, s] of self.current) {
          this.inc(labelsOf(key, { action: 'kill' }), s.totals[Stat.killed]!);
          this.inc(labelsOf(key, { action: 'freeze' }), s.totals[Stat.frozen]!);
        }
      },
    });
    new Counter({
      name: 'wasmsup_withdrawn_total',
      help: 'Notifications whose caller was interrupted or gone: before it was received, or when it was answered.',
      labelNames: c(['stage']), registers,
      collect() {
        this.reset();
        for (const [key, s] of self.current) {
          this.inc(labelsOf(key, { stage: 'receive' }), s.totals[Stat.recvEnoent]!);
          this.inc(labelsOf(key, { stage: 'answer' }), s.totals[Stat.sendEnoent]!);
        }
      },
    });
    registry.registerMetric(new CountedHistogram('wasmsup_notification_latency_seconds',
      'From receiving a notification to its answer being sent.', () => self.current, (key) => labelsOf(key)) as unknown as Histogram);

    new Counter({
      name: 'wasmsup_reloads_total', help: 'Policy reloads (SIGHUP).', registers,
      collect() { this.reset(); this.inc(sources.reloads); },
    });
    new Counter({
      name: 'wasmsup_reload_failures_total', help: 'Data planes that kept their previous policies in a reload.', registers,
      collect() { this.reset(); this.inc(sources.reloadFailures); },
    });
    if (perContainer) {
      new Gauge({
        name: 'wasmsup_containers', help: 'Containers served now.', registers,
        collect() { this.set(sources.containersServed); },
      });
      new Counter({
        name: 'wasmsup_data_planes_total', help: 'Listeners adopted (a container\'s first process, each exec\'d one, and those taken over).', registers,
        collect() { this.reset(); this.inc(sources.dataPlanesServed); },
      });
      new Counter({
        name: 'wasmsup_data_planes_released_total', help: 'Listeners released (hung up, failed, or handed over).', registers,
        collect() { this.reset(); this.inc(sources.dataPlanesReleased); },
      });
      new Counter({
        name: 'wasmsup_handovers_total', help: 'Hand-overs (SIGUSR2): taken_over by this process from its predecessor, or failed here.',
        labelNames: ['result'], registers,
        collect() {
          this.reset();
          for (const [result, n] of Object.entries(sources.handovers)) this.inc({ result }, n);
        },
      });
    }
    return registry;
  }
}
