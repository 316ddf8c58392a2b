/*
 * mknod-probe: makes a fixed list of mknod/mknodat calls and prints one line per call with the result,
 * errno and what was created (as seen from the caller's own namespace). The differential test runs it as
 * real root without wasmsup and as root of a user namespace under wasmsup; the lines must be identical.
 *
 *   mknod-probe suite BASE      run every case inside the directory BASE (absolute path)
 *   mknod-probe one PATH        one mknod(PATH, S_IFCHR|0666, 1:3)
 *   mknod-probe one-i386 PATH   the same through the i386 compat entry (x86_64 only)
 *
 * Built statically by the tests so it can also run inside a bare chroot.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static const char *base;

static void report(const char *name, int ret, int err, const char *check_path, int check_dirfd) {
  printf("%s ret=%d errno=%s", name, ret, ret == 0 ? "0" : strerrorname_np(err));
  if (ret == 0 && check_path) {
    struct stat st;
    if (fstatat(check_dirfd, check_path, &st, AT_SYMLINK_NOFOLLOW) == 0) {
      const char *type = S_ISCHR(st.st_mode) ? "chr" : S_ISBLK(st.st_mode) ? "blk" : S_ISFIFO(st.st_mode) ? "fifo" : "other";
      printf(" type=%s rdev=%u:%u mode=%04o uid=%u gid=%u", type, major(st.st_rdev), minor(st.st_rdev),
             st.st_mode & 07777, st.st_uid, st.st_gid);
    } else {
      printf(" stat-failed=%s", strerrorname_np(errno));
    }
  }
  printf("\n");
  fflush(stdout);
}

#define MKNOD(name, path, mode, dev, check)                                  \
  do {                                                                       \
    errno = 0;                                                               \
    int r_ = mknod(path, mode, dev);                                         \
    report(name, r_, errno, check, AT_FDCWD);                                \
  } while (0)

/* glibc's mknod() is the mknodat syscall; this is the mknod syscall itself, where the arch has one. */
#ifdef SYS_mknod
#define RAW_MKNOD(name, path, mode, dev, check)                              \
  do {                                                                       \
    errno = 0;                                                               \
    int r_ = (int)syscall(SYS_mknod, path, mode, (unsigned)(dev));           \
    report(name, r_, errno, check, AT_FDCWD);                                \
  } while (0)
#else
#define RAW_MKNOD(name, path, mode, dev, check) MKNOD(name, path, mode, dev, check)
#endif

#define MKNODAT(name, dirfd, path, mode, dev, check, checkfd)                \
  do {                                                                       \
    errno = 0;                                                               \
    int r_ = mknodat(dirfd, path, mode, dev);                                \
    report(name, r_, errno, check, checkfd);                                 \
  } while (0)

static int set_effective_caps(__u32 drop_lo) {
  struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct d[2];
  if (syscall(SYS_capget, &h, d) != 0) return -1;
  d[0].effective = d[0].permitted & ~drop_lo;
  d[1].effective = d[1].permitted;
  return (int)syscall(SYS_capset, &h, d);
}

