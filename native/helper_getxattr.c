/*
 * GETXATTR (OP_GETXATTR): reading back the trusted.* names the supervisor manages (those SETXATTR
 * sets), which the kernel hides from a user namespace's root (getxattr ENODATA, listxattr omits them).
 *
 * A child takes on the caller, finds the file once inside its root (O_PATH, O_NOFOLLOW for the l*
 * forms; no magic links) or takes the caller's own open file, and decides whether the caller's
 * CAP_SYS_ADMIN (checked by the supervisor) stands in for the initial namespace's here, as SETXATTR
 * does: only over an inode whose owner and group its namespace maps, and only when the caller may
 * read the file (the rule the kernel applies to user.*; SETXATTR asks for write permission). For a
 * list it also takes the caller's own list, as the kernel gives it to the caller (the child is the
 * caller: nothing of the host's view, no name the caller could not see). It passes back the O_PATH
 * fd, and the list in a memfd. The helper itself, with CAP_SYS_ADMIN of the initial namespace, then
 * reads the managed names on exactly that inode (through the fd, never by re-resolving the path):
 *   GET:  the value (ENODATA when the name is absent or the caller's capability does not count);
 *   LIST: the caller's own list, then each managed name present and not already listed.
 * Which names are managed is the supervisor's decision (src/emulate/getxattr.ts); the helper reads
 * no other name. Sizes, ERANGE and the write into the caller are the supervisor's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "helper.h"

#ifndef SYS_faccessat2
#define SYS_faccessat2 439
#endif

/* The child's word: the managed names are visible to this caller on this inode. */
#define GETXATTR_VISIBLE 1

struct getxattr_context {
  uint32_t overflow_uid, overflow_gid;
  int caller_in_helper_namespace;
};

/* The answer to the supervisor: errno, length, bytes (helper_wire.h, OP_GETXATTR). */
static struct {
  int32_t err;
  uint32_t length;
  unsigned char bytes[GETXATTR_ANSWER_LIMIT];
} answer;

/* The caller's own list, in the child (static: 64 KiB is no stack object). */
static char own_list[GETXATTR_ANSWER_LIMIT];

/* The child's list memfd: the caller's list, or -errno. */
static int list_into_memfd(const struct helper_request *req) {
  ssize_t n;
  if (req->target_fd >= 0) {
    n = flistxattr(req->target_fd, own_list, sizeof own_list);
  } else if (req->at_flags & AT_SYMLINK_NOFOLLOW) {
    /* A second lookup of the path, but by the caller itself (this child, chrooted, with its ids and
     * namespace): it can name only what the caller could. See docs/policy-abi.md, GETXATTR. */
    n = llistxattr(req->path, own_list, sizeof own_list);
  } else {
    n = listxattr(req->path, own_list, sizeof own_list);
  }
  if (n < 0) return -errno;
  int memfd = (int)syscall(SYS_memfd_create, "wasmsup-xattr-list", MFD_CLOEXEC);
  if (memfd < 0) return -errno;
  if (n > 0 && write(memfd, own_list, (size_t)n) != n) {
    int err = errno != 0 ? errno : EIO;
    close(memfd);
    return -err;
  }
  return memfd;
}

/*
 * The child, already the caller. Answers errno (lookup errors are the kernel's own), word
 * GETXATTR_VISIBLE or 0, and fds: the O_PATH fd it opened (path forms), then the list memfd (LIST).
 */
static void getxattr_child(int sock, const struct helper_request *req, const void *context) {
  const struct getxattr_context *ctx = context;
  int fd = req->target_fd, opened = -1;
  if (fd < 0) {
    int nofollow = (req->at_flags & AT_SYMLINK_NOFOLLOW) ? O_NOFOLLOW : 0;
    opened = as_caller_path_open(AT_FDCWD, req->path, strlen(req->path), O_PATH | nofollow);
    if (opened < 0) {
      wire_send_answer(sock, -opened, 0, -1);
      return;
    }
    fd = opened;
  }
  struct statx st;
  int visible = 0;
  if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_UID | STATX_GID, &st) < 0) {
    wire_send_answer(sock, errno, 0, -1);
    if (opened >= 0) close(opened);
    return;
  }
  /* The capability counts only over an inode its namespace maps (capable_wrt_inode_uidgid), and the
   * caller must be able to read the file (as for user.*): else the kernel's answer to a caller
   * without the capability, the names hidden. */
  int mapped = (st.stx_mask & (STATX_UID | STATX_GID)) == (STATX_UID | STATX_GID) &&
               (ctx->caller_in_helper_namespace || (st.stx_uid != ctx->overflow_uid && st.stx_gid != ctx->overflow_gid));
  if (mapped && syscall(SYS_faccessat2, fd, "", R_OK, AT_EMPTY_PATH | AT_EACCESS) == 0) visible = GETXATTR_VISIBLE;
  int fds[2];
  size_t nfds = 0;
  if (opened >= 0) fds[nfds++] = opened;
  if (req->xattr_flags == GETXATTR_LIST_REQUEST) {
    int memfd = list_into_memfd(req);
    if (memfd < 0) {
      wire_send_answer(sock, -memfd, 0, -1);
      if (opened >= 0) close(opened);
      return;
    }
    fds[nfds++] = memfd;
  }
  wire_send_answer_fds(sock, 0, visible, fds, nfds);
  for (size_t k = 0; k < nfds; k++) close(fds[k]);
}

