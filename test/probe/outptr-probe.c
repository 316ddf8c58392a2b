/*
 * outptr-probe: calls that a policy answers through the caller's out-pointers (write_out), raw, with
 * a canary-filled buffer, printing one line.
 *
 *   outptr-probe uname                      "nodename=N release=R"
 *   outptr-probe getxattr PATH NAME SIZE [null|bad]
 *       getxattr(PATH, NAME, buf, SIZE) with a 512-byte buffer of 0xAA (null: a NULL value pointer;
 *       bad: an unmapped one; ro: a read-only page, printing only ret, errno, untouched). Prints "ret=N errno=NAME value=TEXT canary=ok|broken untouched=yes|no":
 *       TEXT is the first min(ret, SIZE) bytes (non-printable as '.'), canary whether buf[SIZE..512) is
 *       still 0xAA, untouched whether all of buf is, rest whether buf[ret..SIZE) is (written: bytes past the
 *       answer's length were written).
 *   outptr-probe uname-raw                  raw uname into a 512-byte buffer of 0xAA:
 *       "ret=N errno=NAME nodename=N tail=ok|broken" (tail: buf[390..512) still 0xAA)
 *   outptr-probe getppid                    "ret=N"
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "uname") == 0) {
    struct utsname u;
    if (uname(&u) != 0) { printf("ret=-1 errno=%s\n", strerrorname_np(errno)); return 0; }
    printf("nodename=%s release=%s\n", u.nodename, u.release);
    return 0;
  }
  if (argc >= 2 && strcmp(argv[1], "uname-raw") == 0) {
    static unsigned char buf[512];
    memset(buf, 0xAA, sizeof buf);
    long ret = syscall(SYS_uname, buf);
    int err = errno, tail = 1;
    for (size_t i = 390; i < sizeof buf; i++) if (buf[i] != 0xAA) tail = 0;
    char nodename[66] = {0};
    memcpy(nodename, buf + 65, 65);
    for (size_t i = 0; i < 65 && nodename[i]; i++) if (nodename[i] < 0x20 || nodename[i] >= 0x7f) nodename[i] = '.';
    printf("ret=%ld errno=%s nodename=%s tail=%s\n", ret, ret < 0 ? strerrorname_np(err) : "0", nodename, tail ? "ok" : "broken");
    return 0;
  }
  if (argc >= 2 && strcmp(argv[1], "getppid") == 0) {
    printf("ret=%ld\n", (long)syscall(SYS_getppid));
    return 0;
  }
  if (argc >= 5 && strcmp(argv[1], "getxattr") == 0) {
    static unsigned char buf[512];
    memset(buf, 0xAA, sizeof buf);
    size_t size = strtoul(argv[4], NULL, 0);
    void *value = buf;
    if (argc >= 6 && strcmp(argv[5], "null") == 0) value = NULL;
    if (argc >= 6 && strcmp(argv[5], "bad") == 0) value = (void *)16;
    if (argc >= 6 && strcmp(argv[5], "ro") == 0) {
      /* A read-only page: the kernel's copy_to_user faults there; so must the host's write. */
      unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      memset(page, 0xAA, 4096);
      mprotect(page, 4096, PROT_READ);
      long ret = syscall(SYS_getxattr, argv[2], argv[3], page, size);
      int err = errno, untouched = 1;
      for (size_t i = 0; i < 4096; i++) if (page[i] != 0xAA) untouched = 0;
      printf("ret=%ld errno=%s untouched=%s\n", ret, ret < 0 ? strerrorname_np(err) : "0", untouched ? "yes" : "no");
      return 0;
    }
    long ret = syscall(SYS_getxattr, argv[2], argv[3], value, size);
    int err = errno;
    char text[520] = {0};
    size_t shown = ret > 0 ? ((size_t)ret < size ? (size_t)ret : size) : 0;
    if (shown > 512) shown = 512;
    for (size_t i = 0; i < shown; i++) text[i] = buf[i] >= 0x20 && buf[i] < 0x7f ? (char)buf[i] : '.';
    int canary = 1, untouched = 1, rest = 1;
    size_t answered = ret > 0 ? (size_t)ret : 0;
    for (size_t i = 0; i < sizeof buf; i++) {
      if (buf[i] != 0xAA) { untouched = 0; if (i >= size) canary = 0; else if (i >= answered) rest = 0; }
    }
    printf("ret=%ld errno=%s value=%s canary=%s untouched=%s rest=%s\n", ret, ret < 0 ? strerrorname_np(err) : "0", text,
           canary ? "ok" : "broken", untouched ? "yes" : "no", rest ? "ok" : "written");
    return 0;
  }
  fprintf(stderr, "usage: outptr-probe uname | uname-raw | getppid | getxattr PATH NAME SIZE [null|bad]\n");
  return 2;
}
