// Runs native.mknodatAsCaller on a worker thread (it refuses the main thread) for
// test/kernel/mknod-as-caller.test.ts, and reports what each call returned and what the thread looked like
// afterwards: its credentials (/proc/thread-self/status), umask, and where "/" and /proc lead.
import { parentPort, workerData } from 'node:worker_threads';
import { readFileSync, statSync } from 'node:fs';
import { native } from '../../src/native.js';

export interface AsCallerCall {
  /** Directory to chroot into (the caller's root). */
  root: string;
  /** Start directory for a relative path, or null. */
  start: string | null;
  path: string;
  mode: number;
  dev: number;
  fsuid: number;
  fsgid: number;
  umask: number;
  groups: number[];
  capEffLo: number;
}

export interface ThreadState { uid: string; gid: string; groups: string; capEff: string; umask: string; rootIno: number; procSelf: boolean }

export interface AsCallerReport { results: (number | string)[]; before: ThreadState; after: ThreadState }

function threadState(): ThreadState {
  const status = readFileSync('/proc/thread-self/status', 'utf8');
  const field = (name: string) => new RegExp(`^${name}:[ \\t]*([^\\n]*)$`, 'm').exec(status)?.[1]?.trim() ?? '';
  let procSelf = false;
  try { procSelf = statSync('/proc/self/status').isFile(); } catch { /* not there */ }
  return { uid: field('Uid'), gid: field('Gid'), groups: field('Groups'), capEff: field('CapEff'), umask: field('Umask'), rootIno: statSync('/').ino, procSelf };
}

const calls = workerData as AsCallerCall[];
const before = threadState();
const results = calls.map((c) => {
  const O_PATH_DIR = native.constants.O_PATH | native.constants.O_DIRECTORY;
  const rootFd = native.openPath(c.root, O_PATH_DIR);
  const startFd = c.start === null ? -1 : native.openPath(c.start, O_PATH_DIR);
  try {
    const creds = new Uint32Array(native.constants.CREDS_WORDS);
    creds[3] = c.fsuid; creds[7] = c.fsgid; creds[8] = c.umask; creds[14] = c.capEffLo;
    creds[19] = c.groups.length;
    creds.set(c.groups, 32);
    const path = new TextEncoder().encode(c.path);
    return native.mknodatAsCaller(rootFd, startFd, path, path.length, c.mode, c.dev, creds);
  } catch (e) {
    return `${(e as NodeJS.ErrnoException).code}`;
  } finally {
    native.close(rootFd);
    if (startFd >= 0) native.close(startFd);
  }
});
parentPort!.postMessage({ results, before, after: threadState() } satisfies AsCallerReport);
