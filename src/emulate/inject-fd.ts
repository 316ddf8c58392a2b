// Answering a call with an fd the host made: SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SEND
// installs it in the caller at the lowest free number (no SETFD: the number its own open would have
// got) and answers the call with that number in one step, so the caller never sees a half-done open.
// One place for the request block and for what the kernel's refusals mean (OPEN, BPF's token, the
// /proc views). The addon blocks signals on the thread for the ioctl (native/seccomp.cc), so a
// signal cannot withdraw the fd after the answer was queued.
import { native } from '../native.js';
import { AddFd, ADDFD_BYTES } from '../layouts.js';
import { ANSWERED } from './contract.js';

export class FdInjector {
  private readonly addfd = new Uint8Array(ADDFD_BYTES);
  private readonly view = new DataView(this.addfd.buffer);

  constructor(private readonly listenerFd: number, private readonly warn: (message: string) => void) {}

  /**
   * Installs `fd` in the caller of `notif` (O_CLOEXEC in `newfdFlags` as it asked) and answers with
   * its number. ANSWERED, also when nothing waits any more: ENOENT (the caller was interrupted or is
   * gone) and EINPROGRESS (already answered: a second answer would be refused too, so none is sent).
   * Any other refusal (EMFILE: the caller is at RLIMIT_NOFILE) throws, the call still pending, for the
   * emulator to answer with it.
   */
  sendFd(notif: Uint8Array, fd: number, newfdFlags: number, what: string): number {
    const v = this.view;
    this.addfd.set(notif.subarray(AddFd.ID, AddFd.ID + 8));
    v.setUint32(AddFd.FLAGS, native.constants.SECCOMP_ADDFD_FLAG_SEND, true);
    v.setUint32(AddFd.SRCFD, fd, true);
    v.setUint32(AddFd.NEWFD, 0, true);
    v.setUint32(AddFd.NEWFD_FLAGS, newfdFlags, true);
    try {
      native.notifAddFd(this.listenerFd, this.addfd);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return ANSWERED;
      if (code === 'EINPROGRESS') {
        this.warn(`${what}: the notification was already answered when its fd was injected; none sent`);
        return ANSWERED;
      }
      throw e;
    }
    return ANSWERED;
  }
}
