// `wasmsup run`: the control plane of one supervised command. It loads and checks the policies,
// compiles their interest into the filter, starts the workload through the launcher, and hands the
// listener to a data plane (whose worker starts with the first intercepted call). Then it only
// forwards signals, relays logs and waits: for the workload's exit status, and for the listener to
// hang up (the last task using the filter is gone, which may be long after the workload itself if it
// left daemons behind).
//
// Every ES module costs about a millisecond of start-up (Node 20's loader, no compile cache), so
// what only some runs need is imported when it is needed: the policy loader (six modules) when
// there are policies, the audit log with --audit, the reloader and stats printer on their signals.
import { constants as osConstants } from 'node:os';
import { launch } from './launch.js';
import { compileFilter, currentHostArch } from './filter/compile.js';
import { mergeInterests } from './filter/interest.js';
import { describeWorkload, type WorkloadInfo } from './caller/workload.js';
import { native } from './native.js';
import { reapAdopted, remainingProcesses, signalProcesses } from './remaining.js';
import { log } from './log.js';
import { UsageError } from './errors.js';
import { onStatsSignal } from './signals.js';
import { readStats } from './dataplane/stats.js';
import { DataPlane } from './dataplane/control.js';
import type { DefaultAction } from './dataplane/protocol.js';
import type { AuditLog, AuditRing } from './dataplane/audit.js';
import type { PolicyDirectory, PolicyDirectoryOptions } from './policy/directory.js';
import type { PolicyInfo } from './policy/load.js';
import type { PolicyReloader } from './lifecycle.js';
import type { SyscallInterest } from './filter/types.js';
import type { MetricsAddress } from './metrics/address.js';
import type { MetricsSources } from './metrics/sources.js';
import type { MetricsServer } from './metrics/server.js';

export interface RunOptions {
  argv: string[];
  policyFiles: string[];
  /** --policy-config: the configuration file of a --policy file, by policy file. */
  policyConfigs?: ReadonlyMap<string, string>;
  /** --label: what the policies' `identity` answers, as JSON; null: `{}`. */
  identity?: Uint8Array | null;
  userns: boolean;
  usernsRange: { host: number; count: number };
  noNewPrivs: boolean;
  failErrno: number;
  syncWakeUp: boolean;
  /** --default-action: what a call no policy decides gets (continue, fail, kill, freeze). */
  defaultAction?: DefaultAction;
  /** --policies DIR: every *.wasm in it, after the --policy files, in file-name order; rescanned on SIGHUP. */
  policyDirectory?: string | null;
  /** --intercept: syscalls routed to the supervisor from the start, whatever the policies declare. */
  intercept?: string[];
  /** --policy-fuel, --policy-memory (in 64 KiB pages), --max-traps. */
  fuel?: number;
  maximumPages?: number;
  maxTraps?: number;
  /** --max-lend: capabilities an AS_CALLER decision may lend (bits 0..31). */
  maxLend?: number;
  /** --audit FILE: one JSON line per decision. */
  auditFile?: string | null;
  /**
   * SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: once received, a call can be withdrawn only by a fatal
   * signal. Default 'if-available' (docs/reliability.md); true (--wait-killable) requires it; false
   * (--no-wait-killable) goes without.
   */
  waitKillable?: boolean | 'if-available';
  /** --metrics [HOST:]PORT: the Prometheus endpoint (docs/metrics.md). */
  metrics?: MetricsAddress | null;
  /** --kill-on-exit: end what the command leaves running when it exits, instead of serving it until it exits. */
  killOnExit?: boolean;
}

const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGQUIT'] as const;
/** After the command exited: how long what it left running has to end on a signal before SIGKILL. */
const GRACE_MS = 3000;

async function openPolicyDirectory(options: PolicyDirectoryOptions): Promise<PolicyDirectory> {
  const { PolicyDirectory } = await import('./policy/directory.js');
  return new PolicyDirectory(options);
}

