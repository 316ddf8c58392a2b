/* Calls an invented syscall (docs/policy-abi.md, "Invented syscalls") and prints what came back.
 *   invented-probe K [A [B]]        syscall(0x3ffff000 + K, A, B) through the native entry
 *   invented-probe i386 K [A [B]]   the same number through the i386 compat entry (int 0x80; x86_64 only)
 * Output: "K ret=R errno=NAME" (errno=0 on success). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define INVENTED_NR_BASE 0x3ffff000L

static const char *errno_name(int e) {
  switch (e) {
    case 0: return "0";
    case EPERM: return "EPERM";
    case EINVAL: return "EINVAL";
    case ENOSYS: return "ENOSYS";
    case EACCES: return "EACCES";
    case ENOENT: return "ENOENT";
    case EOVERFLOW: return "EOVERFLOW";
    default: {
      static char buf[16];
      snprintf(buf, sizeof buf, "E%d", e);
      return buf;
    }
  }
}

#if defined(__x86_64__)
static long i386_syscall2(long nr, long a, long b) {
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b) : "memory");
  return ret;
}
#endif

int main(int argc, char **argv) {
  int compat = argc > 1 && strcmp(argv[1], "i386") == 0;
  int first = compat ? 2 : 1;
  if (argc <= first) {
    fprintf(stderr, "usage: invented-probe [i386] K [A [B]]\n");
    return 2;
  }
  long k = strtol(argv[first], NULL, 0);
  long a = argc > first + 1 ? strtol(argv[first + 1], NULL, 0) : 0;
  long b = argc > first + 2 ? strtol(argv[first + 2], NULL, 0) : 0;
  long r;
  int err = 0;
  if (compat) {
#if defined(__x86_64__)
    r = i386_syscall2(INVENTED_NR_BASE + k, a, b);
    if (r < 0 && r > -4096) { err = (int)-r; r = -1; }
#else
    fprintf(stderr, "invented-probe: i386 only on x86_64\n");
    return 2;
#endif
  } else {
    errno = 0;
    r = syscall(INVENTED_NR_BASE + k, a, b);
    if (r == -1) err = errno;
  }
  printf("%ld ret=%ld errno=%s\n", k, r, errno_name(err));
  return 0;
}
