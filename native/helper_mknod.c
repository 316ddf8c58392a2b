/*
 * MKNOD, the exact path: the supervisor's worker thread creates most nodes itself, as the caller with
 * per-thread credentials (native/impersonate.cc), and sends here what it may not answer, EACCES or
 * EPERM, since the caller's capabilities in its own namespace may let it through where the worker,
 * holding none, was refused.
 *
 * Step 1, the caller's own view: an impersonator (helper_pool.c), or a child forked for the request,
 * takes on the caller and calls mknodat itself, so resolution, permission checks and errno are the
 * kernel's own for that caller. It looks the path's directory part up once, without magic links, and
 * asks mknodat in that directory fd (native/as_caller.h). EPERM there means only CAP_MKNOD in the
 * initial user namespace was missing: it passes that same directory fd back.
 *
 * Step 2, the create step, in the helper itself (create_as_caller): the caller's fsuid/fsgid, groups
 * and umask; CAP_MKNOD, and CAP_DAC_OVERRIDE for that one vetted directory. The path is never looked
 * up again: a second lookup, even as the caller, would find whatever a swapped symlink names by then.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helper.h"

/*
 * The kernel's own answer, for this process (the caller's ids, groups, umask and capabilities in its
 * namespace), to whether a node of `mode` created in `parent_fd` keeps S_ISGID: the same rule
 * (mode_strip_sgid: in the directory's group, or CAP_FSETID over its owner and group) applies to an
 * unnamed O_TMPFILE inode of the same permission bits, which never appears in the directory and is
 * gone at close. SETGID_UNKNOWN when the mode cannot lose the bit or the filesystem has no O_TMPFILE.
 */
int probe_setgid(int parent_fd, uint32_t mode) {
  if ((mode & (S_ISGID | S_IXGRP)) != (S_ISGID | S_IXGRP)) return SETGID_UNKNOWN;
  int fd = openat(parent_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, (mode_t)(mode & 07777));
  if (fd < 0) return SETGID_UNKNOWN;
  struct stat st;
  int answer = fstat(fd, &st) != 0 ? SETGID_UNKNOWN : (st.st_mode & S_ISGID) ? SETGID_KEPT : SETGID_STRIPPED;
  close(fd);
  return answer;
}

/* A child forked for one request, already the caller (become_caller): the caller's view of mknodat. */
static void mknod_child(int sock, const struct helper_request *req, const void *context) {
  (void)context;
  int parent_fd;
  int err = as_caller_mknodat(req->start_fd >= 0 ? req->start_fd : AT_FDCWD, req->path, req->mode, req->dev, &parent_fd);
  wire_send_answer(sock, err, parent_fd >= 0 ? probe_setgid(parent_fd, req->mode) : SETGID_UNKNOWN, parent_fd);
}

/*
 * The create step, in the helper itself (single-threaded, so whole-process credential switches are
 * safe; helper_own_credentials undoes them): in the helper's namespace, as the caller (fsuid/fsgid,
 * groups, umask) for everything that decides the new node's owner, group and mode. Its capabilities:
 * CAP_MKNOD, which the caller lacks only because it is not in the initial namespace; CAP_DAC_OVERRIDE,
 * because step 1 has already checked, as the caller and with the caller's own capabilities, that it
 * may create in exactly this directory (a namespace root may write its namespace's 0755 directories
 * of other users, which its fsuid alone could not); and CAP_FSETID only when the caller would keep a
 * setgid bit it asks for (`setgid`, from probe_setgid).
 */
static int create_as_caller(struct helper *h, const struct helper_request *req, int parent_fd, const char *name, int setgid) {
  /* CAP_FSETID here is the initial namespace's, which covers every directory, while the caller's
   * covers only those whose owner and group its namespace maps: the probe says which way the kernel
   * decides for the caller; without one, the caller's own capability is the guess. */
  uint32_t fsetid = req->cap_effective[0] & (1u << CAP_FSETID);
  if (setgid == SETGID_KEPT) fsetid = 1u << CAP_FSETID;
  if (setgid == SETGID_STRIPPED) fsetid = 0;
  int err = helper_create_identity(h, req, (1u << CAP_MKNOD) | (1u << CAP_DAC_OVERRIDE) | fsetid);
  if (err != 0) return err;
  mode_t saved_umask = umask(req->umask);
  err = as_caller_raw_mknodat(parent_fd, name, req->mode, req->dev);
  umask(saved_umask);
  return err;
}

int serve_mknod(struct helper *h, const struct helper_request *req) {
  int parent_fd, setgid = SETGID_UNKNOWN;
  int err = helper_pool_mknod(h, req, &parent_fd, &setgid);
  if (err == NEED_FORK) err = run_impersonating_child(h, req, mknod_child, NULL, &parent_fd, &setgid);
  if (err != EPERM || parent_fd < 0) {
    if (parent_fd >= 0) close(parent_fd);
    return err;
  }
  /* In the directory the caller was refused in, not in whatever the path names by now. */
  err = create_as_caller(h, req, parent_fd, req->path + as_caller_path_last(req->path), setgid);
  close(parent_fd);
  return err;
}
