// The callers' /proc/TID/status files, kept open per thread. Reading a caller's credentials is the
// costliest step of deciding on its credentials (docs/performance.md): the open and close of the
// file are a third of it, and the same threads call again and again. A kept fd names the task it
// was opened for, never a later holder of its tid: once that task has exited, reading it fails
// (ESRCH), and the tid is opened afresh. One per data-plane worker, used only on its thread.
import { native } from '../native.js';
import { Creds, CREDS_WORDS_ALL_GROUPS } from '../layouts.js';

/**
 * Threads whose file stays open; beyond this the longest-kept one is closed. A file of a thread that
 * has exited stays until it is pushed out, so this is also what the cache adds to the worker's fds.
 */
export const KEPT_STATUS_FILES = 16;

export class StatusFiles {
  private readonly fds = new Map<number, number>();

  /** native.readCreds(tid, out), through the kept file when there is one. Throws as readCreds does. */
  readCreds(tid: number, out: Uint32Array): void {
    this.read(tid, out, false);
  }

  /**
   * readCreds and the inode of the thread's user namespace (native.nsInode(tid, 'user')) into
   * out[Creds.USERNS_INODE] (lo, hi), in one crossing. Throws as either does.
   */
  readCredsAndUserns(tid: number, out: Uint32Array): void {
    this.read(tid, out, true);
  }

  private read(tid: number, out: Uint32Array, userns: boolean): void {
    const kept = this.fds.get(tid);
    if (kept !== undefined) {
      try {
        if (userns) native.readCredsFd(kept, out, tid);
        else native.readCredsFd(kept, out);
        return;
      } catch {
        this.fds.delete(tid);
        native.close(kept);
      }
    }
    const fd = native.openPath(`/proc/${tid}/status`, native.constants.O_RDONLY);
    try {
      if (userns) native.readCredsFd(fd, out, tid);
      else native.readCredsFd(fd, out);
    } catch (e) {
      native.close(fd);
      throw e;
    }
    if (this.fds.size >= KEPT_STATUS_FILES) {
      const [oldestTid, oldestFd] = this.fds.entries().next().value as [number, number];
      this.fds.delete(oldestTid);
      native.close(oldestFd);
    }
    this.fds.set(tid, fd);
  }

  /**
   * `creds` (readCreds words of `tid`, read into a buffer of any size) when it holds all of the
   * caller's groups, else the same read again into a buffer that holds any caller's (allocated on
   * first need: a caller with more than Creds.MAX_GROUPS groups is rare). The result is never a
   * truncated list. Throws as readCreds does.
   */
  withAllGroups(tid: number, creds: Uint32Array): Uint32Array {
    if (creds[Creds.NGROUPS]! <= creds.length - Creds.GROUPS) return creds;
    this.all ??= new Uint32Array(CREDS_WORDS_ALL_GROUPS);
    this.readCreds(tid, this.all);
    return this.all;
  }

  private all: Uint32Array | null = null;

  /** Closes every kept file. */
  close(): void {
    for (const fd of this.fds.values()) native.close(fd);
    this.fds.clear();
  }
}

/** The worker thread's instance (each worker has its own module instances). */
export const statusFiles = new StatusFiles();
