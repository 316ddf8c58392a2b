// The supervisor's side of the launcher protocol (docs/native-api.md, "wasmsup-launch"): start the
// workload through build/Release/wasmsup-launch and come back with its seccomp listener.
import { spawn, type ChildProcess, type StdioNull, type StdioPipe } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { LAUNCHER_PATH, native, nativeError } from './native.js';

export type LaunchStdio = StdioNull | StdioPipe | number;

export interface LaunchOptions {
  /** CMD and ARGS. */
  argv: string[];
  /** Classic BPF program, n × 8 bytes (struct sock_filter). */
  filter: Buffer;
  /** Id maps written for the workload's new user namespace, e.g. "0 100000 65536\n"; absent = no user namespace. */
  userns?: { uidMap: string; gidMap: string };
  noNewPrivs?: boolean;
  /**
   * SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: true requires it (Linux ≥ 5.19), 'if-available' uses it
   * where the kernel has it, false/absent never.
   */
  waitKillable?: boolean | 'if-available';
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** The workload's stdin, stdout and stderr; inherited by default. */
  stdio?: [LaunchStdio, LaunchStdio, LaunchStdio];
  /** How long to wait for the listener; 10 s by default. */
  timeoutMs?: number;
}

export interface Launched {
  child: ChildProcess;
  pid: number;
  /** The seccomp user-notification listener (O_CLOEXEC); the caller owns and closes it. */
  listenerFd: number;
  /** Inode of the workload's user namespace (the supervisor's own when there is no userns). */
  usernsInode: number;
  /**
   * Settles when the workload has exited. Listen here rather than on `child`'s 'exit': a workload
   * that ends at once (an exec failure) may have exited, and emitted 'exit', before launch() resolved.
   */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const MAX_FILTER_INSNS = 4096;
const DEFAULT_TIMEOUT_MS = 10_000;

let warnedAboutOwnIdMap = false;

function validate(opts: LaunchOptions): void {
  if (!Array.isArray(opts.argv) || opts.argv.length === 0 || opts.argv.some((a) => typeof a !== 'string')) {
    throw new TypeError('launch: argv must be a non-empty array of strings');
  }
  const bytes = opts.filter?.byteLength;
  if (!Buffer.isBuffer(opts.filter) || bytes === 0 || bytes % 8 !== 0 || bytes / 8 > MAX_FILTER_INSNS) {
    throw new RangeError(`launch: filter must be 1..${MAX_FILTER_INSNS} BPF instructions of 8 bytes`);
  }
}

function launcherArgs(opts: LaunchOptions): string[] {
  const flags: string[] = [];
  if (opts.userns) flags.push('--userns');
  if (opts.noNewPrivs) flags.push('--no-new-privs');
  if (opts.waitKillable === true) flags.push('--wait-killable');
  else if (opts.waitKillable === 'if-available') flags.push('--wait-killable-if-available');
  return [...flags, '--', ...opts.argv];
}

/**
 * Writes the id maps of `pid`'s new user namespace. Only root may map ranges; anyone else may map
 * just its own uid and gid, and only after giving up setgroups in the namespace.
 */
function writeIdMaps(pid: number, maps: { uidMap: string; gidMap: string }): void {
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) {
    writeFileSync(`/proc/${pid}/uid_map`, maps.uidMap);
    writeFileSync(`/proc/${pid}/gid_map`, maps.gidMap);
    return;
  }
  const gid = process.getgid?.() ?? 0;
  if (!warnedAboutOwnIdMap) {
    warnedAboutOwnIdMap = true;
    process.stderr.write(`wasmsup: not root: the user namespace maps only uid ${uid} and gid ${gid} (as 0), setgroups denied\n`);
  }
  writeFileSync(`/proc/${pid}/setgroups`, 'deny');
  writeFileSync(`/proc/${pid}/uid_map`, `0 ${uid} 1\n`);
  writeFileSync(`/proc/${pid}/gid_map`, `0 ${gid} 1\n`);
}

function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}

/**
 * Resolves once `fd` is readable or hung up, or after `ms`. The event loop watches it (no thread
 * blocks in recvMessage, and nothing sleeps in steps that would add to every start-up).
 */
function readableWithin(fd: number, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => { watch.cancel(); resolve(); }, ms);
    const watch = native.watchReadable(fd, () => { clearTimeout(timer); resolve(); });
  });
}

