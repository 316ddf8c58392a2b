// Invented syscalls (docs/policy-abi.md, "Invented syscalls"): numbers no kernel implements, which a
// policy may claim and answer. `invented(K)` (K = 0..4095) is the portable id to intercept; the caller
// uses the raw number INVENTED_NR_BASE + K, the same on x86_64, i386 and aarch64 (x32 callers use it
// without the x32 bit). Without a policy answering it, the kernel fails such a call with ENOSYS.

/** Raw syscall number of invented syscall 0 on every supported ABI: above every real number, below the x32 bit. */
export const INVENTED_NR_BASE: i32 = 0x3ffff000;
/** Portable id of invented syscall 0 (the `sys` field of the notification block). */
export const INVENTED_SYS_BASE: i32 = 0x10000;
/** Invented syscalls are numbered 0 .. INVENTED_COUNT-1. */
export const INVENTED_COUNT: i32 = 4096;

/** The portable id of invented syscall `k` (0..4095), for intercept() and for comparing with Notification.sys. */
export function invented(k: i32): i32 {
  if (<u32>k >= <u32>INVENTED_COUNT) abort("invented(k): k must be 0..4095");
  return INVENTED_SYS_BASE + k;
}

/** K when portable id `sys` is an invented syscall, else -1. */
export function inventedIndex(sys: i32): i32 {
  const k = sys - INVENTED_SYS_BASE;
  return <u32>k < <u32>INVENTED_COUNT ? k : -1;
}
