/*
 * wasmsup-helper's parts and the one state they share (struct helper). The executable is
 * native/helper.c (main loop) and:
 *   helper_wire.{h,c}      the wire format (documented there) and fd passing
 *   helper_creds.c         its own credentials, the caller identity it creates with, and becoming a
 *                          caller for good in a forked child
 *   helper_child.c         a child forked for one request, and the time bound on every child
 *   helper_pool.c          the impersonators kept per caller identity (helper side)
 *   helper_impersonator.c  an impersonator's own loop (in the child, as the caller)
 *   helper_mknod.c         MKNOD: the caller's view, then the create step
 *   helper_setxattr.c      SETXATTR: the caller's check, then the helper's own setxattr
 *   helper_mount.c         MOUNT: the caller's source and target, then the mount in its namespace
 *   helper_as_caller.c     AS_CALLER: the caller's own call, then the lend step
 * The privileged steps themselves are the "as the caller" core's (native/as_caller.h), shared with
 * the addon. Only main and a forked child's top level exit; everything else returns an errno.
 */
#ifndef WASMSUP_HELPER_H
#define WASMSUP_HELPER_H

#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "as_caller.h"
#include "helper_wire.h"

/* The supervisor's socket in the helper; an impersonator's socket to the helper in an impersonator. */
#define SUPERVISOR_FD 3

#define IMPERSONATORS 8

/* One kept impersonator (helper_pool.c): a child that has taken on one caller identity for good. */
struct impersonator {
  pid_t pid; /* 0: free slot */
  int sock;
  int cpu; /* the only CPU it may run on (follow_cpu), -1 before the first request */
  unsigned long last_used;
  dev_t ns_dev;
  ino_t ns_ino;
  uint32_t uid[4], gid[4], ngroups;
  gid_t groups[WIRE_MAX_GROUPS];
};

/* helper_mount.c: one OP_MOUNT request, parsed (its fds borrowed) and served. */
struct mount_request {
  struct helper_request caller; /* ids, capabilities, root_fd, userns_fd, start_fd (the cwd) */
  int mntns_fd;
  int pidns_fd;  /* FUSE only, else -1 */
  int cgroup_fd; /* the caller's cgroup.procs (MOUNT_HAS_CGROUP), else -1 */
  int umount;
  uint32_t attr, flags;
  uint32_t tracked_count; /* umount: the mounts the supervisor tracks for this workload */
  uint64_t tracked[WIRE_MOUNT_MAX_TRACKED];
  char source[WIRE_MAX_PATH_LENGTH + 1], target[WIRE_MAX_PATH_LENGTH + 1], fstype[WIRE_MOUNT_FSTYPE_MAX + 1];
  char options[WIRE_MAX_PATH_LENGTH + 1];
  int source_fd, target_fd; /* step 1's fds, for step 2 */
};

/* The helper's state: one, made by main, passed to every part. */
struct helper {
  /* Its own credentials, put back before anything that needs them (a fork, a kill, a setxattr). */
  struct as_caller_own own;
  gid_t own_groups[WIRE_MAX_GROUPS];
  /* Set when they could not be put back: it then serves nothing more (main ends it; the supervisor
   * sees end of stream), since it would act with a caller's credentials. */
  int tainted;
  /* The caller identity it has switched to for creating (helper_creds.c), kept until it differs or
   * the helper needs its own credentials again: a container's successive mknods share it, and each
   * switch costs credential copies. */
  struct {
    int active;
    uint32_t fsuid, fsgid, ngroups, effective;
    gid_t groups[WIRE_MAX_GROUPS];
  } creating_as;
  struct impersonator pool[IMPERSONATORS];
  unsigned long pool_clock;
  /* What stat shows, in a caller's user namespace, for an owner or group that namespace does not map
   * (the kernel's overflowuid/overflowgid): read once, before any chroot (helper_setxattr.c). */
  struct {
    int read;
    uint32_t uid, gid;
  } overflow;
  /* The request being served and the message it came in (too large for the stack). */
  unsigned char message[(WIRE_MOUNT_MAX_REQUEST_BYTES > WIRE_MAX_REQUEST_BYTES ? WIRE_MOUNT_MAX_REQUEST_BYTES : WIRE_MAX_REQUEST_BYTES) + 1];
  struct helper_request request;
  struct mount_request mount;
};

/* helper_creds.c */
int helper_save_own_credentials(struct helper *h);
/* Puts the helper's own credentials back if it holds a caller's. 0, or -1 when the kernel refused
 * (then h->tainted, for good, and the reason is on stderr). */
int helper_own_credentials(struct helper *h);
/* Switches to the caller's fsuid, fsgid and groups with `effective` capabilities for the create
 * step, unless it already holds exactly those. 0 or EPERM. */
int helper_create_identity(struct helper *h, const struct helper_request *req, uint32_t effective);
/* In a forked child: the irreversible part of taking on the caller (groups, ids, user namespace,
 * every capability of that namespace permitted and effective). */
