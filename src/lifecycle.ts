// The control plane's side of the policy lifecycle, shared by `wasmsup run` and the OCI agent: reloading
// the policies on SIGHUP into running data planes, and printing the stats on SIGUSR1. Loading itself
// is src/policy/directory.ts; swapping a set in between two notifications is DataPlane.reload.
import type { DataPlane } from './dataplane/control.js';
import type { StatsReport } from './dataplane/stats.js';
import { interestNotCovered } from './filter/interest.js';
import type { SyscallInterest } from './filter/types.js';
import { log, logFormat } from './log.js';
import type { PolicyDirectory, PolicyScan } from './policy/directory.js';
import type { PolicyInfo } from './policy/load.js';
import { basename } from 'node:path';

/** Logs a scan's per-file errors, one line each naming the file and the reason. */
export function logScanErrors(scan: PolicyScan): void {
  for (const e of scan.errors) {
    log('error', `${e.file}: ${e.reason}; ${e.keptPrevious ? 'its previous version stays in force' : 'not loaded'}`);
  }
}

export interface ReloaderOptions {
  directory: PolicyDirectory;
  /** The interest the installed filter routes (policies at start plus --intercept). */
  installed: readonly SyscallInterest[];
  /** The data planes to give the new set to (one for `run`; one per container for the agent). */
  dataPlanes: () => readonly DataPlane[];
  /** Which of the new set a data plane receives (the agent's per-container selection); default all. */
  select?: (dataPlane: DataPlane, policies: PolicyInfo[]) => PolicyInfo[];
  /** How the operator routes calls the filter misses, for the warning (run: --intercept; agent: oci-config). */
  routeHint: string;
  /** After each reload, with the number of data planes that kept their previous set (for --metrics). */
  onReload?: (failedDataPlanes: number) => void;
}

/**
 * Rescans on request and swaps the result in. Requests arriving during a reload are folded into one
 * more reload after it, so a burst of SIGHUPs never runs two scans at once and the last file state wins.
 */
export class PolicyReloader {
  private running: Promise<void> | null = null;
  private again = false;
  private generation = 0;

  constructor(private readonly opts: ReloaderOptions) {}

  /** Resolves once a reload that started after this call has finished. */
  request(): Promise<void> {
    if (this.running) {
      this.again = true; // the running loop goes round once more before it settles
      return this.running;
    }
    this.running = this.loop().finally(() => { this.running = null; });
    return this.running;
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      await this.reloadOnce();
    } while (this.again);
  }

  private async reloadOnce(): Promise<void> {
    const generation = ++this.generation;
    const scan = this.opts.directory.rescan();
    logScanErrors(scan);
    const missing = interestNotCovered(this.opts.installed, scan.policies.flatMap((p) => p.interest));
    if (missing.length) {
      log('warn', `the running workload's filter does not route ${missing.join(', ')}: policies see those calls only in workloads started from now on (${this.opts.routeHint})`);
    }
    const names = scan.policies.map((p) => `${p.name} (${basename(p.file)})`).join(', ') || 'none';
    // Swapped in even when no file changed: a reload is also how an operator gives policies skipped
    // for trapping another chance, and re-instantiating resets their state.
    // async: a selection that cannot be made (a container's own configuration the new set refuses)
    // is that data plane's failure, and it keeps its previous set like any other.
    const results = await Promise.allSettled(this.opts.dataPlanes().map(async (dp) =>
      dp.reload(this.opts.select ? this.opts.select(dp, scan.policies) : scan.policies)));
    for (const r of results) {
      if (r.status === 'rejected') log('error', `reload ${generation}: a data plane kept its previous policies: ${(r.reason as Error).message}`);
    }
    this.opts.onReload?.(results.filter((r) => r.status === 'rejected').length);
    const what = [
      scan.added.length ? `added ${scan.added.map((f) => basename(f)).join(', ')}` : '',
      scan.replaced.length ? `replaced ${scan.replaced.map((f) => basename(f)).join(', ')}` : '',
      scan.removed.length ? `removed ${scan.removed.map((f) => basename(f)).join(', ')}` : '',
    ].filter(Boolean).join('; ');
    log('info', `reload ${generation}: ${what || (scan.changed ? 'reordered' : 'no file changed')}; policies: ${names}`);
  }
}

function counters(record: Record<string, number | undefined>): string {
  return Object.entries(record).filter(([, n]) => n).map(([k, n]) => `${k}=${n}`).join(' ') || '(none)';
}

/** SIGUSR1: the stats, one JSON log line, or a few text lines (totals, latency, per policy, per syscall). */
export function logStatsReport(report: StatsReport, label = ''): void {
  if (logFormat() === 'json') {
    log('info', `${label}stats`, { ...report });
    return;
  }
  const l = report.latency;
  log('info', `${label}stats: ${counters(report.totals)}`);
  log('info', `${label}stats: latency p50 ${l.p50Us} µs, p99 ${l.p99Us} µs, max ${l.maxUs} µs, mean ${l.meanUs} µs over ${l.count} answers`);
  for (const [name, c] of Object.entries(report.byPolicy)) log('info', `${label}stats: policy ${name}: ${counters(c)}`);
  for (const [name, c] of Object.entries(report.bySyscall)) log('info', `${label}stats: syscall ${name}: ${counters(c)}`);
}
