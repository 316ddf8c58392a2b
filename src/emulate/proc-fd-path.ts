// A caller's path that starts with its own /proc/self/fd/N/ (or /proc/thread-self/fd/N/), as GNU tar
// (1.34+) names files for the *xattr calls (setxattr("/proc/self/fd/4/d", ...) standing in for a
// setxattrat it does not have). The privileged helper's child, which acts as the caller, refuses
// magic links (its /proc/self is itself, not the caller: ELOOP), so the emulations that take a path
// start such a one from the caller's fd N itself (pidfd_getfd) with the rest of the path: where the
// kernel's walk through the caller's /proc would have led. That is never more than the caller holds:
// the fd is its own, and every check on the file found from there is made as the caller.
//
// Only the form with a rest ("/proc/self/fd/N/name") is taken; the bare link ("/proc/self/fd/N") is
// left to the helper's answer (ELOOP). A /proc in the caller's root that is not procfs is not told
// apart: a caller that fakes one names its own open file either way.

const SLASH = 0x2f, ZERO = 0x30, NINE = 0x39;
const PREFIXES = ['/proc/self/fd/', '/proc/thread-self/fd/'].map((p) => Buffer.from(p));

/** Where the rest of the path starts, after procFdOf matched (the byte after "N/"). */
export const procFdMatch = { restOffset: 0 };

/**
 * The fd number N when `path[0..length)` is /proc/self/fd/N/REST (or thread-self) with a non-empty
 * REST, procFdMatch.restOffset set to REST's start; -1 otherwise. N as the kernel's /proc reads it:
 * decimal, no leading zero, below 2^31.
 */
export function procFdOf(path: Uint8Array, length: number): number {
  for (const prefix of PREFIXES) {
    const n = prefix.length;
    if (length <= n) continue;
    let k = 0;
    while (k < n && path[k] === prefix[k]) k++;
    if (k < n) continue;
    let fd = 0, at = n;
    while (at < length && path[at]! >= ZERO && path[at]! <= NINE) {
      fd = fd * 10 + (path[at]! - ZERO);
      if (fd > 0x7fffffff) return -1;
      at++;
    }
    const digits = at - n;
    if (digits === 0 || (digits > 1 && path[n] === ZERO)) return -1;
    if (at >= length || path[at] !== SLASH || at + 1 >= length) return -1;
    procFdMatch.restOffset = at + 1;
    return fd;
  }
  return -1;
}
