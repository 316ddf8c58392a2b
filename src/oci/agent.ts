// `wasmsup agent`: the seccomp agent of OCI runtimes (runc, crun). A runtime started with a config whose
// linux.seccomp.listenerPath is our socket connects once per container and sends the container process
// state with the container's seccomp listener; each container then gets its own data plane (its own
// policy instances, primitives and counters) on one of a fixed set of shared data-plane threads
// (src/dataplane/threads.ts: one per CPU up to 4, or --dataplane-threads; each with one privileged helper),
// released when its listener hangs up. The main thread is the control plane: it adopts containers, reloads policies on SIGHUP,
// prints stats on SIGUSR1, and on SIGUSR2 hands every container to a freshly started agent process
// (an upgrade that drops nothing).
import { spawn, type ChildProcess } from 'node:child_process';
import { readlinkSync, statSync, unlinkSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { isErrno, native } from '../native.js';
import { log, type LogLevel } from '../log.js';
import { onStatsSignal } from '../signals.js';
import type { PolicyInfo } from '../policy/load.js';
import { PolicyLoadError, UsageError } from '../errors.js';
import { DataPlane } from '../dataplane/control.js';
import { DataPlaneThreads } from '../dataplane/threads.js';
import { readStats } from '../dataplane/stats.js';
import { HELPER_TIMEOUT_MS } from '../emulate/helper-client.js';
import { PolicyDirectory } from '../policy/directory.js';
import { PolicyReloader, logStatsReport } from '../lifecycle.js';
import { mergeInterests } from '../filter/interest.js';
import { AuditLog, newAuditRing, type AuditRing } from '../dataplane/audit.js';
import type { MetricsAddress } from '../metrics/address.js';
import type { MetricsSources } from '../metrics/sources.js';
import type { MetricsServer } from '../metrics/server.js';
import { selectPolicies } from './policy-dir.js';
import { configureForContainer } from './container-config.js';
import { containerDefaultAction, parseContainerState, requestedPolicies, StateError } from './state.js';
import type { DefaultAction } from '../dataplane/protocol.js';
import { IdentityError, resolveListener } from './identity.js';
import { bindSocket, releaseSocket, type BoundSocket } from './socket.js';
import { takeEarlySocket } from './early.js';
import {
  HANDOVER_ENV, HANDOVER_VERSION, type AcceptWorkerConfig, type AcceptWorkerMessage, type HandedContainer, type Handover,
} from './protocol.js';

export interface AgentOptions {
  socketPath: string;
  /** The socket, when bound before the agent was loaded (src/oci/early.ts). */
  socket?: BoundSocket | null;
  policyDir: string;
  failErrno: number;
  /** --default-action: for containers that do not choose their own (io.wasmsup.default-action). */
  defaultAction?: DefaultAction;
  syncWakeUp: boolean;
  /** --policy-fuel, --policy-memory (in 64 KiB pages), --max-traps, as for `run`; undefined = the default. */
  fuel?: number;
  maximumPages?: number;
  maxTraps?: number;
  /** --max-lend: capabilities an AS_CALLER decision may lend (bits 0..31). */
  maxLend?: number;
  /** --audit FILE: one JSON line per decision, with the container's id (docs/oci.md). */
  auditFile?: string | null;
  /** --metrics [HOST:]PORT: the Prometheus endpoint (docs/metrics.md). */
  metrics?: MetricsAddress | null;
  /** --pass-annotation: the annotations a container's policies see in their identity (exact, or PREFIX*). */
  passAnnotations?: readonly string[];
  /** --container-config: the policies a container may configure for itself; null = all of them. */
  containerConfig?: readonly string[] | null;
  /** --dataplane-threads: the most data-plane threads the containers share (default: one per CPU, at most 4). */
  dataPlaneThreads?: number;
}

/** What the agent knows of a container; also what a successor is told about it. */
type ContainerInfo = Omit<HandedContainer, 'fd'>;

interface Container {
  info: ContainerInfo;
  listenerFd: number;
  dataPlane: DataPlane;
}

const STATE_READ_TIMEOUT_MS = 5000;
const STATE_MAX_BYTES = 1 << 20;
/** How long a successor may take to load its policies and check what it inherited. */
const HANDOVER_TIMEOUT_MS = 30_000;
/**
 * How long a container's data plane may take to stop between two notifications for a hand-over:
 * longer than one emulation can take (its exchange with the helper is bounded by HELPER_TIMEOUT_MS).
 */
const DETACH_TIMEOUT_MS = HELPER_TIMEOUT_MS + 5_000;
const SECCOMP_LISTENER_LINK = 'anon_inode:seccomp notify';
/** Audit records per container between two drains (200 ms): 256 KiB of shared memory each. */
const AUDIT_RING_RECORDS = 2048;
/** How long a successor keeps trying the metrics port its predecessor still holds. */
const METRICS_RETRY_MS = 60_000;

function closeQuietly(fd: number): void {
  try { native.close(fd); } catch { /* already closed */ }
}

function isSeccompListener(fd: number): boolean {
  try { return readlinkSync(`/proc/self/fd/${fd}`) === SECCOMP_LISTENER_LINK; } catch { return false; }
}

/** Tells systemd (Type=notify) something, when it is listening; never fails the agent. */
function sdNotify(text: string): void {
  const path = process.env.NOTIFY_SOCKET;
  if (!path) return;
  try { native.unixSendDatagram(path, Buffer.from(text)); }
  catch (e) { log('warn', `sd_notify ${text.replace(/\n/g, ' ')}: ${(e as Error).message}`); }
}

/** Reads and checks the hand-over a predecessor left in the environment, and takes its fds. */
function takeHandover(text: string): Handover {
  let h: Handover;
  try {
    h = JSON.parse(text) as Handover;
  } catch (e) {
    throw new Error(`${HANDOVER_ENV}: not JSON: ${(e as Error).message}`);
  }
  if (h?.version !== HANDOVER_VERSION || !Array.isArray(h.containers)) throw new Error(`${HANDOVER_ENV}: not a version ${HANDOVER_VERSION} hand-over`);
  // Inherited fds lost O_CLOEXEC in the exec; the helpers this agent starts must not hold them.
  for (const fd of [h.confirmFd, h.socketFd, ...h.containers.map((c) => c.fd)]) native.setCloexec(fd, true);
  for (const c of h.containers) {
    if (!isSeccompListener(c.fd)) throw new Error(`${HANDOVER_ENV}: fd ${c.fd} of container ${c.id} is not a seccomp listener`);
  }
  return h;
}

export class Agent {
  private readonly directory: PolicyDirectory;
  private readonly reloader: PolicyReloader;
  private readonly byDataPlane = new Map<DataPlane, Container>();
  private socketFd = -1;
  private socketIno = 0;
  private readonly containers = new Set<Container>();
  private acceptWorker: { worker: Worker; wakeFd: number; stopped: Promise<void> } | null = null;
  private busy = false; // a hand-over or shutdown is under way
  /** Data planes a failed hand-over left still stopping (see handOver): none may be handed over twice. */
  private stillStopping = 0;
  private resolveExit!: (code: number) => void;
  private hasExited = false;
  /** Settles with the agent's exit status once it stopped or handed over. */
  readonly exited = new Promise<number>((resolve) => { this.resolveExit = (code) => { this.hasExited = true; resolve(code); }; });
  private readonly privileged = process.getuid?.() === 0;
  /** The threads every container's data plane runs on (started with the first container). */
  private readonly threads: DataPlaneThreads;
  private readonly signalHandlers: [NodeJS.Signals, () => void][] = [
    ['SIGHUP', () => this.reload()],
    ['SIGUSR2', () => void this.handOverCounted()],
    ['SIGTERM', () => void this.shutdown('SIGTERM')],
    ['SIGINT', () => void this.shutdown('SIGINT')],
  ];
  private stopStatsSignal: (() => void) | null = null;
  // --audit and --metrics: observers of the data planes, fed in serve() and when a container is released.
  private readonly auditLog: AuditLog | null = null;
  private readonly auditRings = new Map<DataPlane, AuditRing>();
  private metrics: { sources: MetricsSources; server: MetricsServer | null; closed: boolean } | null = null;

  constructor(private readonly opts: AgentOptions) {
    this.threads = new DataPlaneThreads({ threads: opts.dataPlaneThreads, privilegedHelper: this.privileged, syncWakeUp: opts.syncWakeUp });
    this.directory = new PolicyDirectory({ directory: opts.policyDir, load: { maximumPages: opts.maximumPages, fuel: opts.fuel } });
    const scan = this.directory.load();
    // At start a bad file is a usage error; on SIGHUP it only keeps its previous version.
    if (scan.errors.length) throw new UsageError(scan.errors.map((e) => `${e.file}: ${e.reason}`).join('\nwasmsup: '));
    this.reloader = new PolicyReloader({
      directory: this.directory,
      // What `wasmsup oci-config` printed for this directory, if the containers' configs are current.
      installed: mergeInterests(scan.policies.map((p) => p.interest)),
      dataPlanes: () => [...this.byDataPlane.keys()],
      routeHint: 'regenerate the containers\' seccomp profile with `wasmsup oci-config`',
      onReload: (failed) => this.metrics?.sources.reloaded(failed),
      select: (dataPlane, policies) => {
        const c = this.byDataPlane.get(dataPlane);
        if (!c) return [];
        const selection = this.selectionFor(c.info, policies);
        if (selection.unknown.length) this.logSelection(`reload: ${this.label(c.info)}`, selection, policies);
        // Throws when the new set refuses the container's own configuration: it keeps its previous set.
        return configureForContainer(selection.policies, c.info, this.opts.passAnnotations ?? [], this.opts.containerConfig ?? null);
      },
    });
    if (scan.policies.length === 0) log('warn', `--policies ${opts.policyDir}: no *.wasm policies; containers get answers from none`);
    if (opts.auditFile) {
      try {
        this.auditLog = new AuditLog(opts.auditFile);
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        throw new UsageError(`--audit ${opts.auditFile}: cannot open for appending (${err.code ?? err.message})`);
      }
    }
  }

  /** Binds (or inherits) the socket, adopts handed-over containers and starts serving. */
  async start(): Promise<void> {
    // Every handler before this pid is announced (MAINPID=, in either branch): from then on systemd
    // sends `reload` (SIGHUP) and the operator's stats signal here, and a default action would kill the
    // agent that every container depends on.
    for (const [signal, handler] of this.signalHandlers) process.on(signal, handler);
    this.stopStatsSignal = onStatsSignal(() => this.printStats());
    const handoverText = process.env[HANDOVER_ENV];
    if (this.opts.metrics) await this.startMetrics(this.opts.metrics, handoverText !== undefined);
    if (handoverText === undefined) {
      ({ fd: this.socketFd, ino: this.socketIno } = this.opts.socket ?? bindSocket(this.opts.socketPath));
    } else {
      delete process.env[HANDOVER_ENV];
      const handover = takeHandover(handoverText);
      this.socketFd = handover.socketFd;
      this.socketIno = handover.socketIno;
      // A SIGUSR2 or SIGTERM before the containers are served would act on none of them.
      this.busy = true;
      try { await this.completeHandover(handover); } finally { this.busy = false; }
      this.metrics?.sources.handedOver('taken_over');
    }
    this.startAccepting();
    sdNotify(`READY=1\nMAINPID=${process.pid}`);
    log('info', `agent serving on ${this.opts.socketPath} (pid ${process.pid})`, { policies: this.policyNames(this.directory.policies) });
  }

  /**
   * The successor's side: policies loaded and fds checked, it says "ready" and then waits for its
   * predecessor to exit (end of stream on confirmFd) before serving anything. So if it fails or is
   * too slow before that point, the predecessor, which still holds every listener, takes over again
   * knowing that no notification was received by anyone else — none can be left unanswered.
   */
  private async completeHandover(h: Handover): Promise<void> {
    sdNotify(`MAINPID=${process.pid}`);
    native.sendMessage(h.confirmFd, Buffer.from('ready'));
    const wait = new Uint8Array(16);
    for (;;) {
      let got;
      try { got = native.recvMessage(h.confirmFd, wait, 0); } catch (e) { if (!isErrno(e, 'ETIMEDOUT')) throw e; }
      if (got === null) break;
      if (got) for (const fd of got.fds) closeQuietly(fd);
      await new Promise((r) => setTimeout(r, 10));
    }
    native.close(h.confirmFd);
    for (const c of h.containers) {
      const { fd, ...info } = c;
      this.serve(info, fd);
    }
    log('info', `took over ${h.containers.length} container(s) from the previous agent`);
  }

  private policyNames(list: readonly PolicyInfo[]): string {
    return list.length ? list.map((p) => p.name).join(',') : '(none)';
  }

  private startAccepting(): void {
    const wakeFd = native.eventfd();
    const config: AcceptWorkerConfig = { socketFd: this.socketFd, wakeFd, readTimeoutMs: STATE_READ_TIMEOUT_MS, maxBytes: STATE_MAX_BYTES };
    const worker = new Worker(new URL('./accept-worker.js', import.meta.url), { workerData: config });
    const stopped = new Promise<void>((resolve) => {
      worker.on('message', (m: AcceptWorkerMessage) => {
        if (m.type === 'state') this.adopt(m.text, m.fds);
        else if (m.type === 'log') log(m.level as LogLevel, m.message);
        else resolve();
      });
      worker.on('error', (e) => {
        log('error', `accept loop failed: ${e.message}; no new containers are accepted`);
        resolve();
      });
      worker.on('exit', () => resolve());
    });
    this.acceptWorker = { worker, wakeFd, stopped };
  }

  private async stopAccepting(): Promise<void> {
    const a = this.acceptWorker;
    if (!a) return;
    this.acceptWorker = null;
    a.worker.postMessage({ type: 'stop' });
    native.eventfdWrite(a.wakeFd, 1);
    await a.stopped;
    await a.worker.terminate();
    native.close(a.wakeFd);
  }

  /** A state from the accept loop: checked, and its listener served, or logged and dropped. */
  private adopt(text: string, fds: number[]): void {
    const drop = (why: string) => {
      log('warn', `dropped a container state: ${why}`);
      for (const fd of fds) closeQuietly(fd);
    };
    let state;
    try {
      state = parseContainerState(text);
    } catch (e) {
      if (e instanceof StateError) return drop(e.message);
      throw e;
    }
    try {
      containerDefaultAction(state);
    } catch (e) {
      if (e instanceof StateError) return drop(`container ${state.id}: ${e.message}`);
      throw e;
    }
    if (fds.length !== state.fdCount) return drop(`container ${state.id}: "fds" names ${state.fdCount} fd(s) but ${fds.length} came with it`);
    const listenerFd = fds[state.seccompFdIndex]!;
    if (!isSeccompListener(listenerFd)) return drop(`container ${state.id}: its "seccompFd" is not a seccomp listener`);
    // Only the listener is kept; the runtime may send others (named in "fds") this agent has no use for.
    for (const fd of fds) if (fd !== listenerFd) closeQuietly(fd);
    let identity;
    try {
      const recorded = [...this.containers].filter((c) => c.info.id === state.id && c.info.workload).map((c) => c.info.workload!);
      identity = resolveListener(state, recorded);
    } catch (e) {
      if (!(e instanceof IdentityError)) throw e;
      closeQuietly(listenerFd);
      log('warn', `dropped container ${state.id}: ${e.message}`);
      return;
    }
    if (this.busy) {
      // Accepted just before the accept loop stopped for a hand-over or shutdown: served like the
      // others, so a hand-over takes it along.
      log('debug', `container ${state.id} arrived during a hand-over`);
    }
    if (identity.note) log(identity.workload ? 'info' : 'warn', `container ${state.id}${identity.role === 'exec' ? ' exec' : ''} (pid ${identity.pid}): ${identity.note}`);
    this.serve({
      id: state.id, pid: identity.pid, role: identity.role, usernsInode: identity.usernsInode, workload: identity.workload,
      metadata: state.metadata, annotations: state.annotations,
    }, listenerFd);
  }

  /** The container's selection from `all`; `unknown` names what it asked for that `all` does not have. */
  private selectionFor(info: ContainerInfo, all: readonly PolicyInfo[] = this.directory.policies): { policies: PolicyInfo[]; unknown: string[]; source: string } {
    const { names, source } = requestedPolicies(info);
    return { ...selectPolicies(all, names), source };
  }

  /**
   * The one line that says what a container is served with: its policies, and when its selection
   * names policies the directory does not have, which, and what it has instead — a typo or a list
   * the runtime mangled must not pass for "no policies wanted".
   */
  private logSelection(prefix: string, selection: { policies: PolicyInfo[]; unknown: string[]; source: string }, all: readonly PolicyInfo[]): void {
    const fields: Record<string, unknown> = { policies: this.policyNames(selection.policies) };
    if (selection.unknown.length === 0) return log('info', `${prefix}: serving`, fields);
    fields.unknown = selection.unknown.join(',');
    log(selection.policies.length ? 'warn' : 'error',
      `${prefix}: serving ${selection.policies.length ? 'only the known policies' : 'NO policy'}: ${selection.source} names policies this agent does not have (it has: ${this.policyNames(all)})`, fields);
  }

  /** The container's own default action, else the agent's; validated when the container arrived. */
  private defaultActionFor(info: ContainerInfo): DefaultAction | undefined {
    try {
      return containerDefaultAction(info) ?? this.opts.defaultAction;
    } catch (e) {
      if (!(e instanceof StateError)) throw e;
      // Handed over by an agent that did not know the setting: its containers keep this agent's.
      log('warn', `container ${info.id}: ${e.message}; using ${this.opts.defaultAction ?? 'continue'}`);
      return this.opts.defaultAction;
    }
  }

  private label(info: ContainerInfo): string {
    return `container ${info.id}${info.role === 'exec' ? ' exec' : ''} (pid ${info.pid})`;
  }

  private serve(info: ContainerInfo, listenerFd: number): Container | null {
    const selection = this.selectionFor(info);
    let policies;
    try {
      policies = configureForContainer(selection.policies, info, this.opts.passAnnotations ?? [], this.opts.containerConfig ?? null);
    } catch (e) {
      if (!(e instanceof PolicyLoadError)) throw e;
      // Served with another configuration than its own, or without the policy, it would get what it
      // did not ask for: its intercepted calls fail (ENOSYS) instead, and the reason is logged.
      closeQuietly(listenerFd);
      log('error', `${this.label(info)}: not served: ${e.message}`);
      return null;
    }
    const auditRing = this.auditLog ? newAuditRing(AUDIT_RING_RECORDS) : undefined;
    // What its log lines call it: an exec'd process by its pid too, a container's first process by its id.
    const name = info.role === 'exec' ? this.label(info) : `container ${info.id}`;
    let dataPlane;
    try {
      // Served at once by one of the shared threads, its policies instantiated there (src/dataplane/threads.ts).
      dataPlane = new DataPlane({
        threads: this.threads,
        listenerFd,
        policies,
        workload: info.workload,
        workloadUsernsInode: info.usernsInode,
        privilegedHelper: this.privileged,
        failErrno: this.opts.failErrno,
        defaultAction: this.defaultActionFor(info),
        maxTraps: this.opts.maxTraps,
        maxLend: this.opts.maxLend,
        syncWakeUp: this.opts.syncWakeUp,
        label: name,
        audit: auditRing,
      });
    } catch (e) {
      closeQuietly(listenerFd);
      log('error', `container ${info.id}: cannot start its data plane: ${(e as Error).message}`);
      return null;
    }
    const container: Container = { info, listenerFd, dataPlane };
    this.containers.add(container);
    this.byDataPlane.set(dataPlane, container);
    this.observe(dataPlane, info.id, auditRing);
    void dataPlane.finished.then((reason) => {
      this.unobserve(dataPlane);
      this.containers.delete(container);
      this.byDataPlane.delete(dataPlane);
      if (reason !== 'stopped') log('info', `${name}: released (${reason === 'hangup' ? 'no task uses its filter any more' : 'its data plane failed'})`, readStats(dataPlane.stats));
    });
    this.logSelection(this.label(info), selection, this.directory.policies);
    return container;
  }

  /**
   * --metrics: the counters' bookkeeping at once, and the endpoint. A fresh agent listens before its
   * socket exists (an address in use is a usage error, nothing served yet); a successor keeps trying
   * while its predecessor still holds the port, and serves its containers meanwhile regardless.
   */
  private async startMetrics(address: MetricsAddress, successor: boolean): Promise<void> {
    const [{ MetricsSources }, { serveMetrics }] = await Promise.all([import('../metrics/sources.js'), import('../metrics/server.js')]);
    const metrics = this.metrics = { sources: new MetricsSources(true), server: null as MetricsServer | null, closed: false };
    const listening = serveMetrics(address, metrics.sources, 'agent', successor ? METRICS_RETRY_MS : 0).then((server) => {
      if (metrics.closed) server.close();
      else metrics.server = server;
    });
    if (!successor) {
      try { await listening; } catch (e) { throw new UsageError((e as Error).message); }
    } else {
      listening.catch((e: Error) => log('error', `${e.message}; serving the containers without metrics`));
    }
  }

  /** A new data plane, for --metrics and --audit. */
  private observe(dataPlane: DataPlane, id: string, auditRing: AuditRing | undefined): void {
    this.metrics?.sources.add(dataPlane, id);
    if (auditRing && this.auditLog) {
      this.auditRings.set(dataPlane, auditRing);
      this.auditLog.attach(auditRing, () => dataPlane.policyNames, { container: id });
    }
  }

  /** Its last audit records written, its final counts kept. */
  private unobserve(dataPlane: DataPlane): void {
    this.metrics?.sources.release(dataPlane);
    const ring = this.auditRings.get(dataPlane);
    if (ring) {
      this.auditRings.delete(dataPlane);
      this.auditLog?.detach(ring);
    }
  }

  /** After the agent stopped or handed over: the endpoint closed, the audit log's last lines written. */
  closeObservers(): void {
    if (this.metrics) {
      this.metrics.closed = true;
      this.metrics.server?.close();
    }
    this.auditLog?.close();
  }

  /** SIGUSR2, counted for --metrics when it fails (a successful one ends this process). */
  private async handOverCounted(): Promise<void> {
    const wasBusy = this.busy;
    await this.handOver();
    if (!wasBusy && !this.hasExited) this.metrics?.sources.handedOver('failed');
  }

  private reload(): void {
    if (this.busy) return log('warn', 'SIGHUP ignored: a hand-over or shutdown is under way');
    void this.reloader.request();
  }

  private printStats(): void {
    log('info', `${this.containers.size} container(s)`);
    for (const c of this.containers) logStatsReport(c.dataPlane.report(), `container ${c.info.id}: `);
  }

  /**
   * SIGUSR2: hands the socket and every container to a new agent process started from the same
   * command line (so an upgraded installation takes over). Each data plane stops after the
   * notification in hand — answered — and keeps its listener; calls trapped meanwhile wait in the
   * kernel. If the successor does not confirm, this agent serves everything again.
   *
   * Each detach is bounded (DETACH_TIMEOUT_MS), so one wedged container cannot stall the upgrade of
   * the others. A container whose data plane has not stopped in time is not handed over: it stays
   * with this agent, which serves it again once its data plane has stopped, and exits only when it
   * has been released (no task uses its filter any more); its calls are never left unanswered.
   */
  private async handOver(): Promise<void> {
    if (this.busy) return log('warn', 'SIGUSR2 ignored: a hand-over or shutdown is under way');
    if (this.stillStopping) return log('warn', `SIGUSR2 ignored: ${this.stillStopping} data plane(s) of the last hand-over have not stopped yet`);
    this.busy = true;
    log('info', 'handing over to a new agent process');
    await this.stopAccepting();
    const all = [...this.containers];
    const detaching = all.map((c) => c.dataPlane.detach());
    const outcomes = await Promise.all(detaching.map((d) => this.within(d, DETACH_TIMEOUT_MS)));
    const kept = all.filter((_, i) => outcomes[i] === true);
    const late = all.flatMap((c, i) => (outcomes[i] === 'late' ? [{ c, detached: detaching[i]! }] : []));
    for (const { c } of late) {
      log('error', `container ${c.info.id}: its data plane did not stop within ${DETACH_TIMEOUT_MS} ms (a call still in hand); not handed over: this agent keeps serving it`);
    }
    // Served here again as soon as each has stopped; `released` settles when none is served any more.
    this.stillStopping += late.length;
    const released = Promise.all(late.map(async ({ c, detached }) => {
      const back = await detached;
      this.stillStopping--;
      if (back) await this.serve(c.info, c.listenerFd)?.dataPlane.finished;
    }));

    const [ours, theirs] = native.socketpair();
    const handover: Handover = {
      version: HANDOVER_VERSION, confirmFd: 3, socketFd: 4, socketIno: this.socketIno,
      containers: kept.map((c, i) => ({ fd: 5 + i, ...c.info })),
    };
    let child: ChildProcess | null = null;
    let failure: string | null = null;
    try {
      child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
        stdio: ['inherit', 'inherit', 'inherit', theirs, this.socketFd, ...kept.map((c) => c.listenerFd)],
        env: { ...process.env, [HANDOVER_ENV]: JSON.stringify(handover) },
      });
      child.on('error', (e) => log('error', `cannot start the new agent: ${e.message}`));
    } catch (e) {
      failure = `cannot start the new agent: ${(e as Error).message}`;
    } finally {
      native.close(theirs);
    }
    if (child && failure === null) failure = await this.awaitReady(ours);
    native.close(ours); // the successor's signal to start serving, or to give up
    if (failure === null) {
      log('info', `handed over ${kept.length} container(s) to pid ${child!.pid}; exiting${late.length ? ` once the ${late.length} container(s) kept here are released` : ''}`);
      child!.unref();
      for (const c of kept) closeQuietly(c.listenerFd);
      native.close(this.socketFd);
      await released;
      return this.exit(0);
    }
    log('error', `hand-over failed: ${failure}; this agent goes on serving`);
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
    }
    for (const c of kept) this.serve(c.info, c.listenerFd);
    this.startAccepting();
    this.busy = false;
  }

  /** What `p` settled with within `ms`, else 'late' (`p` goes on). */
  private within<T>(p: Promise<T>, ms: number): Promise<T | 'late'> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), ms); });
    return Promise.race([p, late]).finally(() => clearTimeout(timer));
  }

  /** null once the successor said "ready"; else why not (it exited, said something else, or took too long). */
  private async awaitReady(fd: number): Promise<string | null> {
    const buf = new Uint8Array(64);
    const deadline = Date.now() + HANDOVER_TIMEOUT_MS;
    while (Date.now() < deadline) {
      let got;
      try {
        got = native.recvMessage(fd, buf, 0);
      } catch (e) {
        if (!isErrno(e, 'ETIMEDOUT')) return (e as Error).message;
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      if (got === null) return 'the new agent exited before it was ready';
      for (const f of got.fds) closeQuietly(f);
      const text = Buffer.from(buf.subarray(0, got.bytes)).toString();
      return text === 'ready' ? null : `the new agent said "${text}"`;
    }
    return `the new agent was not ready within ${HANDOVER_TIMEOUT_MS} ms`;
  }

  /**
   * SIGTERM/SIGINT: stops serving. The containers' listeners are closed with the data planes, so from
   * then on the kernel fails their intercepted calls with ENOSYS (use SIGUSR2 to upgrade instead).
   */
  private async shutdown(signal: string): Promise<void> {
    if (this.busy) return log('warn', `${signal} ignored: a hand-over or shutdown is under way`);
    this.busy = true;
    await this.stopAccepting();
    if (this.containers.size) log('warn', `${signal}: stopping; the intercepted calls of ${this.containers.size} container(s) now fail with ENOSYS`);
    // Bounded like a hand-over's detach: a worker held in a call that does not end (a workload's FUSE
    // server that never answers the emulation's lookup) must not keep the agent from stopping.
    const all = [...this.containers];
    const outcomes = await Promise.all(all.map((c) => this.within(c.dataPlane.stop(), DETACH_TIMEOUT_MS)));
    const late = all.filter((_, i) => outcomes[i] === 'late');
    for (const c of late) log('error', `container ${c.info.id}: its data plane did not stop within ${DETACH_TIMEOUT_MS} ms; stopping anyway`);
    native.close(this.socketFd);
    try {
      if (statSync(this.opts.socketPath).ino === this.socketIno) unlinkSync(this.opts.socketPath);
    } catch { /* already gone */ }
    this.exit(0);
    // A worker thread still blocked in a system call would keep this process alive (Node waits for
    // its threads): the process ends here, and with it that container's listener.
    if (late.length) {
      this.closeObservers();
      process.exit(0);
    }
  }

  private exit(code: number): void {
    // Every container was handed over, stopped or released: the threads serve none any more.
    void this.threads.close();
    for (const [signal, handler] of this.signalHandlers) process.off(signal, handler);
    this.stopStatsSignal?.();
    this.resolveExit(code);
  }
}

export async function runAgent(opts: AgentOptions): Promise<number> {
  // A socket that could not be bound fails the start before the policies are loaded, as it always did.
  let socket: BoundSocket | null;
  try { socket = takeEarlySocket(opts.socketPath); } catch (e) { throw e instanceof UsageError ? e : new UsageError(`--socket ${opts.socketPath}: ${(e as Error).message}`); }
  let agent;
  try {
    agent = new Agent({ ...opts, socket });
  } catch (e) {
    if (socket) releaseSocket(opts.socketPath, socket);
    throw e;
  }
  try {
    await agent.start();
  } catch (e) {
    // E.g. --metrics on a port in use: nothing was served, and no socket is left behind.
    agent.closeObservers();
    if (socket) releaseSocket(opts.socketPath, socket);
    throw e;
  }
  const code = await agent.exited;
  agent.closeObservers();
  return code;
}