static int suite(void) {
  char path[8192];
  if (chdir(base) != 0) { perror("chdir"); return 1; }
  umask(022);
  if (mkdir("sub", 0755) || mkdir("ro", 0555) || chown("ro", 1000, 1000) || mkdir("other", 0755) ||
      chown("other", 1000, 1000) || mkdir("sgid", 0775) ||
      chown("sgid", 0, 1000) || chmod("sgid", 02775)) {
    perror("setup");
    return 1;
  }
  if (mkdir("priv", 0700) || mkdir("priv/in", 0755) || chown("priv/in", 1000, 1000) || chown("priv", 1000, 1000)) {
    perror("setup priv");
    return 1;
  }
  if (symlink("sub", "lsub") || symlink("file", "lfile") || symlink("nowhere", "ldangle") || symlink("lloop", "lloop")) {
    perror("setup symlinks");
    return 1;
  }
  int filefd = open("file", O_CREAT | O_WRONLY, 0644);
  int subfd = open("sub", O_DIRECTORY | O_RDONLY);
  if (filefd < 0 || subfd < 0) { perror("setup open"); return 1; }

  snprintf(path, sizeof path, "%s/null", base);
  MKNOD("abs_null", path, S_IFCHR | 0666, makedev(1, 3), path);
  MKNOD("rel_zero", "zero", S_IFCHR | 0666, makedev(1, 5), "zero");
  MKNODAT("at_full", subfd, "full", S_IFCHR | 0640, makedev(1, 7), "full", subfd);
  snprintf(path, sizeof path, "%s/random", base);
  MKNODAT("at_abs_random", subfd, path, S_IFCHR | 0666, makedev(1, 8), path, AT_FDCWD);
  umask(077);
  MKNOD("umask077_urandom", "urandom", S_IFCHR | 0666, makedev(1, 9), "urandom");
  umask(022);
  MKNOD("tty", "tty", S_IFCHR | 0666, makedev(5, 0), "tty");
  MKNOD("console", "console", S_IFCHR | 0600, makedev(5, 1), "console");
  MKNOD("ptmx", "ptmx", S_IFCHR | 0666, makedev(5, 2), "ptmx");
  MKNOD("whiteout", "wh", S_IFCHR | 0000, makedev(0, 0), "wh");
  MKNOD("eexist", "zero", S_IFCHR | 0666, makedev(1, 5), NULL);
  MKNOD("eexist_file", "file", S_IFCHR | 0666, makedev(1, 3), NULL);
  MKNOD("enoent_parent", "missing/x", S_IFCHR | 0666, makedev(1, 3), NULL);
  MKNOD("enotdir", "file/x", S_IFCHR | 0666, makedev(1, 3), NULL);
  MKNOD("empty", "", S_IFCHR | 0666, makedev(1, 3), NULL);
  MKNOD("trailing_slash", "ts/", S_IFCHR | 0666, makedev(1, 3), NULL);
  MKNOD("dot", ".", S_IFCHR | 0666, makedev(1, 3), NULL);
  memset(path, 'a', 300); path[300] = 0;
  MKNOD("enametoolong_component", path, S_IFCHR | 0666, makedev(1, 3), NULL);
  memset(path, 'b', 5000); path[5000] = 0;
  MKNOD("enametoolong_path", path, S_IFCHR | 0666, makedev(1, 3), NULL);
  MKNOD("efault", (const char *)1, S_IFCHR | 0666, makedev(1, 3), NULL);
  MKNODAT("at_ebadf", 9999, "x", S_IFCHR | 0666, makedev(1, 3), NULL, AT_FDCWD);
  MKNODAT("at_enotdir", filefd, "x", S_IFCHR | 0666, makedev(1, 3), NULL, AT_FDCWD);
  snprintf(path, sizeof path, "%s/raw_null", base);
  RAW_MKNOD("raw_mknod_abs", path, S_IFCHR | 0666, makedev(1, 3), path);
  RAW_MKNOD("raw_mknod_rel", "raw_zero", S_IFCHR | 0620, makedev(1, 5), "raw_zero");
  RAW_MKNOD("raw_mknod_eexist", "raw_zero", S_IFCHR | 0666, makedev(1, 5), NULL);
  RAW_MKNOD("raw_mknod_enoent", "missing/raw", S_IFCHR | 0666, makedev(1, 5), NULL);
  RAW_MKNOD("raw_mknod_efault", (const char *)1, S_IFCHR | 0666, makedev(1, 5), NULL);
  /* Root may create in another user's 0755 directory (CAP_DAC_OVERRIDE; in a user namespace, for its own ids). */
  MKNOD("root_in_other_users_dir", "other/n", S_IFCHR | 0666, makedev(1, 3), "other/n");
  /* Its directory part only root may search (CAP_DAC_READ_SEARCH), and then write (CAP_DAC_OVERRIDE). */
  MKNOD("through_private_dir", "priv/in/n", S_IFCHR | 0666, makedev(1, 3), "priv/in/n");
  MKNOD("sgid_dir_group", "sgid/n", S_IFCHR | 0666, makedev(1, 3), "sgid/n");
  if (chdir("sub") == 0) {
    MKNOD("rel_dotdot", "../dotdot", S_IFCHR | 0666, makedev(1, 3), "../dotdot");
    if (chdir("..") != 0) return 1;
  }
  /* Paths whose directory part and last component the emulation looks up apart: the kernel's answers. */
  MKNOD("root", "/", S_IFCHR | 0666, makedev(1, 3), NULL);
  MKNOD("slashes", "///", S_IFCHR | 0666, makedev(1, 3), NULL);
  MKNOD("dotdot", "..", S_IFCHR | 0666, makedev(1, 3), NULL);
  MKNOD("sub_dot", "sub/.", S_IFCHR | 0666, makedev(1, 3), NULL);
  MKNOD("sub_dotdot_slash", "sub/../", S_IFCHR | 0666, makedev(1, 3), NULL);
  MKNOD("sub_trailing_slash", "sub/ts/", S_IFCHR | 0666, makedev(1, 3), NULL);
  MKNOD("eexist_trailing_slash", "zero/", S_IFCHR | 0666, makedev(1, 3), NULL);
  MKNOD("double_slashes", "sub//dbl", S_IFCHR | 0666, makedev(1, 3), "sub/dbl");
  MKNOD("symlink_parent", "lsub/viasym", S_IFCHR | 0666, makedev(1, 3), "sub/viasym");
  MKNOD("symlink_to_file_parent", "lfile/x", S_IFCHR | 0666, makedev(1, 3), NULL);
  MKNOD("dangling_parent", "ldangle/x", S_IFCHR | 0666, makedev(1, 3), NULL);
  MKNOD("loop_parent", "lloop/x", S_IFCHR | 0666, makedev(1, 3), NULL);
  MKNOD("last_symlink", "lsub", S_IFCHR | 0666, makedev(1, 3), NULL);
  MKNOD("last_dangling_slash", "ldangle/", S_IFCHR | 0666, makedev(1, 3), NULL);
  memset(path, 'c', 300); strcpy(path + 300, "/x");
  MKNOD("enametoolong_directory", path, S_IFCHR | 0666, makedev(1, 3), NULL);
  MKNODAT("at_dotdot", subfd, "../atdotdot", S_IFCHR | 0666, makedev(1, 3), "../atdotdot", subfd);
  MKNODAT("at_enotdir_parent", filefd, "a/x", S_IFCHR | 0666, makedev(1, 3), NULL, AT_FDCWD);
  /* Without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH, a 0555 directory of another user is EACCES. */
  if (set_effective_caps((1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH)) != 0) { perror("capset"); return 1; }
  MKNOD("eacces_readonly_dir", "ro/n", S_IFCHR | 0666, makedev(1, 3), NULL);
  set_effective_caps(0);
  /* Not on the allowlist: the kernel's own answer for a privileged caller differs from a container's. */
  close(filefd);
  close(subfd);
  return 0;
}