/* Whether `list[0..length)` (NUL-terminated names) holds `name`. */
static int listed(const unsigned char *list, size_t length, const char *name, size_t name_length) {
  for (size_t at = 0; at < length;) {
    const unsigned char *end = memchr(list + at, '\0', length - at);
    size_t n = end == NULL ? length - at : (size_t)(end - (list + at));
    if (n == name_length && memcmp(list + at, name, n) == 0) return 1;
    at += n + 1;
  }
  return 0;
}

/* The helper's getxattr on the vetted inode, with its own CAP_SYS_ADMIN: size or -errno. */
static ssize_t read_managed(int target, int by_magic_link, const char *name, void *buf, size_t size) {
  ssize_t n;
  if (by_magic_link) {
    /* An O_PATH fd is refused by fgetxattr, but its /proc/self/fd magic link reaches the inode itself
     * (a symlink's own, for the l* forms' O_NOFOLLOW fd). */
    char link[48];
    snprintf(link, sizeof link, "/proc/self/fd/%d", target);
    n = getxattr(link, name, buf, size);
  } else {
    n = fgetxattr(target, name, buf, size);
  }
  return n < 0 ? -errno : n;
}

/* The caller's own list from the child's memfd into the answer; 0 or errno. */
static int take_own_list(int memfd) {
  struct stat st;
  if (fstat(memfd, &st) < 0) return errno;
  /* The child is the caller: its list is the caller's business, but never more than fits. */
  if (st.st_size < 0 || st.st_size > GETXATTR_LIST_MAX) return E2BIG;
  ssize_t n = pread(memfd, answer.bytes, (size_t)st.st_size, 0);
  if (n != st.st_size) return EIO;
  if (n > 0 && answer.bytes[n - 1] != '\0') return EIO;
  answer.length = (uint32_t)n;
  return 0;
}

static int serve(struct helper *h, const struct helper_request *req) {
  helper_read_overflow_ids(h);
  const struct getxattr_context context = {h->overflow.uid, h->overflow.gid, same_user_namespace_as_helper(req->userns_fd)};
  const int list = req->xattr_flags == GETXATTR_LIST_REQUEST;
  const size_t expected = (req->target_fd < 0 ? 1u : 0u) + (list ? 1u : 0u);
  int fds[2] = {-1, -1};
  size_t nfds = 0;
  int visible = 0;
  int err = run_impersonating_child_fds(h, req, getxattr_child, &context, fds, 2, &nfds, &visible);
  if (err == 0 && nfds != expected) err = EPERM;
  /* Reading trusted.* takes the helper's own CAP_SYS_ADMIN. */
  if (err == 0 && helper_own_credentials(h) != 0) err = EPERM;
  if (err == 0) {
    const int by_link = req->target_fd < 0;
    const int target = by_link ? fds[0] : req->target_fd;
    if (!list) {
      ssize_t n = visible ? read_managed(target, by_link, req->name, answer.bytes, GETXATTR_VALUE_MAX) : -ENODATA;
      if (n < 0) err = (int)-n;
      else answer.length = (uint32_t)n;
    } else if ((err = take_own_list(fds[nfds - 1])) == 0 && visible) {
      /* Each managed name (NUL-separated in req->name) present on the inode and not yet listed. */
      for (size_t at = 0; at < req->name_length && err == 0;) {
        const char *name = req->name + at;
        size_t n = strlen(name);
        if (!listed(answer.bytes, answer.length, name, n) && read_managed(target, by_link, name, NULL, 0) >= 0) {
          if (answer.length + n + 1 > GETXATTR_LIST_MAX) err = E2BIG; /* the kernel's XATTR_LIST_MAX */
          else {
            memcpy(answer.bytes + answer.length, name, n + 1);
            answer.length += (uint32_t)(n + 1);
          }
        }
        at += n + 1;
      }
    }
  }
  for (size_t k = 0; k < nfds; k++) close(fds[k]);
  return err;
}

int serve_getxattr(struct helper *h, const struct helper_request *req) {
  answer.length = 0;
  int err = serve(h, req);
  if (err != 0) answer.length = 0;
  return err;
}

size_t getxattr_answer(int err, const void **message) {
  answer.err = err;
  if (err != 0) answer.length = 0;
  *message = &answer;
  return 8 + answer.length;
}