export async function run(opts: RunOptions): Promise<number> {
  const directoryOptions: PolicyDirectoryOptions = {
    files: opts.policyFiles,
    directory: opts.policyDirectory ?? null,
    load: { maximumPages: opts.maximumPages, fuel: opts.fuel },
    configFiles: opts.policyConfigs,
    identity: opts.identity ?? null,
  };
  // Without a policy file or directory the set is empty until a SIGHUP finds none either.
  let directory: PolicyDirectory | null = null;
  let policies: PolicyInfo[] = [];
  if (opts.policyFiles.length > 0 || opts.policyDirectory) {
    directory = await openPolicyDirectory(directoryOptions);
    const scan = directory.load();
    // At start a bad file is a usage error: nothing is started (on reload it only keeps its previous version).
    if (scan.errors.length) throw new UsageError(scan.errors.map((e) => `${e.file}: ${e.reason}`).join('\nwasmsup: '));
    policies = scan.policies;
  }
  const intercepted: SyscallInterest[] = (opts.intercept ?? []).map((syscall) => ({ syscall }));
  const installed = mergeInterests([...policies.map((p) => p.interest), intercepted]);
  const filter = compileFilter(installed, { hostArch: currentHostArch() });
  for (const w of filter.warnings) log('warn', w);

  let auditLog: AuditLog | null = null;
  let auditRing: AuditRing | undefined;
  if (opts.auditFile) {
    const audit = await import('./dataplane/audit.js');
    try {
      auditLog = new audit.AuditLog(opts.auditFile);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new UsageError(`--audit ${opts.auditFile}: cannot open for appending (${err.code ?? err.message})`);
    }
    auditRing = audit.newAuditRing();
  }

  // Listening before the workload starts, so that an address in use is a usage error with nothing started.
  let metrics: { sources: MetricsSources; server: MetricsServer } | null = null;
  if (opts.metrics) {
    const [{ MetricsSources }, { serveMetrics }] = await Promise.all([import('./metrics/sources.js'), import('./metrics/server.js')]);
    const sources = new MetricsSources(false);
    try {
      metrics = { sources, server: await serveMetrics(opts.metrics, sources, 'run') };
    } catch (e) {
      auditLog?.close();
      throw new UsageError((e as Error).message);
    }
  }

  // SIGHUP reloads the policies. Caught from here on (its default would kill the supervisor); one
  // arriving before the data plane exists is served as soon as it does.
  let dataPlane: DataPlane | null = null;
  let reloader: Promise<PolicyReloader> | null = null;
  let reloadRequested = false;
  const reload = () => {
    reloader ??= (async () => {
      const { PolicyReloader } = await import('./lifecycle.js');
      directory ??= await openPolicyDirectory(directoryOptions);
      return new PolicyReloader({
        directory, installed, dataPlanes: () => [dataPlane!], routeHint: 'declare them at start with --intercept',
        onReload: (failed) => metrics?.sources.reloaded(failed),
      });
    })();
    void reloader.then((r) => r.request());
  };
  const onHangupSignal = () => {
    if (dataPlane) reload();
    else reloadRequested = true;
  };
  process.on('SIGHUP', onHangupSignal);

  // Emulations run in a separate single-threaded helper (see docs/architecture.md). Without root in
  // the initial namespace it could not do them, so it is not started and emulations answer EPERM.
  const privileged = process.getuid?.() === 0;
  if (!privileged) log('debug', 'not root: emulation primitives are unavailable, deny/return/continue policies still work');

  // The command's orphans become this process's children, so that what it leaves running can be
  // found, reported and ended (src/remaining.ts).
  try { native.setChildSubreaper(); } catch (e) { log('debug', `not a child subreaper: ${(e as Error).message}`); }

  const { host, count } = opts.usernsRange;
  let launched;
  try {
    launched = await launch({
      argv: opts.argv,
      filter: filter.program,
      userns: opts.userns ? { uidMap: `0 ${host} ${count}\n`, gidMap: `0 ${host} ${count}\n` } : undefined,
      noNewPrivs: opts.noNewPrivs,
      waitKillable: opts.waitKillable ?? 'if-available',
    });
  } catch (e) {
    auditLog?.close();
    metrics?.server.close();
    process.off('SIGHUP', onHangupSignal);
    throw e;
  }
  const { child, listenerFd } = launched;
  // The workload's first process, its start time and cgroups, for the emulations that answer "as the
  // workload's machine" (sysinfo) or stay inside its cgroup subtree (bpf). It may already be gone.
  let workload: WorkloadInfo | null = null;
  try {
    workload = describeWorkload(launched.pid, launched.usernsInode);
  } catch (e) {
    log('debug', `cannot record the workload (pid ${launched.pid}): ${(e as Error).message}`);
  }

  // The data plane's worker and helper start when the first intercepted call is pending, not before
  // (src/dataplane/control.ts): a workload that makes none never pays for them.
  dataPlane = new DataPlane({
    listenerFd,
    workloadUsernsInode: launched.usernsInode,
    workload,
    policies,
    privilegedHelper: privileged,
    failErrno: opts.failErrno,
    defaultAction: opts.defaultAction,
    syncWakeUp: opts.syncWakeUp,
    maxTraps: opts.maxTraps,
    maxLend: opts.maxLend,
    audit: auditRing,
  });
  const stats = dataPlane.stats;
  metrics?.sources.add(dataPlane);
  if (auditLog && auditRing) auditLog.attach(auditRing, () => dataPlane!.policyNames);
  if (reloadRequested) reload();
  const workloadExit = launched.exited.then(({ code, signal }) => code ?? 128 + (signal ? osConstants.signals[signal] : 0));

  const forward = (signal: NodeJS.Signals) => {
    try { process.kill(child.pid!, signal); } catch { /* already gone */ }
  };
  const printStats = () => {
    const report = dataPlane!.report();
    void import('./lifecycle.js').then(({ logStatsReport }) => logStatsReport(report));
  };
  for (const s of FORWARDED_SIGNALS) process.on(s, forward);
  const stopStats = onStatsSignal(printStats);
  const spawned = new Set([launched.pid]);
  const reap = () => reapAdopted(spawned);
  process.on('SIGCHLD', reap);
  reap();

  const status = await workloadExit;
  for (const s of FORWARDED_SIGNALS) process.off(s, forward);
  // The filter may still have users: what the command left running (daemons, background jobs). They
  // stay supervised until they exit; say so, and let a signal end them as it would have the command.
  dataPlane.finishIfHungUp();
  // A listener that hung up has no task left using the filter, so nothing of the workload's remains:
  // no walk of /proc (1.5–5 ms, on every run's way out while the worker has yet to notice the hang-up).
  const leftover = dataPlane.isFinished || (native.pollListener(listenerFd, -1, 0) & 2) !== 0 ? [] : remainingProcesses(workload);
  let endRemaining: ((signal: NodeJS.Signals) => void) | null = null;
  let sweep: NodeJS.Timeout | null = null;
  if (leftover.length > 0) {
    const end = (signal: NodeJS.Signals, why: string) => {
      const reached = new Set<number>();
      // A kill rescans: each round stops, then kills, what the last one had not seen (forks).
      for (let round = 0; round < (signal === 'SIGKILL' ? 16 : 1); round++) {
        const pids = remainingProcesses(workload).filter((pid) => !reached.has(pid));
        if (pids.length === 0) break;
        for (const pid of signalProcesses(pids, signal)) reached.add(pid);
      }
      if (reached.size > 0 || signal !== 'SIGKILL') log('info', `${why}: ${signal} to ${reached.size} remaining process(es)`);
    };
    if (opts.killOnExit) {
      end('SIGKILL', '--kill-on-exit');
    } else {
      log('info', `the command exited (status ${status}); ${leftover.length} process(es) it started still run, supervised: waiting for them to exit (Ctrl-C or SIGTERM passes that signal on and kills them ${GRACE_MS / 1000} s later; --kill-on-exit ends them when the command exits)`);
      // The first signal is passed on as it is (a background job of a script ignores SIGINT, as it would
      // have under the command); what still runs GRACE_MS later, or at a second signal, is killed.
      let signals = 0;
      endRemaining = (signal) => {
        if (signals++ > 0) { end('SIGKILL', `a second ${signal}`); return; }
        end(signal, `${signal} after the command exited`);
        setTimeout(() => end('SIGKILL', `still running ${GRACE_MS / 1000} s after ${signal}`), GRACE_MS).unref();
      };
      for (const s of FORWARDED_SIGNALS) process.on(s, endRemaining);
    }
    sweep = setInterval(reap, 1000);
  }
  dataPlane.finishIfHungUp();
  await dataPlane.finished;
  if (sweep) clearInterval(sweep);
  process.off('SIGCHLD', reap);
  if (endRemaining) for (const s of FORWARDED_SIGNALS) process.off(s, endRemaining);
  stopStats();
  process.off('SIGHUP', onHangupSignal);
  auditLog?.close();
  metrics?.server.close();
  log('debug', 'workload finished', { status, ...readStats(stats) });
  return status;
}
