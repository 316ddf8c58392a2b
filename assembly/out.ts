// Answers through the caller's out-pointers (docs/policy-abi.md, section 3, write_out): a policy that
// answers a call such as uname, getxattr or getcwd with RETURN fills the caller's buffer first. The host
// bounds every write by the size the call declares and writes only when the decision is RETURN.
import { write_out } from "./host";

/**
 * Stages `len` bytes at `src` (the policy's memory; copied at once) to be written into the caller's
 * buffer in argument `arg` of the call being decided, at byte `offset`. They are written, after the
 * decision and before the answer, only if the decision is `returnValue(...)`; any other decision drops
 * them. Returns 0, or -errno: `-EINVAL` when `arg` is not an out-buffer of this syscall (the host's
 * table: docs/policy-abi.md) or `offset + len` runs past the size the call declares (a struct's size,
 * or the caller's size argument: 0 for a size query), `-ENOSPC` past 8 writes or 64 KiB per decision.
 * Nothing is staged when it fails. A caller whose buffer turns out unwritable gets `EFAULT`.
 */
export function writeOut(arg: i32, offset: i32, src: usize, len: i32): i32 {
  return write_out(arg, offset, src, len);
}

/** writeOut of a whole byte array. */
export function writeOutBytes(arg: i32, offset: i32, bytes: Uint8Array): i32 {
  return write_out(arg, offset, bytes.dataStart, bytes.length);
}
