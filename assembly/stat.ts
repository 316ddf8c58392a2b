// File type bits of a mode_t (linux/stat.h) and the kernel's dev_t encoding, for mknod-like calls.

export const S_IFMT: u32 = 0o170000;
export const S_IFSOCK: u32 = 0o140000;
export const S_IFLNK: u32 = 0o120000;
export const S_IFREG: u32 = 0o100000;
export const S_IFBLK: u32 = 0o060000;
export const S_IFDIR: u32 = 0o040000;
export const S_IFCHR: u32 = 0o020000;
export const S_IFIFO: u32 = 0o010000;

/** Major number of a dev_t as the syscalls pass it (the kernel's new_decode_dev). */
@inline export function devMajor(dev: u32): u32 {
  return (dev & 0xfff00) >> 8;
}

/** Minor number of a dev_t as the syscalls pass it (the kernel's new_decode_dev). */
@inline export function devMinor(dev: u32): u32 {
  return (dev & 0xff) | ((dev >> 12) & 0xfff00);
}

/** The dev_t the syscalls take for `major:minor` (the kernel's new_encode_dev). */
@inline export function makeDev(major: u32, minor: u32): u32 {
  return (minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12);
}
