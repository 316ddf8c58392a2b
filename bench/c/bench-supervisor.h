/*
 * What the bench's C supervisors (mini-supervisor.c, mini-mknod-emulator.c) share: the child that
 * installs a filter and passes its listener over a socketpair, and a parent that exits with the
 * child's status. Define PROGRAM (the name for error lines) before including.
 */
#ifndef WASMSUP_BENCH_SUPERVISOR_H
#define WASMSUP_BENCH_SUPERVISOR_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../native/seccomp_compat.h"

static pid_t child;

static void on_sigchld(int sig) {
  (void)sig;
  int status;
  if (waitpid(child, &status, WNOHANG) == child) {
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  }
}

/* The loop never ends by itself (a blocking RECV does not return when the last filtered task exits):
 * the SIGCHLD handler reaps the child and exits with its status. No SA_RESTART: a blocked RECV
 * returns EINTR and the handler runs. */
static void exit_with_child(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigchld;
  sa.sa_flags = SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, NULL);
}

static void die(const char *what) {
  fprintf(stderr, PROGRAM ": %s: %s\n", what, strerror(errno));
  exit(125);
}

/* no_new_privs and the program; the listener fd with SECCOMP_FILTER_FLAG_NEW_LISTENER. */
static int install_program(struct sock_filter *code, unsigned short length, unsigned flags) {
  struct sock_fprog prog = { length, code };
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die("PR_SET_NO_NEW_PRIVS");
  int fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
  if (fd < 0) die("seccomp");
  return fd;
}

static void send_fd(int sock, int fd) {
  char byte = 'L';
  struct iovec iov = { &byte, 1 };
  union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET; c->cmsg_type = SCM_RIGHTS; c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  if (sendmsg(sock, &msg, 0) != 1) die("sendmsg");
}

static int receive_fd(int sock) {
  char byte;
  struct iovec iov = { &byte, 1 };
  union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
  if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1) die("recvmsg (the child failed)");
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (c == NULL || c->cmsg_type != SCM_RIGHTS) { fprintf(stderr, PROGRAM ": no listener\n"); exit(125); }
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

/* Blocks for the next notification; one withdrawn before it was received (ENOENT) or an interrupted
 * wait (EINTR) is not an error. */
static void receive_notification(int listener, struct seccomp_notif *req) {
  for (;;) {
    memset(req, 0, sizeof *req);
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, req) == 0) return;
    if (errno != EINTR && errno != ENOENT) die("SECCOMP_IOCTL_NOTIF_RECV");
  }
}

#endif
