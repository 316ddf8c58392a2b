// Reading the caller's memory. Every result that is >= 0 was read while the notification was still
// valid; a negative result is -errno (-ENOENT: the call is gone, -EFAULT: nothing readable there).
// Policies pass their own static buffers (memory.data), so reading allocates nothing.
import { read_memory, read_string } from "./host";

const SCRATCH: usize = memory.data(8, 8);

/** Copies up to `len` bytes at `addr` in the caller to `buf`; bytes copied (short at an unmapped page) or -errno. */
export function readBytes(addr: u64, buf: usize, len: i32): i32 {
  return read_memory(addr, buf, len);
}

/**
 * Copies the NUL-terminated string at `addr` in the caller to `buf` (at most `cap` bytes including
 * the NUL, which is stored); its length without the NUL, or -errno (-ENAMETOOLONG when no NUL came
 * within `cap` bytes).
 */
export function readString(addr: u64, buf: usize, cap: i32): i32 {
  return read_string(addr, buf, cap);
}

/** Reads a u32 at `addr` in the caller: the value (0..2^32-1), or -errno. */
export function readU32(addr: u64): i64 {
  const n = read_memory(addr, SCRATCH, 4);
  if (n < 0) return n;
  if (n < 4) return -14; // EFAULT: the value runs into an unmapped page
  return <i64>load<u32>(SCRATCH);
}

/** Reads an i32 at `addr` in the caller into `*out`; 0 or -errno. */
export function readI32(addr: u64, out: usize): i32 {
  const n = read_memory(addr, out, 4);
  if (n < 0) return n;
  return n < 4 ? -14 : 0;
}

/** Reads a u64 at `addr` in the caller into `*out`; 0 or -errno. */
export function readU64(addr: u64, out: usize): i32 {
  const n = read_memory(addr, out, 8);
  if (n < 0) return n;
  return n < 8 ? -14 : 0;
}

/**
 * Reads the `size`-byte struct at `addr` in the caller into `out` (a policy's static buffer, read
 * with load<T>(out + offset)); 0 or -errno (-EFAULT when only part of it was readable).
 */
export function readStruct(addr: u64, out: usize, size: i32): i32 {
  const n = read_memory(addr, out, size);
  if (n < 0) return n;
  return n < size ? -14 : 0;
}

/**
 * Whether the `len` bytes at `buf` (e.g. a path from readString) equal the ASCII string `s`.
 * Compares in place: no allocation, no decoding.
 */
export function bytesEqual(buf: usize, len: i32, s: string): bool {
  if (len != s.length) return false;
  for (let i = 0; i < len; i++) {
    if (<u32>load<u8>(buf + <usize>i) != <u32>s.charCodeAt(i)) return false;
  }
  return true;
}

/** Whether the `len` bytes at `buf` are the `otherLen` bytes at `other` (e.g. a table built in configure()). */
export function bytesEqualBytes(buf: usize, len: i32, other: usize, otherLen: i32): bool {
  if (len != otherLen) return false;
  return memory.compare(buf, other, <usize>len) == 0;
}

/** Whether the `len` bytes at `buf` start with the ASCII string `prefix`. */
export function bytesStartWith(buf: usize, len: i32, prefix: string): bool {
  const n = prefix.length;
  if (len < n) return false;
  for (let i = 0; i < n; i++) {
    if (<u32>load<u8>(buf + <usize>i) != <u32>prefix.charCodeAt(i)) return false;
  }
  return true;
}