/** Resolves with the launcher's exit description once it has exited (or after a short grace period). */
function exitDescription(child: ChildProcess): Promise<string> {
  if (child.exitCode !== null) return Promise.resolve(`exit status ${child.exitCode}`);
  if (child.signalCode !== null) return Promise.resolve(`signal ${child.signalCode}`);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('still running'), 1000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code !== null ? `exit status ${code}` : `signal ${signal}`);
    });
  });
}

export async function launch(opts: LaunchOptions): Promise<Launched> {
  validate(opts);
  const [supervisorEnd, launcherEnd] = native.socketpair();
  let child: ChildProcess;
  try {
    const stdio = opts.stdio ?? ['inherit', 'inherit', 'inherit'];
    child = spawn(LAUNCHER_PATH, launcherArgs(opts), {
      stdio: [stdio[0], stdio[1], stdio[2], launcherEnd],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
  } catch (e) {
    native.close(supervisorEnd);
    native.close(launcherEnd);
    throw new Error(`wasmsup: cannot start ${opts.argv[0]}: ${oneLine(e)}`);
  }
  native.close(launcherEnd);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });

  let spawnError: Error | null = null;
  // Kept for the whole life of the child: an 'error' event nobody listens to would end the supervisor.
  child.on('error', (e) => { spawnError = e; });
  const command = opts.argv[0];
  const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const reply = new Uint8Array(64);

  /** The next message's text and fds, or null when the launcher closed its end. */
  const receive = async (expecting: string): Promise<{ text: string; fds: number[] } | null> => {
    for (;;) {
      if (spawnError) throw new Error(`wasmsup: cannot start ${command}: ${oneLine(spawnError)}`);
      try {
        const message = native.recvMessage(supervisorEnd, reply, 0);
        if (message === null) return null;
        return { text: Buffer.from(reply.buffer, reply.byteOffset, message.bytes).toString('latin1'), fds: message.fds };
      } catch (e) {
        if (!(nativeError(e) && e.code === 'ETIMEDOUT')) throw e;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`wasmsup: cannot start ${command}: no ${expecting} from the launcher within ${opts.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`);
      }
      await readableWithin(supervisorEnd, left);
    }
  };
  const launcherGone = async (): Promise<never> => {
    throw new Error(`wasmsup: cannot start ${command} (launcher ${await exitDescription(child)})`);
  };

  try {
    const pid = child.pid;
    if (pid === undefined) {
      // spawn() failed (e.g. the launcher was not built); the reason arrives as an 'error' event.
      const reason = spawnError ?? await new Promise<Error | null>((resolve) => {
        const timer = setTimeout(() => resolve(null), 1000);
        child.once('error', (e) => { clearTimeout(timer); resolve(e); });
      });
      throw new Error(`wasmsup: cannot start ${command}: cannot run ${LAUNCHER_PATH}: ${reason ? oneLine(reason) : 'spawn failed'}`);
    }
    native.sendMessage(supervisorEnd, opts.filter);

    let usernsInode = native.nsInode(process.pid, 'user');
    if (opts.userns) {
      const message = await receive('"userns" message');
      if (message === null) return await launcherGone();
      closeAll(message.fds);
      if (message.text !== 'userns') throw new Error(`wasmsup: cannot start ${command}: unexpected "${message.text}" from the launcher`);
      try {
        writeIdMaps(pid, opts.userns);
      } catch (e) {
        native.sendMessage(supervisorEnd, Buffer.from(`fail ${oneLine(e)}`));
        await exitDescription(child);
        throw new Error(`wasmsup: cannot start ${command}: cannot write the id maps of pid ${pid}: ${oneLine(e)}`);
      }
      usernsInode = native.nsInode(pid, 'user');
      native.sendMessage(supervisorEnd, Buffer.from('mapped'));
    }

    const message = await receive('listener');
    if (message === null) return await launcherGone();
    if (message.text !== 'listener' || message.fds.length !== 1) {
      closeAll(message.fds);
      throw new Error(`wasmsup: cannot start ${command}: unexpected "${message.text}" from the launcher`);
    }
    return { child, pid, listenerFd: message.fds[0]!, usernsInode, exited };
  } catch (e) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    throw e instanceof Error && e.message.startsWith('wasmsup:') ? e : new Error(`wasmsup: cannot start ${command}: ${oneLine(e)}`);
  } finally {
    native.close(supervisorEnd);
  }
}

function closeAll(fds: number[]): void {
  for (const fd of fds) native.close(fd);
}
