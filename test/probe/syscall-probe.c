/*
 * syscall-probe: makes one raw syscall given on the command line and prints one line with the result,
 * for the inspect, open-proxy and setxattr tests. Raw syscalls, so the call is exactly the one named
 * (glibc would pick openat for open, clone for fork); built statically so it runs in a bare chroot.
 *
 *   syscall-probe [--hole] [--i386] open PATH FLAGS          open(PATH, FLAGS); with --hole fds 3 and 4
 *   syscall-probe [--hole] [--i386] openat PATH FLAGS        are opened and 3 closed first
 *   syscall-probe [--hole] [--i386] creat PATH MODE         creat(PATH, MODE) (x86_64 and i386 only)
 *   syscall-probe [--hole] [--i386] openat2 PATH FLAGS SIZE RESOLVE TAIL
 *                           open_how of SIZE bytes (TAIL fills the bytes past the 24 known ones)
 *   syscall-probe reopen PATH FLAGS   open(PATH, O_RDONLY), then open("/proc/self/fd/N", FLAGS) of that fd
 *                                     and, when it opened for writing, write(2) one byte "X" at its end
 *   syscall-probe clone3 FLAGS SIZE TAIL                    clone3 with clone_args of SIZE bytes
 *   syscall-probe clone FLAGS                               clone(FLAGS | SIGCHLD)
 *   syscall-probe [--i386] setxattr PATH NAME VALUE | lsetxattr PATH NAME VALUE
 *   syscall-probe mount SOURCE TARGET FSTYPE FLAGS   mount(SOURCE, TARGET, FSTYPE, FLAGS, NULL)
 *   syscall-probe fdinfo PATH|FD      asks the fd-info-probe test policy (flock(fd, 0x10000 + k)) for
 *                                     the path and path flags of FD, or of PATH opened read-only
 *
 * Output: "ret=N errno=NAME" and, for an open that succeeded, " cloexec=0|1 data=FIRST_LINE"; for
 * clone/clone3 the child exits 0 at once and the parent waits for it. --i386 makes the call through
 * the i386 compat entry (int 0x80) with every pointer below 4 GiB (x86_64 only).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int use_i386;
static char *low; /* a page below 4 GiB for --i386 */

static void report(long ret, int err) {
  printf("ret=%ld errno=%s", ret, ret < 0 ? strerrorname_np(err) : "0");
}

static void report_open(long fd, int err) {
  report(fd, err);
  if (fd >= 0) {
    int flags = fcntl((int)fd, F_GETFD);
    char buf[256] = {0};
    ssize_t n = pread((int)fd, buf, sizeof buf - 1, 0);
    if (n < 0) snprintf(buf, sizeof buf, "<%s>", strerrorname_np(errno));
    char *nl = strchr(buf, '\n');
    if (nl) *nl = '\0';
    printf(" cloexec=%d data=%s", (flags & FD_CLOEXEC) ? 1 : 0, buf);
  }
  printf("\n");
}

#if defined(__x86_64__)
static long i386_syscall(long nr, long a, long b, long c, long d, long e) {
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e) : "memory");
  return ret;
}
#endif

/* Runs a syscall natively or through int 0x80; returns the raw result and sets *err. */
static long call(long nr64, long nr32, long a, long b, long c, long d, long e, int *err) {
#if defined(__x86_64__)
  if (use_i386) {
    long r = i386_syscall(nr32, a, b, c, d, e);
    *err = r < 0 && r > -4096 ? (int)-r : 0;
    return r < 0 && r > -4096 ? -1 : r;
  }
#endif
  (void)nr32;
  errno = 0;
  long r = syscall(nr64, a, b, c, d, e);
  *err = errno;
  return r;
}

/* Copies s to the low page (for --i386) at offset off; returns the pointer to use. */
static char *place(const char *s, size_t off) {
  if (!use_i386) return (char *)s;
  strcpy(low + off, s);
  return low + off;
}

