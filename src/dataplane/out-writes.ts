// The writes a policy stages with write_out (docs/policy-abi.md, section 3) for the call it is deciding:
// bytes of its memory, copied here at once, to be written into the caller's out-buffer if, and only if,
// its decision is RETURN. The handler writes them after deciding and before answering (handler.ts);
// every other decision, and every policy asked after another, starts from an empty stage.
//
// A fixed area per data-plane thread, so nothing is allocated per notification:
// - at most MAX_OUT_WRITES writes: a struct written field by field (utsname: six fields) and a little
//   more; a policy that needs more composes the answer in its own memory and writes it at once;
// - at most MAX_OUT_BYTES bytes in all, 64 KiB: XATTR_SIZE_MAX and XATTR_LIST_MAX, the largest answer
//   of the calls in the out-buffer table that must be whole (getcwd and readlink answer at most
//   PATH_MAX, 4096; getrandom may answer fewer bytes than asked, as the kernel does).
import { native } from '../native.js';
import { Notif, argLo } from '../layouts.js';
import { NOT_OUT_BUFFER, type OutBufferTable } from './out-buffers.js';

export const MAX_OUT_WRITES = 8;
export const MAX_OUT_BYTES = 64 * 1024;

const E = { ENOENT: 2, EFAULT: 14, EINVAL: 22, ENOSPC: 28 } as const;

export class OutWrites {
  private readonly bytes = new Uint8Array(MAX_OUT_BYTES);
  // Per write: argument, offset in the caller's buffer, length, start in `bytes`.
  private readonly arg = new Int32Array(MAX_OUT_WRITES);
  private readonly offset = new Int32Array(MAX_OUT_WRITES);
  private readonly length = new Int32Array(MAX_OUT_WRITES);
  private readonly start = new Int32Array(MAX_OUT_WRITES);
  /** Writes staged for the decision in hand. */
  count = 0;
  private used = 0;

  constructor(private readonly table: OutBufferTable) {}

  /** Drops whatever was staged: a new decision begins. */
  clear(): void {
    this.count = 0;
    this.used = 0;
  }

  /**
   * Stages `len` bytes of `memory` from `from` for the caller's buffer in argument `arg` at `offset`,
   * for the notification in `words` (portable id `portable`). 0, or -EINVAL (not an out-buffer of
   * this call, a negative offset, beyond the declared size) or -ENOSPC (the stage is full); nothing is
   * staged then. The caller (the instance) has checked that the source lies in the policy's memory.
   */
  stage(portable: number, words: Uint32Array, arg: number, offset: number, memory: Uint8Array, from: number, len: number): number {
    if (arg < 0 || arg > 5 || offset < 0) return -E.EINVAL;
    const size = this.table.declaredSize(portable, words, arg);
    if (size === NOT_OUT_BUFFER || offset + len > size) return -E.EINVAL;
    if (len === 0) return 0;
    if (this.count === MAX_OUT_WRITES || this.used + len > MAX_OUT_BYTES) return -E.ENOSPC;
    const i = this.count, at = this.used;
    // A copy now: the policy may reuse its memory before the decision is returned.
    const bytes = this.bytes;
    for (let k = 0; k < len; k++) bytes[at + k] = memory[from + k]!;
    this.arg[i] = arg; this.offset[i] = offset; this.length[i] = len; this.start[i] = at;
    this.used = at + len;
    this.count = i + 1;
    return 0;
  }

  /**
   * Writes the staged bytes into the caller of the notification in `words`, in the order staged (a
   * later write over an earlier one wins). 0; -EFAULT when a write faults or comes out short (what the
   * kernel's copy_to_user answers); -ENOENT when the caller is gone. process_vm_writev only (no
   * /proc/PID/mem, which would write into read-only mappings too). The handler checks ID_VALID
   * before and after.
   */
  flush(words: Uint32Array): number {
    const tid = words[Notif.TID]!;
    const bytes = this.bytes;
    for (let i = 0; i < this.count; i++) {
      const len = this.length[i]!, a = argLo(this.arg[i]!);
      // The caller's pointer plus the offset, as a 64-bit sum of two 32-bit halves.
      const lo = words[a]! + this.offset[i]!;
      const addrLo = lo >>> 0, addrHi = (words[a + 1]! + (lo > 0xffffffff ? 1 : 0)) >>> 0;
      // Bring write i to the front of the area: the area before it holds only writes already done, and
      // the native call takes its source from index 0, so no view is made.
      const from = this.start[i]!;
      if (from !== 0) bytes.copyWithin(0, from, from + len);
      let written: number;
      try {
        written = native.writeMemory(tid, addrLo, addrHi, bytes, len);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        return code === 'ESRCH' ? -E.ENOENT : -E.EFAULT;
      }
      if (written !== len) return -E.EFAULT;
    }
    return 0;
  }
}
