/*
 * wasmsup-launch [--userns] [--no-new-privs] [--wait-killable] -- CMD [ARGS...]
 *
 * Starts the workload under a seccomp filter whose user-notification listener goes to the
 * supervisor. Fd 3 is one end of a SOCK_SEQPACKET socketpair with the supervisor; the protocol
 * (docs/native-api.md, one item per message):
 *
 *   1. supervisor -> launcher: the classic-BPF program (n x 8 bytes of struct sock_filter)
 *   2. with --userns: unshare(CLONE_NEWUSER), launcher -> "userns"; supervisor writes the id maps and
 *      answers "mapped" or "fail <reason>"; then become root of the namespace and get a private
 *      mount namespace
 *   3. no_new_privs when asked or when CAP_SYS_ADMIN is missing
 *   4. install the filter (main thread only) and hand the listener over: launcher -> "listener" + fd
 *   5. execvp(CMD)
 *
 * Exit status: 125 for a failure before the workload could be started (one line on stderr),
 * 127 when CMD was not found, 126 when it could not be executed for another reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "seccomp_compat.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define SUPERVISOR_FD 3
#define EXIT_SETUP_FAILED 125
#define EXIT_CANNOT_EXECUTE 126
#define EXIT_NOT_FOUND 127
/* The kernel's limit on a classic-BPF program (BPF_MAXINSNS). */
#define MAX_FILTER_INSNS 4096

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__) || defined(__arm__)
#define cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define cpu_relax() __asm__ __volatile__("" ::: "memory")
#endif

static void fail(const char *what, int err) {
  fprintf(stderr, "wasmsup: %s: %s\n", what, strerror(err));
  exit(EXIT_SETUP_FAILED);
}

static void fail_message(const char *message) {
  fprintf(stderr, "wasmsup: %s\n", message);
  exit(EXIT_SETUP_FAILED);
}

/* One message from the supervisor into buf; returns its length. EOF or an oversized message end the launch. */
static size_t receive(void *buf, size_t capacity, const char *expecting) {
  for (;;) {
    struct iovec iov = {buf, capacity};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n = recvmsg(SUPERVISOR_FD, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("receiving from the supervisor", errno);
    if (n == 0) {
      fprintf(stderr, "wasmsup: the supervisor went away before sending %s\n", expecting);
      exit(EXIT_SETUP_FAILED);
    }
    if (msg.msg_flags & MSG_TRUNC) {
      fprintf(stderr, "wasmsup: %s from the supervisor is too large\n", expecting);
      exit(EXIT_SETUP_FAILED);
    }
    return (size_t)n;
  }
}

static void send_text(const char *text) {
  ssize_t n;
  do {
    n = send(SUPERVISOR_FD, text, strlen(text), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) fail("sending to the supervisor", errno);
}

static int has_cap_sys_admin(void) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
  if (syscall(SYS_capget, &header, data) < 0) fail("capget", errno);
  return (data[CAP_SYS_ADMIN / 32].effective & (1u << (CAP_SYS_ADMIN % 32))) != 0;
}

static void enter_user_namespace(void) {
  if (unshare(CLONE_NEWUSER) < 0) fail("unshare(CLONE_NEWUSER)", errno);
  send_text("userns");
  char reply[512];
  size_t n = receive(reply, sizeof reply - 1, "the id-map answer");
  reply[n] = '\0';
  if (strcmp(reply, "mapped") != 0) {
    const char *reason = strncmp(reply, "fail ", 5) == 0 ? reply + 5 : reply;
    fprintf(stderr, "wasmsup: the supervisor could not map ids: %s\n", reason);
    exit(EXIT_SETUP_FAILED);
  }
  if (setresgid(0, 0, 0) < 0) fail("setresgid(0)", errno);
  /* Refused when the supervisor had to deny setgroups (it is not root); the group list is then empty anyway. */
  if (setgroups(0, NULL) < 0 && errno != EPERM) fail("setgroups", errno);
  if (setresuid(0, 0, 0) < 0) fail("setresuid(0)", errno);
  if (unshare(CLONE_NEWNS) < 0) fail("unshare(CLONE_NEWNS)", errno);
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) fail("making / private", errno);
}

/*
 * The listener hand-over (step 4). Once the filter is installed, every syscall of the filtered
 * thread may be a notification, and only the supervisor can answer it, but the supervisor does
 * not have the listener yet: the thread would wait forever on its own notification while holding
 * the only copy of the listener (crun 0.19-1.5 hit exactly this, containers/crun#1002, when its
 * sendmsg of the listener was itself routed to the listener). So the filter is installed on the
 * main thread only (no TSYNC), and the listener is sent by this second thread, created before the
 * filter and therefore never filtered. The main thread makes no syscall until `handed_over` is set:
 * it only spins on the atomic.
 */
static atomic_int listener_fd = -1;
static atomic_int handed_over = 0;

