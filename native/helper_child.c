/*
 * A child forked for one request, which takes on all of the caller (become_caller) and answers once;
 * and the time bound on every answer a child of the helper owes it (helper.h).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"

long long monotonic_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int readable_within(int sock, int timeout_ms) {
  long long deadline = monotonic_ms() + timeout_ms;
  for (;;) {
    long long left = deadline - monotonic_ms();
    if (left < 0) left = 0;
    struct pollfd pfd = {sock, POLLIN, 0};
    int ready = poll(&pfd, 1, (int)left);
    if (ready > 0) return 1;
    if (ready == 0) return 0;
    if (errno != EINTR) return 1; /* let the read report it */
  }
}

int answer_within_bound(int sock) {
  return readable_within(sock, IMPERSONATOR_TIMEOUT_MS);
}

int wait_for(pid_t pid) {
  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return status;
}

int reap_answered(pid_t pid) {
  /* The pidfd turns readable when the child has exited: no polling interval added to every request. */
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  int exited = 0;
  if (pidfd >= 0) {
    exited = readable_within(pidfd, ANSWERED_EXIT_MS);
    close(pidfd);
  }
  if (!exited) {
    kill(pid, SIGKILL); /* also ends a stopped one; the answer it queued stays readable */
    fprintf(stderr, "wasmsup-helper: a child that had answered did not exit within %d ms; killed it\n", ANSWERED_EXIT_MS);
  }
  return wait_for(pid);
}

int run_impersonating_child(struct helper *h, const struct helper_request *req, child_act *act, const void *context,
                            int *fd, int *setgid) {
  size_t nfds;
  int word;
  int err = run_impersonating_child_fds(h, req, act, context, fd, 1, &nfds, &word);
  if (nfds == 0) *fd = -1;
  if (setgid != NULL) *setgid = word;
  return err;
}

int run_bounded_child(struct helper *h, bounded_act *act, const void *arg, int timeout_ms, const char *what, int *sock,
                      pid_t *pid) {
  if (helper_own_credentials(h) != 0) return EPERM; /* the child starts from the helper's own */
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) return ENOMEM;
  pid_t child = fork();
  if (child < 0) {
    close(pair[0]);
    close(pair[1]);
    return ENOMEM;
  }
  if (child == 0) {
    close(pair[0]);
    close(SUPERVISOR_FD); /* it acts for the caller: it has no business with the supervisor's socket */
    act(pair[1], arg);
    _exit(0);
  }
  close(pair[1]);
  if (!readable_within(pair[0], timeout_ms)) {
    kill(child, SIGKILL);
    wait_for(child);
    close(pair[0]);
    fprintf(stderr, "wasmsup-helper: %s gave no answer within %d ms; killed it\n", what, timeout_ms);
    return IMPERSONATOR_WEDGED_ERRNO;
  }
  *sock = pair[0];
  *pid = child;
  return 0;
}

/* run_impersonating_child_fds's child: first the caller, then the act. */
struct impersonating_child {
  const struct helper_request *req;
  child_act *act;
  const void *context;
};

static void impersonate_then_act(int sock, const void *arg) {
  const struct impersonating_child *c = arg;
  int err = become_caller(c->req);
  if (err != 0) {
    fprintf(stderr, "wasmsup-helper: cannot take on the caller's credentials: %s\n", strerror(err));
    wire_send_answer(sock, EPERM, SETGID_UNKNOWN, -1);
  } else {
    c->act(sock, c->req, c->context);
  }
}

int run_impersonating_child_fds(struct helper *h, const struct helper_request *req, child_act *act, const void *context,
                                int *fds, size_t max_fds, size_t *nfds, int *word) {
  *nfds = 0;
  *word = SETGID_UNKNOWN;
  const struct impersonating_child child = {req, act, context};
  int sock;
  pid_t pid;
  int err = run_bounded_child(h, impersonate_then_act, &child, IMPERSONATOR_TIMEOUT_MS, "the impersonating child", &sock, &pid);
  if (err != 0) return err;
  int status = reap_answered(pid);
  err = wire_receive_answer_fds(sock, MSG_DONTWAIT, fds, max_fds, nfds, word);
  close(sock);
  if (err < 0) {
    fprintf(stderr, "wasmsup-helper: the impersonating child gave no answer (wait status %d)\n", status);
    return EPERM;
  }
  return err;
}
