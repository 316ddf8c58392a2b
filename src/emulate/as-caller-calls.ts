// The syscalls AS_CALLER performs, and where each keeps its arguments: the one table the emulator
// (as-caller.ts) decodes a notification with and the operand check (dataplane/as-caller-operands.ts)
// tells pointer arguments from integer ones with. Ops are native/as_caller_ops.h's.
import { portableId } from '../syscalls/tables.js';

export const Op = {
  MKNOD: 1, MKDIR: 2, SYMLINK: 3, LINK: 4, UNLINK: 5, RENAME: 6, CHOWN: 7, CHMOD: 8, SETXATTR: 9, REMOVEXATTR: 10,
} as const;

/** as_caller_call.flags (native/as_caller_ops.h): the host's own bits. */
export const CallFlag = { NOFOLLOW: 0x100, REMOVEDIR: 0x200, FOLLOW: 0x400, EMPTY_PATH: 0x1000, BY_FD: 0x10000 } as const;

/** Where one syscall keeps each argument (an index 0..5, or -1: it has none). */
export interface CallShape {
  readonly name: string;
  readonly op: number;
  /** dirfd of the first path (the *at forms); -1: AT_FDCWD. */
  readonly dirfd: number;
  /** The first path: the one resolved (symlink: the link's content, never resolved). */
  readonly path: number;
  readonly dirfd2: number;
  /** rename/link's new path, symlink's linkpath. */
  readonly path2: number;
  /** The caller's open file of an f* form. */
  readonly fd: number;
  readonly mode: number;
  readonly dev: number;
  readonly uid: number;
  readonly gid: number;
  /** The call's flags word (unlinkat, linkat, renameat2, fchownat). */
  readonly flags: number;
  /** Which of those flags the kernel accepts (others: EINVAL before anything is read). */
  readonly allowedFlags: number;
  readonly name_: number;
  readonly value: number;
  readonly size: number;
  /** setxattr's XATTR_CREATE | XATTR_REPLACE word. */
  readonly xattrFlags: number;
  /** CallFlag bits the syscall itself implies (lchown's NOFOLLOW, rmdir's REMOVEDIR, the f* forms' BY_FD). */
  readonly fixed: number;
}

const AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200, AT_SYMLINK_FOLLOW = 0x400, AT_EMPTY_PATH = 0x1000;

function shape(name: string, op: number, at: Partial<Omit<CallShape, 'name' | 'op'>>): CallShape {
  return {
    name, op, dirfd: -1, path: -1, dirfd2: -1, path2: -1, fd: -1, mode: -1, dev: -1, uid: -1, gid: -1, flags: -1,
    allowedFlags: 0, name_: -1, value: -1, size: -1, xattrFlags: -1, fixed: 0, ...at,
  };
}

const { BY_FD, NOFOLLOW, REMOVEDIR } = CallFlag;

/** Every call covered, by syscall name. */
export const CALL_SHAPES: readonly CallShape[] = [
  shape('mknod', Op.MKNOD, { path: 0, mode: 1, dev: 2 }),
  shape('mknodat', Op.MKNOD, { dirfd: 0, path: 1, mode: 2, dev: 3 }),
  shape('mkdir', Op.MKDIR, { path: 0, mode: 1 }),
  shape('mkdirat', Op.MKDIR, { dirfd: 0, path: 1, mode: 2 }),
  shape('symlink', Op.SYMLINK, { path: 0, path2: 1 }),
  shape('symlinkat', Op.SYMLINK, { path: 0, dirfd2: 1, path2: 2 }),
  shape('link', Op.LINK, { path: 0, path2: 1 }),
  shape('linkat', Op.LINK, { dirfd: 0, path: 1, dirfd2: 2, path2: 3, flags: 4, allowedFlags: AT_SYMLINK_FOLLOW | AT_EMPTY_PATH }),
  shape('unlink', Op.UNLINK, { path: 0 }),
  shape('unlinkat', Op.UNLINK, { dirfd: 0, path: 1, flags: 2, allowedFlags: AT_REMOVEDIR }),
  shape('rmdir', Op.UNLINK, { path: 0, fixed: REMOVEDIR }),
  shape('rename', Op.RENAME, { path: 0, path2: 1 }),
  shape('renameat', Op.RENAME, { dirfd: 0, path: 1, dirfd2: 2, path2: 3 }),
  // renameat2's flags go to the kernel as they are: it answers unknown or conflicting ones itself.
  shape('renameat2', Op.RENAME, { dirfd: 0, path: 1, dirfd2: 2, path2: 3, flags: 4, allowedFlags: 0xffffffff }),
  shape('chown', Op.CHOWN, { path: 0, uid: 1, gid: 2 }),
  shape('lchown', Op.CHOWN, { path: 0, uid: 1, gid: 2, fixed: NOFOLLOW }),
  shape('fchown', Op.CHOWN, { fd: 0, uid: 1, gid: 2, fixed: BY_FD }),
  shape('chown32', Op.CHOWN, { path: 0, uid: 1, gid: 2 }),
  shape('lchown32', Op.CHOWN, { path: 0, uid: 1, gid: 2, fixed: NOFOLLOW }),
  shape('fchown32', Op.CHOWN, { fd: 0, uid: 1, gid: 2, fixed: BY_FD }),
  shape('fchownat', Op.CHOWN, { dirfd: 0, path: 1, uid: 2, gid: 3, flags: 4, allowedFlags: AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH }),
  shape('chmod', Op.CHMOD, { path: 0, mode: 1 }),
  shape('fchmod', Op.CHMOD, { fd: 0, mode: 1, fixed: BY_FD }),
  shape('fchmodat', Op.CHMOD, { dirfd: 0, path: 1, mode: 2 }),
  shape('setxattr', Op.SETXATTR, { path: 0, name_: 1, value: 2, size: 3, xattrFlags: 4 }),
  shape('lsetxattr', Op.SETXATTR, { path: 0, name_: 1, value: 2, size: 3, xattrFlags: 4, fixed: NOFOLLOW }),
  shape('fsetxattr', Op.SETXATTR, { fd: 0, name_: 1, value: 2, size: 3, xattrFlags: 4, fixed: BY_FD }),
  shape('removexattr', Op.REMOVEXATTR, { path: 0, name_: 1 }),
  shape('lremovexattr', Op.REMOVEXATTR, { path: 0, name_: 1, fixed: NOFOLLOW }),
  shape('fremovexattr', Op.REMOVEXATTR, { fd: 0, name_: 1, fixed: BY_FD }),
];

/** The argument indexes of a shape that hold pointers: never replaced by an integer. */
export function pointerArgs(s: CallShape): number[] {
  return [s.path, s.path2, s.name_, s.value].filter((i) => i >= 0);
}

/** The argument indexes a policy may replace: modes, devs, ids and flags words (never fds, sizes or pointers). */
export function replaceableArgs(s: CallShape): number[] {
  return [s.mode, s.dev, s.uid, s.gid, s.flags, s.xattrFlags].filter((i) => i >= 0);
}

/** Shape by portable id (built once; ids the portable table lacks on this build are left out). */
export function shapesByPortableId(): Map<number, CallShape> {
  const byId = new Map<number, CallShape>();
  for (const s of CALL_SHAPES) {
    const id = portableId(s.name);
    if (id !== 0) byId.set(id, s);
  }
  return byId;
}
