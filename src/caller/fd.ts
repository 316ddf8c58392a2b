// Getting hold of a caller's open file, as the kernel would use it: pidfd_getfd of its fd number.
// Shared by the emulations that take an fd argument and by the fd_info host function.
import { native } from '../native.js';
import { Creds, CREDS_WORDS } from '../layouts.js';
import { statusFiles } from './status-files.js';

const creds = new Uint32Array(CREDS_WORDS);

/**
 * A pidfd for the calling thread. A notification names a thread; PIDFD_THREAD (6.9+) opens it
 * directly. Threads share the fd table, so on older kernels the thread-group leader's pidfd sees the
 * same fds. The caller must check ID_VALID after using it: the tid may have been reused.
 */
export function openCallerPidfd(tid: number): number {
  try {
    return native.pidfdOpen(tid, native.constants.PIDFD_THREAD);
  } catch {
    statusFiles.readCreds(tid, creds);
    return native.pidfdOpen(creds[Creds.TGID]!, 0);
  }
}

/** A copy (O_CLOEXEC) of the caller's fd `fd` in this process; throws EBADF when it has none. */
export function fetchCallerFd(tid: number, fd: number): number {
  if (fd < 0) throw Object.assign(new Error('pidfd_getfd: Bad file descriptor (EBADF)'), { code: 'EBADF', errno: 9 });
  const pidfd = openCallerPidfd(tid);
  try {
    return native.pidfdGetfd(pidfd, fd);
  } finally {
    native.close(pidfd);
  }
}
