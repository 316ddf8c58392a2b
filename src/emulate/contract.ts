// What every emulator returns: the one contract between the emulations (this directory) and the data
// plane that answers the notification with their result.
//
// An emulator performs one call for its caller and returns what the syscall itself would return to
// the kernel's caller, in the kernel's own convention:
//   ≥ 0       the call's return value (the data plane answers it as the call's result);
//   < 0       -errno (the data plane puts it in struct seccomp_notif_resp.error as it is);
//   ANSWERED  the emulator has answered the notification itself (ADDFD with SEND, or a CONTINUE),
//             and the data plane must not answer it again.
// The native shim and the privileged helper report an errno positive, as the kernel's `errno`
// variable holds it (docs/native-api.md); an emulator negates it where it takes it from them.
//
// An emulator that finds the call is not its to perform (the caller does not qualify, the request is
// beyond what it emulates) lets the kernel run it: continueInKernel answers CONTINUE and returns
// ANSWERED. That grants nothing: the kernel re-reads the arguments and checks the caller's privileges.
//
// An emulator throws only TaintedThreadError (src/errors.ts: the thread must end); every other failure
// is an errno for the caller (EPERM when it is the host's own, logged).
import { native } from '../native.js';
import { Notif, Resp } from '../layouts.js';

/** Returned by an emulator that has answered the notification itself. Never a return value or -errno. */
export const ANSWERED = -0x7fffffff;

/** An errno as the native shim and the helper report it (0 = success, else positive), as an emulator's result. */
export function resultOfErrno(errno: number): number {
  return errno === 0 ? 0 : -errno;
}

/**
 * Answers the notification in `words` with CONTINUE through `response` (struct seccomp_notif_resp as
 * Int32Array, the emulator's own, reused); ENOENT (the caller is gone) is no error. Returns ANSWERED.
 */
export function continueInKernel(listenerFd: number, response: Int32Array, words: Uint32Array): number {
  response.fill(0);
  response[Resp.ID_LO] = words[Notif.ID_LO]!;
  response[Resp.ID_HI] = words[Notif.ID_HI]!;
  response[Resp.FLAGS] = native.constants.SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  try {
    native.notifSend(listenerFd, response);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  return ANSWERED;
}
