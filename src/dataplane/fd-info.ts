// The fd_info host function (docs/policy-abi.md, section 3): what one of the caller's fds refers to.
// The host fetches the very open file with pidfd_getfd and asks the kernel about its copy (fstat,
// fstatfs, F_GETFL, SO_DOMAIN/TYPE/PROTOCOL, its /proc/self/fd link), then checks ID_VALID: a tid that
// names another process by now must not lend its fds. Buffers are reused; the two /proc paths are the
// only allocation, on a call a policy makes only when it needs to know.
import { native } from '../native.js';
import { FD_PATH_IN_ROOT, FD_PATH_NOT_A_PATH, FD_PATH_OUTSIDE_ROOT, FdInfoBlock } from '../layouts.js';
import { fetchCallerFd } from '../caller/fd.js';

const {
  MODE, FLAGS, DEV_MAJOR, DEV_MINOR, INO, RDEV_MAJOR, RDEV_MINOR, UID, GID, SIZE, SOCK_FAMILY, SOCK_TYPE,
  SOCK_PROTOCOL, FS_TYPE, PATH_LENGTH, PATH_FLAGS,
} = FdInfoBlock;

const S_IFMT = 0o170000, S_IFSOCK = 0o140000;
const ENOENT = 2, EBADF = 9, ENAMETOOLONG = 36;

/** A u64 held exactly in a double (< 2^53), as two halves: no BigInt per call. */
function setU64(v: DataView, offset: number, value: number): void {
  v.setUint32(offset, value % 0x100000000, true);
  v.setUint32(offset + 4, Math.floor(value / 0x100000000), true);
}

export class FdInspector {
  private readonly stat = new Float64Array(10);
  private readonly socket = new Int32Array(3);
  private readonly root = new Uint8Array(4096);

  constructor(private readonly listenerFd: number) {}

  /** Fills `dst` about fd `fd` of thread `tid` of notification `notif`; 0 or -errno. */
  inspect(notif: Uint8Array, tid: number, fd: number, dst: Uint8Array, path: Uint8Array, pathCap: number): number {
    let copy = -1, rootFd = -1;
    try {
      try {
        copy = fetchCallerFd(tid, fd);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        return code === 'ESRCH' || code === 'ENOENT' ? -ENOENT : -EBADF;
      }
      const st = this.stat;
      native.fdStat(copy, st);
      const flags = native.fdGetFlags(copy);
      const fsType = native.fdFsType(copy);
      const isSocket = (st[0]! & S_IFMT) === S_IFSOCK;
      if (isSocket) native.fdSocketInfo(copy, this.socket);

      let pathLength = 0, pathFlags = 0;
      if (pathCap > 0) {
        try {
          pathLength = native.fdReadlink(copy, path.subarray(0, pathCap));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENAMETOOLONG') throw e;
          pathLength = -ENAMETOOLONG;
        }
        if (pathLength > 0 && path[0] !== 0x2f) {
          pathFlags = FD_PATH_NOT_A_PATH; // "pipe:[123]", "socket:[456]", "anon_inode:[eventfd]"
        } else if (pathLength > 0) {
          // The link is the host's view; the caller's root as the host sees it is cut off the front.
          rootFd = native.openPath(`/proc/${tid}/root`, native.constants.O_PATH | native.constants.O_DIRECTORY);
          const rootLength = native.fdReadlink(rootFd, this.root);
          pathLength = this.relativeToRoot(path, pathLength, rootLength);
          pathFlags = pathLength >= 0 ? FD_PATH_IN_ROOT : FD_PATH_OUTSIDE_ROOT;
          if (pathLength < 0) pathLength = -pathLength;
        }
      }
      if (!native.notifIdValid(this.listenerFd, notif)) return -ENOENT;

      const v = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
      dst.fill(0);
      v.setUint32(MODE, st[0]!, true);
      v.setUint32(FLAGS, flags, true);
      v.setUint32(DEV_MAJOR, st[1]!, true);
      v.setUint32(DEV_MINOR, st[2]!, true);
      setU64(v, INO, st[3]!);
      v.setUint32(RDEV_MAJOR, st[4]!, true);
      v.setUint32(RDEV_MINOR, st[5]!, true);
      v.setUint32(UID, st[6]!, true);
      v.setUint32(GID, st[7]!, true);
      setU64(v, SIZE, st[8]!);
      v.setInt32(SOCK_FAMILY, isSocket ? this.socket[0]! : -1, true);
      v.setInt32(SOCK_TYPE, isSocket ? this.socket[1]! : -1, true);
      v.setInt32(SOCK_PROTOCOL, isSocket ? this.socket[2]! : -1, true);
      v.setUint32(FS_TYPE, fsType, true);
      v.setInt32(PATH_LENGTH, pathLength, true);
      v.setUint32(PATH_FLAGS, pathFlags, true);
      return 0;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ENOENT' || err.code === 'ESRCH') return -ENOENT;
      return -(err.errno ?? EBADF);
    } finally {
      if (copy >= 0) native.close(copy);
      if (rootFd >= 0) native.close(rootFd);
    }
  }

  /**
   * Cuts the caller's root (this.root[0..rootLength), the host's view) off the front of path[0..length)
   * in place. Returns the new length, or -length when the path is not below that root (left as is).
   */
  private relativeToRoot(path: Uint8Array, length: number, rootLength: number): number {
    if (rootLength === 1) return length; // the caller's root is the host's "/"
    if (length < rootLength) return -length;
    for (let i = 0; i < rootLength; i++) if (path[i] !== this.root[i]) return -length;
    if (length === rootLength) { path[0] = 0x2f; return 1; }
    if (path[rootLength] !== 0x2f) return -length;
    path.copyWithin(0, rootLength, length);
    return length - rootLength;
  }
}
