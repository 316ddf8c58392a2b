/*
 * The filesystem calls the host performs "as the caller" (Primitive.AS_CALLER, docs/policy-abi.md §4):
 * one table of the raw step of each (as_caller_step), and the one way a call's path is resolved
 * before it (as_caller_resolve). Compiled into both the addon (native/act_as_caller.cc, the fast way
 * on a data-plane thread) and the privileged helper (native/helper_as_caller.c, the exact way and the
 * lend step), so every way takes exactly the same step on exactly the same kind of fd.
 *
 * Resolution, once, as native/as_caller.h says for mknod: the directory part of each path is opened
 * O_PATH with openat2(RESOLVE_NO_MAGICLINKS) from the start directory (the caller's cwd or dirfd, or
 * the root the thread is chrooted into), and the step names only that directory fd and the last
 * component. Calls that act on an inode rather than on a directory entry (chown, chmod, the xattrs)
 * also open the last component itself O_PATH (O_NOFOLLOW for the l* forms and AT_SYMLINK_NOFOLLOW)
 * and act on that fd. Whoever repeats a refused step with more capabilities (the helper's lend step)
 * is handed these very fds and never looks a name up again, so a symlink swapped in between cannot
 * move the act.
 *
 * Every function returns 0 or a positive errno unless it says otherwise.
 */
#ifndef WASMSUP_AS_CALLER_OPS_H
#define WASMSUP_AS_CALLER_OPS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What is done; the syscalls each stands for are decoded by src/emulate/as-caller-calls.ts. */
enum as_caller_op {
  AS_CALLER_MKNOD = 1,   /* mknod, mknodat: path, mode, dev */
  AS_CALLER_MKDIR = 2,   /* mkdir, mkdirat: path, mode */
  AS_CALLER_SYMLINK = 3, /* symlink, symlinkat: path = the link's content (never resolved), path2 = where */
  AS_CALLER_LINK = 4,    /* link, linkat: path = existing, path2 = new; flags AT_SYMLINK_FOLLOW */
  AS_CALLER_UNLINK = 5,  /* unlink, unlinkat, rmdir: path; flags AT_REMOVEDIR */
  AS_CALLER_RENAME = 6,  /* rename, renameat, renameat2: path, path2; flags RENAME_* */
  AS_CALLER_CHOWN = 7,   /* chown, lchown, fchown, fchownat: uid, gid; flags AT_SYMLINK_NOFOLLOW */
  AS_CALLER_CHMOD = 8,   /* chmod, fchmod, fchmodat: mode */
  AS_CALLER_SETXATTR = 9,     /* setxattr, lsetxattr, fsetxattr: name, value, xattr_flags */
  AS_CALLER_REMOVEXATTR = 10, /* removexattr, lremovexattr, fremovexattr: name */
  AS_CALLER_OPS = 11
};

/* as_caller_call.flags bits of the host's own (never a kernel flag word passed on unchecked). */
#define AS_CALLER_NOFOLLOW 0x100     /* = AT_SYMLINK_NOFOLLOW: the l* forms, fchownat's flag */
#define AS_CALLER_REMOVEDIR 0x200    /* = AT_REMOVEDIR: rmdir, unlinkat's flag */
#define AS_CALLER_FOLLOW 0x400       /* = AT_SYMLINK_FOLLOW: linkat's flag */
#define AS_CALLER_EMPTY_PATH 0x1000  /* = AT_EMPTY_PATH: act on the start fd itself (fchownat, linkat) */
#define AS_CALLER_BY_FD 0x10000      /* the f* forms: the caller's open file, the f* syscall's own checks */

struct as_caller_call {
  uint32_t op;
  uint32_t flags;       /* AS_CALLER_* above */
  uint32_t rename_flags; /* RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT, as the caller passed them */
  uint32_t mode, dev;
  uint32_t uid, gid;    /* as the acting thread's user namespace names them ((uint32_t)-1: unchanged) */
  uint32_t xattr_flags;
  const char *path;     /* NUL-terminated; NULL with AS_CALLER_BY_FD or AS_CALLER_EMPTY_PATH */
  const char *path2;    /* RENAME, LINK: the new path; SYMLINK: where the link goes */
  const char *name;     /* xattr name, NUL-terminated */
  const void *value;
  size_t value_length;
};

/* What resolution found: fds the resolver owns (as_caller_resolved_close), -1 when not used. */
struct as_caller_resolved {
  int dir, dir2;           /* O_PATH directory fds, for the entry ops */
  int dir_owned, dir2_owned;
  const char *last, *last2; /* their last components (pointers into the call's paths) */
  int target;              /* O_PATH fd of the inode (path forms), or the caller's own file (fd forms, not owned) */
  int target_owned;
};

void as_caller_resolved_init(struct as_caller_resolved *r);
void as_caller_resolved_close(struct as_caller_resolved *r);

/* Whether the op acts on an inode (chown, chmod, xattrs) rather than on directory entries. */
int as_caller_op_on_inode(uint32_t op);

/*
 * Resolves the call's path(s) once: start/start2 are the first/second path's start directory
 * (AT_FDCWD: the thread's cwd); target_fd the caller's open file for the f* and AT_EMPTY_PATH forms
 * (borrowed). On failure `r` may hold what was opened so far: as_caller_resolved_close.
 */
int as_caller_resolve(const struct as_caller_call *c, int start, int start2, int target_fd, struct as_caller_resolved *r);

/*
 * The step itself, on what as_caller_resolve found: the one table of raw syscalls (mknodat, mkdirat,
 * symlinkat, linkat, unlinkat, renameat2, fchownat/fchown, fchmodat/fchmod, setxattr/removexattr on
 * the directory fd and last component, or f*xattr on an open file). `own_proc`: the acting process
 * may reach its own /proc/self/fd (the helper, not chrooted), which is how an xattr is set on an
 * O_PATH fd of a path form without looking the name up again; chrooted threads (the fast way, an
 * impersonator) name the last component in its directory fd instead, as the caller.
 */
int as_caller_step(const struct as_caller_call *c, const struct as_caller_resolved *r, int own_proc);

/* as_caller_resolve then as_caller_step. With EPERM or EACCES and `keep` non-NULL, *keep holds what
 * was resolved (for a step with more capabilities); otherwise everything is closed. */
int as_caller_perform(const struct as_caller_call *c, int start, int start2, int target_fd, struct as_caller_resolved *keep);

#ifdef __cplusplus
}
#endif

#endif
