/* The calls performed as the caller: see as_caller_ops.h for why each step is what it is. */
#include "as_caller_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "as_caller.h"

/* Newer than some build machines' headers; the numbers are the same on every architecture. */
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
#ifndef SYS_setxattrat
#define SYS_setxattrat 463
#endif
#ifndef SYS_removexattrat
#define SYS_removexattrat 466
#endif

/* struct xattr_args of setxattrat(2), spelled out for headers that predate it. */
struct as_caller_xattr_args {
  uint64_t value;
  uint32_t size;
  uint32_t flags;
};

void as_caller_resolved_init(struct as_caller_resolved *r) {
  r->dir = r->dir2 = r->target = -1;
  r->dir_owned = r->dir2_owned = r->target_owned = 0;
  r->last = r->last2 = NULL;
}

void as_caller_resolved_close(struct as_caller_resolved *r) {
  if (r->dir_owned && r->dir >= 0) close(r->dir);
  if (r->dir2_owned && r->dir2 >= 0) close(r->dir2);
  if (r->target_owned && r->target >= 0) close(r->target);
  as_caller_resolved_init(r);
}

int as_caller_op_on_inode(uint32_t op) {
  return op == AS_CALLER_CHOWN || op == AS_CALLER_CHMOD || op == AS_CALLER_SETXATTR || op == AS_CALLER_REMOVEXATTR;
}

/* What the kernel answers, before any lookup, for a path of slashes alone in an entry-making or
 * entry-removing position (its last component is the root: LAST_ROOT); 0 where it goes on. */
static int root_as_entry(const struct as_caller_call *c, int second) {
  switch (c->op) {
    case AS_CALLER_MKNOD:
    case AS_CALLER_MKDIR:
    case AS_CALLER_SYMLINK:
      return EEXIST;
    case AS_CALLER_LINK:
      return second ? EEXIST : 0; /* the old path is looked up as any: a directory, EPERM from linkat */
    case AS_CALLER_UNLINK:
      return (c->flags & AS_CALLER_REMOVEDIR) ? EBUSY : EISDIR;
    case AS_CALLER_RENAME:
      return EBUSY;
    default:
      return 0; /* an inode op: the root directory itself */
  }
}

/* The directory part of `path` opened once from `start`, and where its last component starts. A path
 * of slashes alone is "." in the root. *owned says whether *dir must be closed. */
static int resolve_entry(const struct as_caller_call *c, int second, int start, const char *path, int *dir, int *owned,
                         const char **last) {
  size_t at = as_caller_path_last(path);
  if (at == (size_t)-1) {
    int err = root_as_entry(c, second);
    if (err != 0) return err;
    int fd = as_caller_path_open(AT_FDCWD, "/", 1, O_PATH | O_DIRECTORY);
    if (fd < 0) return -fd;
    *dir = fd;
    *owned = 1;
    *last = ".";
    return 0;
  }
  *last = path + at;
  if (at == 0) {
    *dir = start;
    *owned = 0;
    return 0;
  }
  int fd = as_caller_path_open(start, path, at, O_PATH | O_DIRECTORY);
  if (fd < 0) return -fd;
  *dir = fd;
  *owned = 1;
  return 0;
}

int as_caller_resolve(const struct as_caller_call *c, int start, int start2, int target_fd, struct as_caller_resolved *r) {
  as_caller_resolved_init(r);
  if (c->op < AS_CALLER_MKNOD || c->op >= AS_CALLER_OPS) return EINVAL;
  if (c->flags & (AS_CALLER_BY_FD | AS_CALLER_EMPTY_PATH)) {
    /* The caller's open file (fchown, fsetxattr, ...) or the fd of an AT_EMPTY_PATH form (fchownat,
     * linkat), which may be O_PATH: the step's syscall gives the kernel's answer for it. */
    r->target = target_fd;
    if (target_fd < 0) return EBADF;
  } else if (c->op != AS_CALLER_SYMLINK) {
    int err = resolve_entry(c, 0, start, c->path, &r->dir, &r->dir_owned, &r->last);
    if (err != 0) return err;
  }
  if (c->op == AS_CALLER_SYMLINK || c->op == AS_CALLER_LINK || c->op == AS_CALLER_RENAME) {
    int err = resolve_entry(c, 1, start2, c->path2, &r->dir2, &r->dir2_owned, &r->last2);
    if (err != 0) return err;
  }
  if (as_caller_op_on_inode(c->op) && r->target < 0) {
    /* The inode itself, from the directory fd: followed unless the call says not to (lchown,
     * lsetxattr, AT_SYMLINK_NOFOLLOW), in the same root and never through a magic link. */
    int nofollow = (c->flags & AS_CALLER_NOFOLLOW) ? O_NOFOLLOW : 0;
    int fd = as_caller_path_open(r->dir, r->last, strlen(r->last), O_PATH | nofollow);
    if (fd < 0) return -fd;
    r->target = fd;
    r->target_owned = 1;
  }
  return 0;
}

static int rc_errno(long rc) {
  return rc < 0 ? errno : 0;
}

