/*
 * wasmsup-helper's credentials: its own, which it saves once and puts back before anything that needs
 * them; the caller identity it switches to for the create step (whole-process switches, safe in this
 * single-threaded process); and, in a forked child only, taking on a caller for good.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helper.h"

int helper_save_own_credentials(struct helper *h) {
  h->own.groups = h->own_groups;
  h->own.groups_capacity = WIRE_MAX_GROUPS;
  return as_caller_save_own(&h->own);
}

int helper_own_credentials(struct helper *h) {
  if (h->tainted) return -1;
  if (!h->creating_as.active) return 0;
  h->creating_as.active = 0;
  int err = as_caller_restore(&h->own, 1);
  if (err == 0) return 0;
  h->tainted = 1;
  fprintf(stderr, "wasmsup-helper: cannot restore its own credentials: %s\n", strerror(err));
  return -1;
}

int helper_create_identity(struct helper *h, const struct helper_request *req, uint32_t effective) {
  if (h->creating_as.active && h->creating_as.fsuid == req->uid[3] && h->creating_as.fsgid == req->gid[3] &&
      h->creating_as.effective == effective && h->creating_as.ngroups == req->ngroups &&
      memcmp(h->creating_as.groups, req->groups, req->ngroups * sizeof(gid_t)) == 0) {
    return 0;
  }
  if (helper_own_credentials(h) != 0) return EPERM;
  h->creating_as.active = 1; /* from here on, something may need undoing */
  h->creating_as.ngroups = 0;
  h->creating_as.effective = 0; /* matches no request until the switch is complete */
  const struct as_caller_identity caller = {req->uid[3], req->gid[3], req->ngroups, req->groups, effective};
  const char *failed;
  if (as_caller_switch(&h->own, &caller, 1, &failed) != 0) {
    helper_own_credentials(h);
    return EPERM;
  }
  h->creating_as.fsuid = req->uid[3];
  h->creating_as.fsgid = req->gid[3];
  h->creating_as.ngroups = req->ngroups;
  memcpy(h->creating_as.groups, req->groups, req->ngroups * sizeof(gid_t));
  h->creating_as.effective = effective;
  return 0;
}

/* Raises every permitted capability into the effective set (undone by setresuid/setfsuid). */
static int raise_permitted(void) {
  struct __user_cap_data_struct caps[2];
  int err = as_caller_capget(caps);
  if (err != 0) return err;
  for (int i = 0; i < 2; i++) caps[i].effective = caps[i].permitted;
  return as_caller_capset(caps);
}

/*
 * The helper's own user namespace, looked up once while /proc/self is still the helper's: after
 * as_caller_enter_root a child sees the caller's root, whose /proc (a container's, of another pid
 * namespace) has no /proc/self for it, and a caller in the helper's own namespace (a container
 * without a user namespace) would be sent to setns() into it: EINVAL.
 */
static struct stat own_userns;
static int own_userns_known;

static void note_own_user_namespace(void) {
  if (!own_userns_known && stat("/proc/self/ns/user", &own_userns) == 0) own_userns_known = 1;
}

int same_user_namespace_as_helper(int userns_fd) {
  struct stat theirs;
  note_own_user_namespace();
  if (!own_userns_known || fstat(userns_fd, &theirs) < 0) return 0;
  return theirs.st_ino == own_userns.st_ino && theirs.st_dev == own_userns.st_dev;
}

/* Irreversible and process-wide (glibc's set*id), hence only ever in a forked, single-threaded child. */
int become_identity(const struct helper_request *req) {
  if (setgroups(req->ngroups, req->groups) < 0) return errno;
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return errno;
  if (setresgid(req->gid[0], req->gid[1], req->gid[2]) < 0) return errno;
  if (setresuid(req->uid[0], req->uid[1], req->uid[2]) < 0) return errno;
  int err = raise_permitted();
  if (err != 0) return err;
  setfsgid(req->gid[3]);
  setfsuid(req->uid[3]);
  if ((uint32_t)setfsgid((gid_t)-1) != req->gid[3] || (uint32_t)setfsuid((uid_t)-1) != req->uid[3]) return EPERM;
  /* Re-raised because setfsuid() to a non-zero id drops the file-system capabilities. */
  err = raise_permitted();
  if (err != 0) return err;
  /* setns() into the namespace we are already in is EINVAL: a caller in the initial namespace needs none. */
  if (!same_user_namespace_as_helper(req->userns_fd) && setns(req->userns_fd, CLONE_NEWUSER) < 0) return errno;
  return 0;
}

int become_caller(const struct helper_request *req) {
  const char *failed;
  note_own_user_namespace(); /* before the caller's root hides our /proc/self */
  int err = as_caller_enter_root(req->root_fd, &failed);
  if (err != 0) return err;
  if (req->start_fd >= 0 && fchdir(req->start_fd) < 0) return errno;
  err = become_identity(req);
  if (err != 0) return err;
  err = as_caller_capset_words(req->cap_effective, req->cap_permitted, req->cap_inheritable);
  if (err != 0) return err;
  umask(req->umask);
  return 0;
}
