/*
 * runc-agent-probe: makes one raw syscall of those runc's sample seccomp agent handles and prints
 * "ret=N errno=NAME", for test/e2e/runc-sample-agent.test.ts. Raw syscalls, so the call is exactly the
 * one named (busybox's chmod and mkdir go through whichever glibc picks); built statically so it runs
 * in a busybox rootfs.
 *
 *   runc-agent-probe [--i386] mkdir PATH MODE       mkdir(PATH, MODE)
 *   runc-agent-probe [--i386] chmod PATH MODE       chmod(PATH, MODE)
 *   runc-agent-probe fchmod PATH MODE               fchmod(open(PATH, O_RDONLY), MODE)
 *   runc-agent-probe fchmodat PATH MODE             fchmodat(AT_FDCWD, PATH, MODE)
 *
 * MODE is octal. --i386 makes the call through the i386 compat entry (int 0x80) with the path below
 * 4 GiB (x86_64 only).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define I386_MKDIR 39
#define I386_CHMOD 15

#if defined(__x86_64__)
static long i386_syscall(long nr, long a, long b) {
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b) : "memory");
  return ret;
}
#endif

int main(int argc, char **argv) {
  int i386 = argc > 1 && strcmp(argv[1], "--i386") == 0;
  if (argc != 4 + i386) goto usage;
  const char *what = argv[1 + i386], *path = argv[2 + i386];
  long mode = strtol(argv[3 + i386], NULL, 8);
  long r;
  int err;
  if (i386) {
#if defined(__x86_64__)
    char *low = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (low == MAP_FAILED || strlen(path) >= 8192) return 2;
    strcpy(low, path);
    long nr = strcmp(what, "mkdir") == 0 ? I386_MKDIR : strcmp(what, "chmod") == 0 ? I386_CHMOD : -1;
    if (nr < 0) goto usage;
    r = i386_syscall(nr, (long)low, mode);
    err = r < 0 && r > -4096 ? (int)-r : 0;
    if (err) r = -1;
#else
    goto usage;
#endif
  } else {
    errno = 0;
    if (strcmp(what, "mkdir") == 0) r = syscall(SYS_mkdir, path, mode);
    else if (strcmp(what, "chmod") == 0) r = syscall(SYS_chmod, path, mode);
    else if (strcmp(what, "fchmodat") == 0) r = syscall(SYS_fchmodat, AT_FDCWD, path, mode);
    else if (strcmp(what, "fchmod") == 0) {
      int fd = open(path, O_RDONLY);
      if (fd < 0) { perror("runc-agent-probe: open"); return 2; }
      r = syscall(SYS_fchmod, fd, mode);
    } else goto usage;
    err = errno;
  }
  printf("ret=%ld errno=%s\n", r, r < 0 ? strerrorname_np(err) : "0");
  return 0;
usage:
  fprintf(stderr, "usage: runc-agent-probe [--i386] mkdir|chmod PATH MODE | fchmod|fchmodat PATH MODE\n");
  return 2;
}
