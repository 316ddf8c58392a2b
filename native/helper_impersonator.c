/*
 * An impersonator's own life, in the child the pool forked (helper_pool.c). It takes on the caller's
 * ids and groups and enters its user namespace exactly as a per-request child does (become_identity:
 * irreversible steps, hence one process per identity), keeping every capability of that namespace as
 * permitted. Per request it switches only what is reversible: chroot into the caller's root (and back
 * out through a saved fd of its own root, which CAP_SYS_CHROOT in that namespace allows, when the next
 * request has another root), umask, and the effective capabilities (set to the caller's; permitted
 * keeps every capability of the namespace, so they can be raised again for the next chroot). Then it
 * asks mknodat as the caller (as_caller_mknodat), and with EPERM probes the setgid rule there and
 * passes the directory fd back. The start directory is used as mknodat's dirfd rather than by fchdir,
 * which would check a search permission the kernel does not check for a cwd or dirfd.
 *
 * An idle impersonator lets go of the caller's root after a second (while chrooted there it keeps
 * that mount alive) and ends after a minute (it keeps the caller's user namespace alive).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "helper.h"

#define HELPER_FD SUPERVISOR_FD     /* its socket to the helper, at the fd where the helper has the supervisor's */
#define OWN_ROOT_FD (HELPER_FD + 1) /* its own root, to leave a caller's by */
#define IMPERSONATOR_IDLE_SECONDS 60

/* impersonate_once: it could not become itself again and must end. */
#define BROKEN (-4)

/*
 * What it has switched to, kept between requests: successive requests from one container usually
 * share its root and capabilities, and every chroot or capset costs a credential copy, so each is
 * redone only when it differs. A root is the same when its mount and inode are (as_caller_root).
 */
struct held {
  struct __user_cap_data_struct full[2]; /* every capability of its namespace */
  int in_root;
  struct as_caller_root root;
  uint32_t effective[2];
};

static int set_effective(const uint32_t effective[2], const struct held *held) {
  const uint32_t none[2] = {0, 0};
  const uint32_t permitted[2] = {held->full[0].permitted, held->full[1].permitted};
  return as_caller_capset_words(effective, permitted, none);
}

/* Back to its own root with every capability. */
static int leave_root(struct held *held) {
  const uint32_t all[2] = {held->full[0].permitted, held->full[1].permitted};
  if ((held->effective[0] != all[0] || held->effective[1] != all[1]) && set_effective(all, held) != 0) return -1;
  held->effective[0] = all[0];
  held->effective[1] = all[1];
  const char *failed;
  if (held->in_root && as_caller_enter_root(OWN_ROOT_FD, &failed) != 0) return -1;
  held->in_root = 0;
  return 0;
}

/* Serves one request as the caller: its root, umask and effective capabilities, then mknodat. An
 * errno, NEED_FORK when it cannot set up for this request, or BROKEN. */
static int impersonate_once(struct held *held, const struct impersonation *im, const char *path, int root_fd, int start_fd,
                            int *parent_fd) {
  *parent_fd = -1;
  struct as_caller_root root;
  if (as_caller_root_of(root_fd, &root) != 0) return NEED_FORK;
  if (!held->in_root || !as_caller_same_root(&held->root, &root)) {
    if (leave_root(held) != 0) return BROKEN;
    const char *failed;
    if (as_caller_enter_root(root_fd, &failed) != 0) return NEED_FORK;
    held->in_root = 1;
    held->root = root;
  }
  umask(im->umask);
  if (held->effective[0] != im->cap_effective[0] || held->effective[1] != im->cap_effective[1]) {
    if (set_effective(im->cap_effective, held) != 0) return NEED_FORK;
    held->effective[0] = im->cap_effective[0];
    held->effective[1] = im->cap_effective[1];
  }
  return as_caller_mknodat(start_fd >= 0 ? start_fd : AT_FDCWD, path, im->mode, im->dev, parent_fd);
}

/* Serves requests until the helper goes, retires it, or it has been idle too long; its exit status. */
static int serve_requests(void) {
  struct held held = {.in_root = 0};
  if (as_caller_capget(held.full) != 0) return 1;
  held.effective[0] = held.full[0].effective;
  held.effective[1] = held.full[1].effective;
  unsigned char buf[sizeof(struct impersonation) + WIRE_MAX_PATH_LENGTH + 1];
  char path[WIRE_MAX_PATH_LENGTH + 1];
  struct timeval tick = {1, 0};
  if (setsockopt(HELPER_FD, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick) < 0) return 1;
  int idle_seconds = 0;
  for (;;) {
    int fds[WIRE_MAX_FDS];
    size_t nfds;
    int truncated;
    ssize_t n = wire_receive(HELPER_FD, buf, sizeof buf, 0, fds, &nfds, &truncated);
    if (n == -EAGAIN || n == -EWOULDBLOCK) {
      if (held.in_root) {
        if (leave_root(&held) != 0) return 1;
      } else if (++idle_seconds >= IMPERSONATOR_IDLE_SECONDS) {
        return 0; /* the helper notices the end of stream and forks a new one when needed */
      }
      continue;
    }
    if (n <= 0) {
      wire_close_fds(fds, nfds);
      return 0; /* the helper is gone or retired it */
    }
    idle_seconds = 0;
    struct impersonation im = {0};
    int err = EINVAL, parent_fd = -1;
    if ((size_t)n >= sizeof im) {
      memcpy(&im, buf, sizeof im);
      /* The helper validated the request; this only guards the framing between the two. */
      if (im.path_length >= 1 && im.path_length <= WIRE_MAX_PATH_LENGTH && (size_t)n == sizeof im + im.path_length &&
          (nfds == 1 || nfds == 2) && !truncated) {
        memcpy(path, buf + sizeof im, im.path_length);
        path[im.path_length] = '\0';
        err = impersonate_once(&held, &im, path, fds[0], nfds == 2 ? fds[1] : -1, &parent_fd);
      }
    }
    wire_close_fds(fds, nfds);
    if (err == BROKEN) {
      /* It cannot become itself again: it ends, and the helper serves this request by forking. */
      wire_send_answer(HELPER_FD, NEED_FORK, SETGID_UNKNOWN, -1);
      return 1;
    }
    /* Asked here, still as the caller (its root, umask and capabilities). */
    wire_send_answer(HELPER_FD, err, parent_fd >= 0 ? probe_setgid(parent_fd, im.mode) : SETGID_UNKNOWN, parent_fd);
    if (parent_fd >= 0) close(parent_fd);
  }
}

int impersonator_main(int sock, const struct helper_request *req) {
  /* Its socket to the helper becomes its fd 3; nothing else of the helper's (other impersonators'
   * sockets, this request's fds once it has entered the namespace) stays open in it. */
  if (dup2(sock, HELPER_FD) < 0) return 1;
  if (become_identity(req) != 0) return 1;
  int own_root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (own_root_fd < 0 || (own_root_fd != OWN_ROOT_FD && dup2(own_root_fd, OWN_ROOT_FD) < 0)) return 1;
  syscall(SYS_close_range, OWN_ROOT_FD + 1, ~0U, 0);
  /* After the credential changes, which clear it: die with the helper. */
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (getppid() == 1) return 0;
  return serve_requests();
}
