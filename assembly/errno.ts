// Linux errno values (asm-generic/errno-base.h and errno.h; the same on x86, arm and aarch64), for
// fail() and for reading the -errno results of the host functions.
export namespace Errno {
  export const EPERM: i32 = 1;
  export const ENOENT: i32 = 2;
  export const ESRCH: i32 = 3;
  export const EINTR: i32 = 4;
  export const EIO: i32 = 5;
  export const ENXIO: i32 = 6;
  export const E2BIG: i32 = 7;
  export const ENOEXEC: i32 = 8;
  export const EBADF: i32 = 9;
  export const ECHILD: i32 = 10;
  export const EAGAIN: i32 = 11;
  export const ENOMEM: i32 = 12;
  export const EACCES: i32 = 13;
  export const EFAULT: i32 = 14;
  export const EBUSY: i32 = 16;
  export const EEXIST: i32 = 17;
  export const EXDEV: i32 = 18;
  export const ENODEV: i32 = 19;
  export const ENOTDIR: i32 = 20;
  export const EISDIR: i32 = 21;
  export const EINVAL: i32 = 22;
  export const ENFILE: i32 = 23;
  export const EMFILE: i32 = 24;
  export const ENOTTY: i32 = 25;
  export const EFBIG: i32 = 27;
  export const ENOSPC: i32 = 28;
  export const ESPIPE: i32 = 29;
  export const EROFS: i32 = 30;
  export const EMLINK: i32 = 31;
  export const EPIPE: i32 = 32;
  export const ERANGE: i32 = 34;
  export const EDEADLK: i32 = 35;
  export const ENAMETOOLONG: i32 = 36;
  export const ENOSYS: i32 = 38;
  export const ENOTEMPTY: i32 = 39;
  export const ELOOP: i32 = 40;
  export const ENODATA: i32 = 61;
  export const EOVERFLOW: i32 = 75;
  export const ENOTSOCK: i32 = 88;
  export const EOPNOTSUPP: i32 = 95;
  export const EAFNOSUPPORT: i32 = 97;
  export const EADDRINUSE: i32 = 98;
  export const ECONNREFUSED: i32 = 111;
}
