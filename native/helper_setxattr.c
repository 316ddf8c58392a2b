/*
 * SETXATTR (and removexattr of the same names, XATTR_REMOVE_REQUEST): a child takes on the caller, resolves the path once inside its root (O_PATH, O_NOFOLLOW for
 * lsetxattr; no magic links) and checks what the kernel would check for the caller's setxattr, its
 * namespace's CAP_SYS_ADMIN standing in for the initial one's only over inodes that namespace maps
 * (setxattr_child). It passes the O_PATH fd back and the helper itself, with CAP_SYS_ADMIN in the
 * initial namespace (what trusted.* needs), sets the xattr on exactly that inode (through the fd,
 * never by re-resolving the path). Which names and values may be set is the supervisor's decision
 * (src/emulate/setxattr.ts); the helper only checks the sizes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "helper.h"

#ifndef SYS_faccessat2
#define SYS_faccessat2 439
#endif

/* What the child needs to know that it can no longer find out once it is the caller. */
struct setxattr_context {
  /* The kernel's overflowuid/overflowgid (65534 unless changed): what stat shows, in the caller's
   * user namespace, for an owner or group that namespace does not map. */
  uint32_t overflow_uid, overflow_gid;
  /* The caller shares the helper's user namespace, where the helper's own setxattr decides the
   * capability question itself: no overflow id to tell apart there. */
  int caller_in_helper_namespace;
};

/* Read once by the helper, before any chroot, and handed to every child. */
void helper_read_overflow_ids(struct helper *h) {
  if (h->overflow.read) return;
  h->overflow.read = 1;
  h->overflow.uid = h->overflow.gid = 65534;
  const char *files[2] = {"/proc/sys/kernel/overflowuid", "/proc/sys/kernel/overflowgid"};
  uint32_t *ids[2] = {&h->overflow.uid, &h->overflow.gid};
  for (int k = 0; k < 2; k++) {
    FILE *f = fopen(files[k], "re");
    unsigned value;
    if (f != NULL && fscanf(f, "%u", &value) == 1) *ids[k] = value;
    if (f != NULL) fclose(f);
  }
}

/*
 * SETXATTR's child, already the caller: finds the file and checks, as the caller, what the kernel
 * checks for a setxattr, in the kernel's order, the one thing standing in being the capability:
 * trusted.* needs CAP_SYS_ADMIN of the initial namespace, for which the emulation accepts the caller's
 * own namespace's (checked by the supervisor), and, as for every capability of a user namespace acting
 * on an inode (capable_wrt_inode_uidgid), only over an inode whose owner and group that namespace maps:
 *   1. a read-only mount or file system: EROFS (mnt_want_write);
 *   2. an immutable or append-only inode: EPERM (may_write_xattr);
 *   3. an owner or group the caller's namespace does not map: EPERM (the capability does not count);
 *   4. write permission with the caller's effective ids and capabilities (inode_permission): EACCES...
 * The same for setxattr, lsetxattr and fsetxattr. A symlink (lsetxattr's O_NOFOLLOW) has mode 0777,
 * so 4 alone would let the caller mark any symlink it can reach: 3 is what fences it.
 * (In another user namespace than the helper's, an inode whose owner or group is mapped to exactly
 * the overflow id looks unmapped and is refused: failing closed where stat cannot tell the two apart.)
 */
static void setxattr_child(int sock, const struct helper_request *req, const void *context) {
  const struct setxattr_context *ctx = context;
  int err = 0;
  int fd = req->target_fd, opened = -1;
  if (fd < 0) {
    int nofollow = (req->at_flags & AT_SYMLINK_NOFOLLOW) ? O_NOFOLLOW : 0;
    /* No magic links: this child's /proc/self is not the caller (native/as_caller.h). */
    opened = as_caller_path_open(AT_FDCWD, req->path, strlen(req->path), O_PATH | nofollow);
    if (opened < 0) {
      wire_send_answer(sock, -opened, SETGID_UNKNOWN, -1);
      return;
    }
    fd = opened;
  }
  struct statvfs fs;
  struct statx st;
  if (fstatvfs(fd, &fs) < 0 || statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_UID | STATX_GID, &st) < 0) {
    err = errno;
  } else if (fs.f_flag & ST_RDONLY) {
    err = EROFS;
  } else if (st.stx_attributes & (STATX_ATTR_IMMUTABLE | STATX_ATTR_APPEND)) {
    err = EPERM;
  } else if ((st.stx_mask & (STATX_UID | STATX_GID)) != (STATX_UID | STATX_GID) ||
             (!ctx->caller_in_helper_namespace && (st.stx_uid == ctx->overflow_uid || st.stx_gid == ctx->overflow_gid))) {
    err = EPERM;
  } else if (syscall(SYS_faccessat2, fd, "", W_OK, AT_EMPTY_PATH | AT_EACCESS) < 0) {
    err = errno;
  }
  wire_send_answer(sock, err, SETGID_UNKNOWN, err == 0 ? opened : -1);
}

int serve_setxattr(struct helper *h, const struct helper_request *req) {
  /* Setting trusted.* takes the helper's own CAP_SYS_ADMIN. */
  if (helper_own_credentials(h) != 0) return EPERM;
  helper_read_overflow_ids(h);
  const struct setxattr_context context = {h->overflow.uid, h->overflow.gid, same_user_namespace_as_helper(req->userns_fd)};
  int opened;
  int err = run_impersonating_child(h, req, setxattr_child, &context, &opened, NULL);
  int target = req->target_fd >= 0 ? req->target_fd : opened;
  if (err == 0 && target < 0) err = EPERM;
  if (err == 0) {
    /* The helper's own credentials: CAP_SYS_ADMIN in the initial user namespace, which trusted.*
     * requires. The inode is the one the caller-impersonating child found, not a path re-resolved. */
    const int remove = req->xattr_flags == XATTR_REMOVE_REQUEST;
    if (req->target_fd >= 0) {
      if ((remove ? fremovexattr(target, req->name) : fsetxattr(target, req->name, req->value, req->value_length, (int)req->xattr_flags)) < 0) {
        err = errno;
      }
    } else {
      /* An O_PATH fd is refused by fsetxattr and setxattrat(AT_EMPTY_PATH), but its /proc/self/fd
       * magic link reaches the inode itself (a symlink's own, for lsetxattr's O_NOFOLLOW fd). */
      char link[48];
      snprintf(link, sizeof link, "/proc/self/fd/%d", target);
      if ((remove ? removexattr(link, req->name) : setxattr(link, req->name, req->value, req->value_length, (int)req->xattr_flags)) < 0) {
        err = errno;
      }
    }
  }
  if (opened >= 0) close(opened);
  return err;
}