int become_identity(const struct helper_request *req);
/* In a forked child: all of the caller (root, cwd, identity, capabilities, umask). */
int become_caller(const struct helper_request *req);
int same_user_namespace_as_helper(int userns_fd);

/* helper_child.c */
/*
 * Exchanges with children are bounded in time. A child runs with the caller's ids in the caller's
 * user namespace, so the caller may SIGSTOP it (or leave it blocked in a filesystem it serves
 * itself); without a bound the helper, and with it the supervisor's worker and every later call,
 * would wait forever. One that has not answered in time is killed (SIGKILL; an impersonator is
 * replaced on the next request), and this request is answered EAGAIN (IMPERSONATOR_WEDGED_ERRNO):
 * the caller may retry. The supervisor's own bound on the helper (src/emulate/helper-client.ts) is
 * longer than the longest request here can take.
 */
#define IMPERSONATOR_TIMEOUT_MS 2000
#define IMPERSONATOR_WEDGED_ERRNO EAGAIN
/* 1 when `sock` has something to read (an answer, or end of stream) within the bound, else 0. */
int answer_within_bound(int sock);
/* The same within `timeout_ms` (the mount children's longer bound). */
int readable_within(int sock, int timeout_ms);
/* CLOCK_MONOTONIC in ms, for the deadlines above. */
long long monotonic_ms(void);
int wait_for(pid_t pid);
/*
 * How long a child that has answered gets to exit before it is killed. Answering is the last thing a
 * child does; but the caller can stop it between its answer and its exit, and an unbounded waitpid
 * would then hold the helper (and every call it serves) until the supervisor's bound kills it.
 */
#define ANSWERED_EXIT_MS 200
/* Reaps a child that has answered (run_bounded_child's *pid): within ANSWERED_EXIT_MS, else killed. */
int reap_answered(pid_t pid);
/* What a bounded child runs (run_bounded_child): answers on `sock`, then returns (the child exits). */
typedef void bounded_act(int sock, const void *arg);
/*
 * Forks a child from the helper's own credentials that runs `act(sock, arg)` on one end of a
 * socketpair (it never holds the supervisor's socket) and waits within `timeout_ms` for its answer.
 * 0: the answer is ready to read on *sock, and *pid is the child to reap (reap_answered);
 * else an errno, nothing left open: EPERM (own credentials), ENOMEM, or IMPERSONATOR_WEDGED_ERRNO after
 * a child that gave no answer in time was killed and reaped (logged as `what`).
 */
int run_bounded_child(struct helper *h, bounded_act *act, const void *arg, int timeout_ms, const char *what, int *sock,
                      pid_t *pid);
/* What a per-request child does once it is the caller: answers on `sock` (wire_send_answer). */
typedef void child_act(int sock, const struct helper_request *req, const void *context);
/* Forks a child that takes on the caller (become_caller) and runs `act` with `context`; returns that
 * errno and the fd it passed back (or -1), or EPERM when it gave no answer. */
int run_impersonating_child(struct helper *h, const struct helper_request *req, child_act *act, const void *context,
                            int *fd, int *setgid);
/* The same with up to `max_fds` fds passed back (fds[0..*nfds), the receiver's to close) and the
 * answer's second word in *word. */
int run_impersonating_child_fds(struct helper *h, const struct helper_request *req, child_act *act, const void *context,
                                int *fds, size_t max_fds, size_t *nfds, int *word);

/* helper_pool.c */
void helper_pool_watch_children(void);
/* Frees the slots of impersonators that ended by themselves (idle), so no zombie waits for reuse. */
void helper_pool_reap(struct helper *h);
/* The caller's own view of mknodat through the impersonator kept for its identity: errno, or EPERM
 * with the parent directory's fd and the setgid probe. NEED_FORK when no impersonator could serve it. */
int helper_pool_mknod(struct helper *h, const struct helper_request *req, int *parent_fd, int *setgid);

/* helper_impersonator.c: an impersonator's life after the fork; its exit status. */
int impersonator_main(int sock, const struct helper_request *req);

/* helper_mknod.c */
int probe_setgid(int parent_fd, uint32_t mode);
int serve_mknod(struct helper *h, const struct helper_request *req);

int wire_parse_mount(const unsigned char *buf, size_t length, const int *fds, size_t nfds, struct mount_request *m);
/* 0 or the errno; *mnt_id the mount's id. */
int serve_mount(struct helper *h, struct mount_request *m, uint64_t *mnt_id);

/* helper_setxattr.c */
int serve_setxattr(struct helper *h, const struct helper_request *req);
/* The kernel's overflowuid/overflowgid into h->overflow, read once (before any chroot). */
void helper_read_overflow_ids(struct helper *h);

/* helper_getxattr.c */
int serve_getxattr(struct helper *h, const struct helper_request *req);
/* OP_GETXATTR's answer message for errno `err` (helper_wire.h) in *message; its length. */
size_t getxattr_answer(int err, const void **message);

/* helper_as_caller.c */
int serve_as_caller(struct helper *h, const struct helper_request *req);

#endif