static void *hand_over_listener(void *unused) {
  (void)unused;
  int fd;
  while ((fd = atomic_load_explicit(&listener_fd, memory_order_acquire)) < 0) {
    /* This thread is not filtered, so unlike the main thread it can afford to sleep. */
    struct timespec pause = {0, 20 * 1000};
    nanosleep(&pause, NULL);
  }
  static const char text[] = "listener";
  struct iovec iov = {(void *)text, sizeof text - 1};
  char control[CMSG_SPACE(sizeof(int))];
  memset(control, 0, sizeof control);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
  ssize_t n;
  do {
    n = sendmsg(SUPERVISOR_FD, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    /* The main thread cannot report this (any syscall of its own would hang): end the process from here. */
    char line[160];
    int len = snprintf(line, sizeof line, "wasmsup: sending the listener: %s\n", strerror(errno));
    if (len > 0) (void)!write(STDERR_FILENO, line, (size_t)len);
    syscall(SYS_exit_group, EXIT_SETUP_FAILED);
  }
  atomic_store_explicit(&handed_over, 1, memory_order_release);
  return NULL;
}

static void usage(void) {
  fail_message("usage: wasmsup-launch [--userns] [--no-new-privs] [--wait-killable | --wait-killable-if-available] -- CMD [ARGS...]");
}

int main(int argc, char **argv) {
  int userns = 0, no_new_privs = 0, wait_killable = 0, first_arg = -1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) {
      first_arg = i + 1;
      break;
    }
    if (strcmp(argv[i], "--userns") == 0) userns = 1;
    else if (strcmp(argv[i], "--no-new-privs") == 0) no_new_privs = 1;
    else if (strcmp(argv[i], "--wait-killable") == 0) wait_killable = 1;
    else if (strcmp(argv[i], "--wait-killable-if-available") == 0) wait_killable = 2;
    else usage();
  }
  if (first_arg < 0 || first_arg >= argc) usage();
  char **command = argv + first_arg;

  /* The workload must not inherit the supervisor's socket. */
  struct stat st;
  if (fstat(SUPERVISOR_FD, &st) < 0) fail("fd 3 (the supervisor's socket)", errno);
  if (!S_ISSOCK(st.st_mode)) fail("fd 3 (the supervisor's socket)", ENOTSOCK);
  if (fcntl(SUPERVISOR_FD, F_SETFD, FD_CLOEXEC) < 0) fail("fcntl(3, F_SETFD)", errno);
  /* Nor anything else the supervisor was started with: an fd its own starter left open (without
   * O_CLOEXEC) passes through Node into this process, and is a capability the workload has no claim
   * to (a root-owned file, a socket, a pipe to the operator's shell). Only stdin, stdout and stderr
   * go on, as with sudo and runc. Marked close-on-exec, not closed: the error path below still
   * writes to stderr, and exec drops them all. */
  if (syscall(SYS_close_range, SUPERVISOR_FD + 1, ~0U, CLOSE_RANGE_CLOEXEC) < 0) fail("close_range(4.., CLOSE_RANGE_CLOEXEC)", errno);

  static struct sock_filter insns[MAX_FILTER_INSNS];
  size_t bytes = receive(insns, sizeof insns, "the filter");
  if (bytes % sizeof(struct sock_filter) != 0) {
    fprintf(stderr, "wasmsup: the filter is %zu bytes, not a whole number of instructions\n", bytes);
    exit(EXIT_SETUP_FAILED);
  }
  struct sock_fprog program = {(unsigned short)(bytes / sizeof(struct sock_filter)), insns};

  if (userns) enter_user_namespace();

  if (!no_new_privs && !has_cap_sys_admin()) {
    fprintf(stderr, "wasmsup: no CAP_SYS_ADMIN: setting no_new_privs\n");
    no_new_privs = 1;
  }
  if (no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail("prctl(PR_SET_NO_NEW_PRIVS)", errno);

  /* Created after unshare(CLONE_NEWUSER), which a multithreaded process may not do. */
  pthread_t sender;
  int rc = pthread_create(&sender, NULL, hand_over_listener, NULL);
  if (rc != 0) fail("pthread_create", rc);
  pthread_detach(sender);

  unsigned long flags = SECCOMP_FILTER_FLAG_NEW_LISTENER;
  if (wait_killable) flags |= SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
  long listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &program);
  /* Before Linux 5.19 the flag is unknown (EINVAL) and nothing was installed: without it, then. */
  if (listener < 0 && errno == EINVAL && wait_killable == 2) {
    flags &= ~(unsigned long)SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
    listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &program);
  }
  if (listener < 0) fail("seccomp(SECCOMP_SET_MODE_FILTER)", errno);

  /* From here until handed_over: no syscall on this thread, not even an implicit one. */
  atomic_store_explicit(&listener_fd, (int)listener, memory_order_release);
  while (!atomic_load_explicit(&handed_over, memory_order_acquire)) cpu_relax();

  /* The listener is O_CLOEXEC (the kernel makes it so): exec closes this copy. */
  execvp(command[0], command);
  int err = errno;
  fprintf(stderr, "wasmsup: %s: %s\n", command[0], strerror(err));
  return err == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXECUTE;
}
