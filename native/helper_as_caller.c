/*
 * AS_CALLER, the exact way (src/emulate/as-caller.ts sends here what its fast way could not answer:
 * EACCES or EPERM, which the caller's capabilities in its own namespace may turn into a success).
 *
 * Step 1, the caller's own view: a child forked for the request takes on all of the caller
 * (become_caller: its root, ids, groups, user namespace, capabilities there, umask) and performs the
 * call itself (as_caller_perform: each path's directory part looked up once, the step on those fds),
 * so resolution, permission checks and the errno are the kernel's own for that caller. Refused EPERM
 * or EACCES, it passes back the very fds it resolved (directories, and the inode for chown, chmod and
 * the xattrs).
 *
 * Step 2, the lend step, only when the policy lent capabilities (within the operator's cap, checked
 * by the supervisor): the helper itself repeats the step on exactly those fds with the caller's fsuid,
 * fsgid, groups and umask and, as effective capabilities, only the lent ones, in the initial user
 * namespace (so uid/gid arguments are the caller's mapped into it: host_uid, host_gid). Nothing is
 * looked up again, except linkat's AT_SYMLINK_FOLLOW of an old path, which would follow a symlink in
 * the helper's own view of the tree: that is never repeated (the caller's answer stands).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "as_caller_ops.h"
#include "helper.h"

/* The call a request describes; uid and gid as `host` says (the caller's namespace's, or mapped). */
static void call_of(const struct helper_request *req, int host, struct as_caller_call *c) {
  memset(c, 0, sizeof *c);
  c->op = req->call_op;
  c->flags = req->call_flags;
  c->rename_flags = req->rename_flags;
  c->mode = req->mode;
  c->dev = req->dev;
  c->uid = host ? req->host_uid : req->call_uid;
  c->gid = host ? req->host_gid : req->call_gid;
  c->xattr_flags = req->xattr_flags;
  c->path = req->path[0] != '\0' ? req->path : NULL;
  c->path2 = req->path2;
  c->name = req->name;
  c->value = req->value;
  c->value_length = req->value_length;
}

/* Which fds an answer carries, in this order, as bits of its second word. */
#define HAS_DIR 1
#define HAS_DIR2 2
#define HAS_TARGET 4

/* The child, already the caller: the call as the kernel would do it for the caller. */
static void as_caller_child(int sock, const struct helper_request *req, const void *context) {
  (void)context;
  struct as_caller_call c;
  call_of(req, 0, &c);
  int start = c.path != NULL && c.path[0] != '/' && req->start_fd >= 0 ? req->start_fd : AT_FDCWD;
  int start2 = req->path2[0] != '/' && req->start2_fd >= 0 ? req->start2_fd : AT_FDCWD;
  struct as_caller_resolved kept;
  int err = as_caller_perform(&c, start, start2, req->target_fd, &kept);
  int fds[3];
  size_t nfds = 0;
  int has = 0;
  if (err == EPERM || err == EACCES) {
    if (kept.dir >= 0) { fds[nfds++] = kept.dir; has |= HAS_DIR; }
    if (kept.dir2 >= 0) { fds[nfds++] = kept.dir2; has |= HAS_DIR2; }
    if (kept.target >= 0 && kept.target_owned) { fds[nfds++] = kept.target; has |= HAS_TARGET; }
  }
  wire_send_answer_fds(sock, err, has, fds, nfds);
  if (err == EPERM || err == EACCES) as_caller_resolved_close(&kept);
}

/* Whether the step, repeated outside the caller's root, would look a name up: never lent then. */
static int step_looks_up(const struct as_caller_call *c) {
  return c->op == AS_CALLER_LINK && (c->flags & AS_CALLER_FOLLOW) && !(c->flags & AS_CALLER_EMPTY_PATH);
}

/* The lend step on what the child resolved; the errno the caller sees. `refused`: the child's. */
static int lend_step(struct helper *h, const struct helper_request *req, int refused, const int *fds, size_t nfds, int has) {
  struct as_caller_call c;
  call_of(req, 1, &c);
  if (step_looks_up(&c)) return refused;
  /* An id the caller's namespace does not map: the caller had its EINVAL, never EPERM; guard anyway. */
  if (c.op == AS_CALLER_CHOWN && ((req->call_uid != (uint32_t)-1 && c.uid == (uint32_t)-1) ||
                                  (req->call_gid != (uint32_t)-1 && c.gid == (uint32_t)-1))) {
    return EINVAL;
  }
  struct as_caller_resolved r;
  as_caller_resolved_init(&r);
  size_t next = 0;
  if (has & HAS_DIR) r.dir = fds[next++];
  if (has & HAS_DIR2) r.dir2 = fds[next++];
  if (has & HAS_TARGET) r.target = fds[next++];
  if (next != nfds) return refused;
  if (c.flags & (AS_CALLER_BY_FD | AS_CALLER_EMPTY_PATH)) r.target = req->target_fd;
  /* The last components, as the child split them (the same paths, the same rule). */
  if (c.path != NULL && c.op != AS_CALLER_SYMLINK && !(c.flags & (AS_CALLER_BY_FD | AS_CALLER_EMPTY_PATH))) {
    size_t at = as_caller_path_last(c.path);
    r.last = at == (size_t)-1 ? "." : c.path + at;
  }
  if (c.op == AS_CALLER_SYMLINK || c.op == AS_CALLER_LINK || c.op == AS_CALLER_RENAME) {
    size_t at = as_caller_path_last(c.path2);
    r.last2 = at == (size_t)-1 ? "." : c.path2 + at;
  }
  /* Every fd the step will name must have come back. */
  int entry = !as_caller_op_on_inode(c.op);
  if ((entry && c.op != AS_CALLER_SYMLINK && !(c.flags & AS_CALLER_EMPTY_PATH) && r.dir < 0) ||
      ((c.op == AS_CALLER_SYMLINK || c.op == AS_CALLER_LINK || c.op == AS_CALLER_RENAME) && r.dir2 < 0) ||
      (!entry && r.target < 0) || ((c.flags & AS_CALLER_EMPTY_PATH) && r.target < 0)) {
    return refused;
  }
  int err = helper_create_identity(h, req, req->lend);
  if (err != 0) return err;
  mode_t saved_umask = umask(req->umask);
  err = as_caller_step(&c, &r, 1);
  umask(saved_umask);
  return err;
}

int serve_as_caller(struct helper *h, const struct helper_request *req) {
  if (req->call_op < AS_CALLER_MKNOD || req->call_op >= AS_CALLER_OPS) return EINVAL;
  int fds[3];
  size_t nfds;
  int has;
  int err = run_impersonating_child_fds(h, req, as_caller_child, NULL, fds, 3, &nfds, &has);
  if ((err == EPERM || err == EACCES) && req->lend != 0) err = lend_step(h, req, err, fds, nfds, has);
  wire_close_fds(fds, nfds);
  return err;
}