/* f*xattr can name an O_PATH fd only through the acting process's own /proc/self/fd. */
static void own_fd_link(char *buf, size_t size, int fd) {
  snprintf(buf, size, "/proc/self/fd/%d", fd);
}

int as_caller_step(const struct as_caller_call *c, const struct as_caller_resolved *r, int own_proc) {
  long rc;
  char link[48];
  const int by_fd = (c->flags & AS_CALLER_BY_FD) != 0;
  const int xattr_at = (c->flags & AS_CALLER_NOFOLLOW) ? AT_SYMLINK_NOFOLLOW : 0;
  do {
    switch (c->op) {
      case AS_CALLER_MKNOD:
        /* Raw, so the 32-bit dev reaches the kernel as the caller passed it. */
        rc = syscall(SYS_mknodat, r->dir, r->last, (unsigned long)c->mode, (unsigned long)c->dev);
        break;
      case AS_CALLER_MKDIR:
        rc = syscall(SYS_mkdirat, r->dir, r->last, (unsigned long)c->mode);
        break;
      case AS_CALLER_SYMLINK:
        rc = syscall(SYS_symlinkat, c->path, r->dir2, r->last2);
        break;
      case AS_CALLER_LINK:
        if (c->flags & AS_CALLER_EMPTY_PATH) {
          rc = syscall(SYS_linkat, r->target, "", r->dir2, r->last2, AT_EMPTY_PATH);
        } else {
          rc = syscall(SYS_linkat, r->dir, r->last, r->dir2, r->last2, (c->flags & AS_CALLER_FOLLOW) ? AT_SYMLINK_FOLLOW : 0);
        }
        break;
      case AS_CALLER_UNLINK:
        rc = syscall(SYS_unlinkat, r->dir, r->last, (c->flags & AS_CALLER_REMOVEDIR) ? AT_REMOVEDIR : 0);
        break;
      case AS_CALLER_RENAME:
        rc = syscall(SYS_renameat2, r->dir, r->last, r->dir2, r->last2, c->rename_flags);
        break;
      case AS_CALLER_CHOWN:
        rc = by_fd ? syscall(SYS_fchown, r->target, c->uid, c->gid)
                   : syscall(SYS_fchownat, r->target, "", c->uid, c->gid, AT_EMPTY_PATH);
        break;
      case AS_CALLER_CHMOD:
        rc = by_fd ? syscall(SYS_fchmod, r->target, (unsigned long)c->mode)
                   : syscall(SYS_fchmodat2, r->target, "", (unsigned long)c->mode, AT_EMPTY_PATH);
        break;
      case AS_CALLER_SETXATTR:
        if (by_fd) {
          rc = fsetxattr(r->target, c->name, c->value, c->value_length, (int)c->xattr_flags);
        } else if (own_proc) {
          own_fd_link(link, sizeof link, r->target);
          rc = setxattr(link, c->name, c->value, c->value_length, (int)c->xattr_flags);
        } else {
          struct as_caller_xattr_args args = {(uint64_t)(uintptr_t)c->value, (uint32_t)c->value_length, c->xattr_flags};
          rc = syscall(SYS_setxattrat, r->dir, r->last, xattr_at, c->name, &args, sizeof args);
        }
        break;
      case AS_CALLER_REMOVEXATTR:
        if (by_fd) {
          rc = fremovexattr(r->target, c->name);
        } else if (own_proc) {
          own_fd_link(link, sizeof link, r->target);
          rc = removexattr(link, c->name);
        } else {
          rc = syscall(SYS_removexattrat, r->dir, r->last, xattr_at, c->name);
        }
        break;
      default:
        errno = EINVAL;
        rc = -1;
    }
  } while (rc < 0 && errno == EINTR);
  return rc_errno(rc);
}

/* A borrowed fd made the keeper's own, so it outlives the request it came with. */
static int own_copy(int *fd, int *owned) {
  if (*fd < 0 || *owned) return 0;
  int copy = *fd == AT_FDCWD ? open(".", O_PATH | O_DIRECTORY | O_CLOEXEC) : fcntl(*fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return errno;
  *fd = copy;
  *owned = 1;
  return 0;
}

int as_caller_perform(const struct as_caller_call *c, int start, int start2, int target_fd, struct as_caller_resolved *keep) {
  struct as_caller_resolved r;
  int err = as_caller_resolve(c, start, start2, target_fd, &r);
  int stepped = err == 0;
  if (stepped) err = as_caller_step(c, &r, 0);
  /* Only a refused step is worth repeating: a refused lookup was refused before anything was found. */
  if (stepped && (err == EPERM || err == EACCES) && keep != NULL) {
    int copy_err = own_copy(&r.dir, &r.dir_owned);
    if (copy_err == 0) copy_err = own_copy(&r.dir2, &r.dir2_owned);
    if (copy_err == 0) copy_err = own_copy(&r.target, &r.target_owned);
    if (copy_err != 0) {
      as_caller_resolved_close(&r);
      return err;
    }
    *keep = r;
    return err;
  }
  if (keep != NULL) as_caller_resolved_init(keep);
  as_caller_resolved_close(&r);
  return err;
}
