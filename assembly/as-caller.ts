// AS_CALLER (docs/policy-abi.md §4): ask the host to perform the call as its caller would — the
// caller's root, cwd or dirfd, ids, groups, umask and user namespace — plus only the capabilities
// lent here, optionally with a path or an integer argument replaced. One static builder, reset by
// asCaller(): building a request allocates nothing.
import { notificationBlock, emulate, Primitive } from "./notification";

// Operands, bytes 100..128 of the notification block.
const LEND_LO = 100, LEND_HI = 104, REPLACE = 108, BLOCK_PTR = 112;
const REPLACE_PATH: u32 = 1, REPLACE_PATH2: u32 = 2, REPLACE_ARG0: u32 = 1 << 8;
// The replacement block in the policy's memory: path ptr/len, path2 ptr/len, then u64 args[6] at 16.
const REPLACEMENT: usize = memory.data(64, 8);

/** The request being built; see `asCaller()`. */
export class AsCaller {
  /** Lend capabilities for this call: bit N = capability N (`Cap.*`, 0..31), e.g. `1 << Cap.MKNOD`. */
  lend(caps: u64): AsCaller {
    const block = notificationBlock();
    store<u32>(block + LEND_LO, load<u32>(block + LEND_LO) | <u32>caps);
    store<u32>(block + LEND_HI, load<u32>(block + LEND_HI) | <u32>(caps >> 32));
    return this;
  }
  /** Replace the call's first path argument with `len` bytes at `ptr` in this policy's memory (no NUL), in the caller's view. */
  path(ptr: usize, len: i32): AsCaller {
    store<u32>(REPLACEMENT, <u32>ptr);
    store<u32>(REPLACEMENT + 4, <u32>len);
    return this.replace(REPLACE_PATH);
  }
  /** Replace the second path: rename's and link's new path, symlink's linkpath. */
  path2(ptr: usize, len: i32): AsCaller {
    store<u32>(REPLACEMENT + 8, <u32>ptr);
    store<u32>(REPLACEMENT + 12, <u32>len);
    return this.replace(REPLACE_PATH2);
  }
  /** Replace integer argument `index` (0..5: a mode, dev, uid, gid or flags word; never a pointer or fd) with `value`. */
  arg(index: i32, value: u64): AsCaller {
    if (<u32>index > 5) abort("AsCaller.arg: index must be 0..5");
    store<u64>(REPLACEMENT + 16 + (<usize>index << 3), value);
    return this.replace(REPLACE_ARG0 << <u32>index);
  }
  /** Fills nothing more: returns the EMULATE decision for Primitive.AS_CALLER. */
  emulate(): i32 {
    return emulate(Primitive.AS_CALLER);
  }
  private replace(bit: u32): AsCaller {
    const block = notificationBlock();
    store<u32>(block + REPLACE, load<u32>(block + REPLACE) | bit);
    store<u32>(block + BLOCK_PTR, <u32>REPLACEMENT);
    return this;
  }
}

const BUILDER = new AsCaller();

/** A reset request builder for the call being decided: `asCaller().lend(1 << Cap.MKNOD).emulate()`. */
export function asCaller(): AsCaller {
  const block = notificationBlock();
  // The host zeroes 100..128 before each call; a policy may have begun another request in this call.
  store<u64>(block + LEND_LO, 0);
  store<u64>(block + REPLACE, 0);
  return BUILDER;
}
