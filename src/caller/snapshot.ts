// What the host has learned about the caller of one notification, shared by everything that acts on
// that notification: the policy's host functions fill it, the emulation that follows the decision
// reads it. Reading a caller's credentials is the costliest read of deciding on them
// (docs/performance.md), so an emulation reuses the policy's read instead of parsing /proc/TID/status
// again, which a caller blocked in its notification cannot have changed (a signal would end the
// notification, and every user checks ID_VALID afterwards anyway).
//
// A snapshot belongs to one notification, by its id: what was read for another is never handed out.
// One per data-plane worker, reused; nothing allocates.
import { CREDS_WORDS, Notif } from '../layouts.js';
import { statusFiles } from './status-files.js';

export class CallerSnapshot {
  /** native.readCreds words of the last read (src/layouts.ts, Creds). */
  private readonly creds = new Uint32Array(CREDS_WORDS);
  private confirmed = false;
  private idLo = 0;
  private idHi = 0;

  /**
   * Reads the credentials of thread `tid` into the snapshot and returns them; they count for a
   * notification only once confirmed. Throws as native.readCreds does.
   */
  readCreds(tid: number): Uint32Array {
    this.confirmed = false;
    statusFiles.readCreds(tid, this.creds);
    return this.creds;
  }

  /**
   * readCreds, and the inode of the thread's user namespace (words Creds.USERNS_INODE, lo and hi), in
   * one crossing: the words are `lastRead`. Throws as readCreds and native.nsInode do.
   */
  readCredsAndUserns(tid: number): void {
    this.confirmed = false;
    statusFiles.readCredsAndUserns(tid, this.creds);
  }

  /** The words of the last read (confirmed or not: only for the reader that made it). */
  get lastRead(): Uint32Array {
    return this.creds;
  }

  /** Forgets what was read: a new read is under way, or it failed. */
  forget(): void {
    this.confirmed = false;
  }

  /**
   * The last read is the caller's of notification `words` (struct seccomp_notif words): it was made
   * by that caller's tid and the notification was still valid (ID_VALID) after it.
   */
  confirm(words: Uint32Array): void {
    this.idLo = words[Notif.ID_LO]!;
    this.idHi = words[Notif.ID_HI]!;
    this.confirmed = true;
  }

  /** The confirmed credentials of notification `words`' caller, or null when none were read for it. */
  credsOf(words: Uint32Array): Uint32Array | null {
    return this.confirmed && words[Notif.ID_LO] === this.idLo && words[Notif.ID_HI] === this.idHi ? this.creds : null;
  }
}