#if defined(__x86_64__)
/* The i386 compat entry (int 0x80) from a 64-bit process: arch is AUDIT_ARCH_I386, numbers are i386's. */
static long i386_syscall3(long nr, long a, long b, long c) {
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
  return ret;
}

static int one_i386(const char *path) {
  /* Pointers passed through int 0x80 are 32-bit: the path must live below 4 GiB. */
  char *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
  if (low == MAP_FAILED || strlen(path) >= 4096) { perror("mmap"); return 1; }
  strcpy(low, path);
  long r = i386_syscall3(14 /* i386 mknod */, (long)low, S_IFCHR | 0666, makedev(1, 3));
  report("one_i386", r < 0 ? -1 : (int)r, r < 0 ? (int)-r : 0, path, AT_FDCWD);
  return 0;
}
#endif

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "suite") == 0) {
    base = argv[2];
    return suite();
  }
  if (argc == 3 && strcmp(argv[1], "one") == 0) {
    MKNOD("one", argv[2], S_IFCHR | 0666, makedev(1, 3), argv[2]);
    return 0;
  }
#if defined(__x86_64__)
  if (argc == 3 && strcmp(argv[1], "one-i386") == 0) return one_i386(argv[2]);
#endif
  fprintf(stderr, "usage: mknod-probe suite BASE | one PATH | one-i386 PATH\n");
  return 2;
}
