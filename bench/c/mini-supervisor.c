/*
 * The baseline of `npm run bench`: the least a seccomp user-notification supervisor can do to answer
 * getppid with 42 — a blocking RECV / SEND loop in C, one thread, no poll, no policy. Also installs
 * the kernel-only filter of row (b).
 *
 *   mini-supervisor errno       -- CMD...   getppid fails with EPERM in the filter itself
 *   mini-supervisor notify      -- CMD...   getppid → USER_NOTIF, answered 42 by a RECV/SEND loop
 *   mini-supervisor notify-sync -- CMD...   the same with SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
 *
 * The child installs the filter (only getppid matches, so passing the listener with sendmsg and
 * then execve are never intercepted) and sends the listener over a socketpair. The loop never ends
 * by itself: a blocking RECV does not return when the last filtered task exits, so the SIGCHLD
 * handler reaps CMD and exits with its status.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <sys/ioctl.h>

#define PROGRAM "mini-supervisor"
#include "bench-supervisor.h"

static int install_filter(__u32 action, unsigned flags) {
  struct sock_filter code[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, action),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  return install_program(code, sizeof code / sizeof code[0], flags);
}

int main(int argc, char **argv) {
  if (argc < 4 || strcmp(argv[2], "--") != 0) {
    fprintf(stderr, "usage: mini-supervisor errno|notify|notify-sync -- CMD [ARGS...]\n");
    return 2;
  }
  const char *mode = argv[1];
  int notify = strncmp(mode, "notify", 6) == 0;
  if (!notify && strcmp(mode, "errno") != 0) { fprintf(stderr, "mini-supervisor: unknown mode %s\n", mode); return 2; }

  if (!notify) {
    install_filter(SECCOMP_RET_ERRNO | EPERM, 0);
    execvp(argv[3], argv + 3);
    die(argv[3]);
  }

  exit_with_child();

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
  child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    close(sv[0]);
    int listener = install_filter(SECCOMP_RET_USER_NOTIF, SECCOMP_FILTER_FLAG_NEW_LISTENER);
    send_fd(sv[1], listener);
    close(listener);
    execvp(argv[3], argv + 3);
    die(argv[3]);
  }
  close(sv[1]);
  int listener = receive_fd(sv[0]);
  if (strcmp(mode, "notify-sync") == 0 &&
      ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) != 0) {
    die("SECCOMP_IOCTL_NOTIF_SET_FLAGS");
  }
  struct seccomp_notif req;
  struct seccomp_notif_resp resp;
  for (;;) {
    receive_notification(listener, &req);
    resp.id = req.id;
    resp.val = 42;
    resp.error = 0;
    resp.flags = 0;
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) != 0 && errno != ENOENT) die("SECCOMP_IOCTL_NOTIF_SEND");
  }
}