int main(int argc, char **argv) {
  int i = 1, hole = 0;
  for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
    if (strcmp(argv[i], "--hole") == 0) hole = 1;
    else if (strcmp(argv[i], "--i386") == 0) use_i386 = 1;
  }
  if (i >= argc) goto usage;
  if (use_i386) {
    low = mmap(NULL, 16384, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (low == MAP_FAILED) return 2;
  }
  if (hole) {
    int a = open("/", O_PATH), b = open("/", O_PATH);
    if (a != 3 || b != 4) fprintf(stderr, "syscall-probe: expected fds 3 and 4, got %d and %d\n", a, b);
    close(a);
  }
  const char *what = argv[i];
  int err = 0;
  long r;
  if (strcmp(what, "open") == 0 && argc - i == 3) {
#ifdef SYS_open
    r = call(SYS_open, 5, (long)place(argv[i + 1], 0), strtol(argv[i + 2], NULL, 0), 0, 0, 0, &err);
#else
    r = call(SYS_openat, 295, AT_FDCWD, (long)place(argv[i + 1], 0), strtol(argv[i + 2], NULL, 0), 0, 0, &err);
#endif
    report_open(r, err);
  } else if (strcmp(what, "creat") == 0 && argc - i == 3) {
#ifdef SYS_creat
    r = call(SYS_creat, 8, (long)place(argv[i + 1], 0), strtol(argv[i + 2], NULL, 0), 0, 0, 0, &err);
#else
    r = -1;
    err = ENOSYS;
#endif
    report_open(r, err);
  } else if (strcmp(what, "reopen") == 0 && argc - i == 3) {
    int first = (int)call(SYS_openat, 295, AT_FDCWD, (long)argv[i + 1], O_RDONLY, 0, 0, &err);
    if (first < 0) {
      report(first, err);
      printf(" (first open)\n");
      return 0;
    }
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", first);
    int flags = (int)strtol(argv[i + 2], NULL, 0);
    r = call(SYS_openat, 295, AT_FDCWD, (long)link, flags, 0, 0, &err);
    report(r, err);
    if (r >= 0 && (flags & O_ACCMODE) != O_RDONLY) {
      errno = 0;
      long w = pwrite((int)r, "X", 1, lseek((int)r, 0, SEEK_END));
      printf(" write=%s", w == 1 ? "1" : strerrorname_np(errno));
    }
    printf("\n");
  } else if (strcmp(what, "openat") == 0 && argc - i == 3) {
    r = call(SYS_openat, 295, AT_FDCWD, (long)place(argv[i + 1], 0), strtol(argv[i + 2], NULL, 0), 0, 0, &err);
    report_open(r, err);
  } else if (strcmp(what, "openat2") == 0 && argc - i == 6) {
    static unsigned char how_buf[4096];
    unsigned char *how = use_i386 ? (unsigned char *)low + 8192 : how_buf;
    size_t size = strtoul(argv[i + 3], NULL, 0);
    memset(how, (int)strtol(argv[i + 5], NULL, 0), 4096);
    struct open_how h = {.flags = strtoull(argv[i + 2], NULL, 0), .mode = 0, .resolve = strtoull(argv[i + 4], NULL, 0)};
    memcpy(how, &h, sizeof h);
    r = call(SYS_openat2, 437, AT_FDCWD, (long)place(argv[i + 1], 0), (long)how, (long)size, 0, &err);
    report_open(r, err);
  } else if (strcmp(what, "clone3") == 0 && argc - i == 4) {
    static unsigned char args[4096];
    size_t size = strtoul(argv[i + 2], NULL, 0);
    memset(args, (int)strtol(argv[i + 3], NULL, 0), sizeof args);
    struct clone_args ca;
    memset(&ca, 0, sizeof ca);
    ca.flags = strtoull(argv[i + 1], NULL, 0);
    ca.exit_signal = SIGCHLD;
    memcpy(args, &ca, sizeof ca < 88 ? sizeof ca : 88);
    fflush(stdout);
    r = syscall(SYS_clone3, args, size);
    err = errno;
    if (r == 0) _exit(0);
    if (r > 0) waitpid((pid_t)r, NULL, 0);
    report(r > 0 ? 0 : r, err);
    printf("\n");
  } else if (strcmp(what, "clone") == 0 && argc - i == 2) {
    fflush(stdout);
    r = syscall(SYS_clone, strtoul(argv[i + 1], NULL, 0) | SIGCHLD, 0, 0, 0, 0);
    err = errno;
    if (r == 0) _exit(0);
    if (r > 0) waitpid((pid_t)r, NULL, 0);
    report(r > 0 ? 0 : r, err);
    printf("\n");
  } else if ((strcmp(what, "setxattr") == 0 || strcmp(what, "lsetxattr") == 0) && argc - i == 4) {
    int link = what[0] == 'l';
    char *path = place(argv[i + 1], 0), *name = place(argv[i + 2], 4096), *value = place(argv[i + 3], 8192);
    r = call(link ? SYS_lsetxattr : SYS_setxattr, link ? 227 : 226, (long)path, (long)name, (long)value,
             (long)strlen(argv[i + 3]), 0, &err);
    report(r, err);
    printf("\n");
  } else if (strcmp(what, "mount") == 0 && argc - i == 5) {
    long r = syscall(SYS_mount, argv[i + 1], argv[i + 2], argv[i + 3], strtoul(argv[i + 4], NULL, 0), NULL);
    report(r, r < 0 ? errno : 0);
    printf("\n");
  } else if (strcmp(what, "fdinfo") == 0 && argc - i == 2) {
    char *end;
    long fd = strtol(argv[i + 1], &end, 10);
    if (*end != '\0') fd = open(argv[i + 1], O_RDONLY);
    long n = syscall(SYS_flock, fd, 0x10000 + 6);
    if (n < 0) {
      report(n, errno);
      printf("\n");
      return 0;
    }
    char path[4097];
    for (long k = 0; k < n && k < 4096; k++) path[k] = (char)syscall(SYS_flock, fd, 0x10100 + k);
    path[n < 4096 ? n : 4096] = '\0';
    printf("path=%s flags=%ld\n", path, syscall(SYS_flock, fd, 0x10000 + 7));
  } else {
    goto usage;
  }
  return 0;
usage:
  fprintf(stderr, "usage: see the comment at the top of syscall-probe.c\n");
  return 2;
}
