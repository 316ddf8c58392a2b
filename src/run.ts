// `wasmsup run`: the control plane of one supervised command. It loads and checks the policies,
// compiles their interest into the filter, starts the workload through the launcher, and hands the
// listener to a data-plane worker. Then it only forwards signals, relays logs and waits: for the
// workload's exit status, and for the listener to hang up (the last task using the filter is gone,
// which may be long after the workload itself if it left daemons behind).
import { constants as osConstants } from 'node:os';
import { native } from './native.js';
import { launch } from './launch.js';
import { loadPolicy, type PolicyInfo } from './policy/load.js';
import { instantiatePolicy, type HostContext } from './policy/instance.js';
import { compileFilter } from './filter/compile.js';
import { mergeInterests } from './filter/interest.js';
import { PrivilegedHelper } from './emulate/helper-client.js';
import { log } from './log.js';
import { readStats } from './dataplane/stats.js';
import { DataPlane } from './dataplane/control.js';

export interface RunOptions {
  argv: string[];
  policyFiles: string[];
  userns: boolean;
  usernsRange: { host: number; count: number };
  noNewPrivs: boolean;
  failErrno: number;
  syncWakeUp: boolean;
}

/** A failure before anything was started: the CLI prints it as one line and exits 2. */
export class UsageError extends Error {}

const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGQUIT'] as const;

/** Loads every policy and makes sure it instantiates, before anything is started. */
export function loadPolicies(files: string[]): PolicyInfo[] {
  const inert: HostContext = { readMemory: () => -1, readString: () => -1, callerCreds: () => -1, log: () => {} };
  return files.map((file) => {
    const info = loadPolicy(file);
    try {
      instantiatePolicy(info, inert);
    } catch (e) {
      throw new UsageError(`${file}: cannot instantiate: ${(e as Error).message}`);
    }
    return info;
  });
}

export async function run(opts: RunOptions): Promise<number> {
  const policies = loadPolicies(opts.policyFiles);
  const hostArch = process.arch === 'arm64' ? 'aarch64' : 'x86_64';
  const filter = compileFilter(mergeInterests(policies.map((p) => p.interest)), { hostArch });
  for (const w of filter.warnings) log('warn', w);

  // Emulations run in a separate single-threaded helper (see docs/architecture.md). Without root in
  // the initial namespace it could not do them, so it is not started and emulations answer EPERM.
  const privileged = process.getuid?.() === 0;
  const helperHandle = privileged ? PrivilegedHelper.start() : null;
  if (!privileged) log('debug', 'not root: emulation primitives are unavailable, deny/return/continue policies still work');

  const { host, count } = opts.usernsRange;
  let launched;
  try {
    launched = await launch({
      argv: opts.argv,
      filter: filter.program,
      userns: opts.userns ? { uidMap: `0 ${host} ${count}\n`, gidMap: `0 ${host} ${count}\n` } : undefined,
      noNewPrivs: opts.noNewPrivs,
    });
  } catch (e) {
    helperHandle?.helper.close();
    throw e;
  }
  const { child, listenerFd } = launched;

  const dataPlane = new DataPlane({
    listenerFd,
    policies,
    workloadUsernsInode: launched.usernsInode,
    helperFd: helperHandle ? helperHandle.helper.socketFd : -1,
    failErrno: opts.failErrno,
    syncWakeUp: opts.syncWakeUp,
  });
  const stats = dataPlane.stats;
  const workloadExit = launched.exited.then(({ code, signal }) => code ?? 128 + (signal ? osConstants.signals[signal] : 0));

  const forward = (signal: NodeJS.Signals) => {
    try { process.kill(child.pid!, signal); } catch { /* already gone */ }
  };
  const printStats = () => log('info', 'stats', readStats(stats));
  for (const s of FORWARDED_SIGNALS) process.on(s, forward);
  process.on('SIGUSR1', printStats);

  const status = await workloadExit;
  await dataPlane.finished;
  for (const s of FORWARDED_SIGNALS) process.off(s, forward);
  process.off('SIGUSR1', printStats);
  if (helperHandle) {
    helperHandle.helper.close();
    helperHandle.process.unref();
  }
  log('debug', 'workload finished', { status, ...readStats(stats) });
  return status;
}
