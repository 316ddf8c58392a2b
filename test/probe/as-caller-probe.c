/*
 * as-caller-probe: every call AS_CALLER covers, with good and bad inputs, by raw syscall (so each
 * variant is the one named), one line per call (its result and errno name), then a listing of what
 * the directory holds (type, mode, owner and group as the caller's namespace names them, link count,
 * symlink content, user.* xattrs). The parity test (test/kernel/as-caller.test.ts) runs it once with
 * the kernel alone and once with every call emulated by the host as the caller; the outputs must be
 * identical.
 *
 *   as-caller-probe suite DIR      every case inside DIR (DIR/mnt: another mount, for EXDEV)
 *   as-caller-probe one CALL PATH  a single call: mkdir, mknod-chr, chown0 (chown PATH 0 0), rmdir,
 *                                  symlink (to "x"), unlink, setxattr-trusted
 *
 * Built statically by the tests.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE 1
#define RENAME_EXCHANGE 2
#endif

static void report(const char *name, long ret) {
  int err = errno;
  printf("%-40s ret=%ld errno=%s\n", name, ret, ret < 0 ? strerrorname_np(err) : "0");
  fflush(stdout);
}

#define CALL(name, expr)        \
  do {                          \
    errno = 0;                  \
    long r_ = (long)(expr);     \
    report(name, r_);           \
  } while (0)

static void make_file(const char *path, const char *content) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || write(fd, content, strlen(content)) < 0) {
    perror(path);
    exit(2);
  }
  close(fd);
}

/* Every entry below `dir`, sorted by name, recursively. */
static void list(const char *dir, const char *prefix) {
  struct dirent **names;
  int n = scandir(dir, &names, NULL, alphasort);
  if (n < 0) return;
  for (int i = 0; i < n; i++) {
    const char *name = names[i]->d_name;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strcmp(name, "mnt") == 0) continue;
    char path[4096], shown[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(shown, sizeof shown, "%s%s", prefix, name);
    struct stat st;
    if (lstat(path, &st) < 0) continue;
    const char *type = S_ISDIR(st.st_mode) ? "dir" : S_ISLNK(st.st_mode) ? "lnk" : S_ISREG(st.st_mode) ? "reg"
                       : S_ISFIFO(st.st_mode) ? "fifo" : S_ISSOCK(st.st_mode) ? "sock" : S_ISCHR(st.st_mode) ? "chr" : "other";
    printf("  %-24s %-4s mode=%04o uid=%u gid=%u nlink=%lu size=%ld", shown, type, st.st_mode & 07777, st.st_uid, st.st_gid,
           (unsigned long)st.st_nlink, S_ISDIR(st.st_mode) ? 0L : (long)st.st_size);
    if (S_ISLNK(st.st_mode)) {
      char target[256];
      ssize_t k = readlink(path, target, sizeof target - 1);
      target[k < 0 ? 0 : k] = '\0';
      printf(" -> %s", target);
    } else {
      char xattrs[1024];
      ssize_t k = listxattr(path, xattrs, sizeof xattrs);
      for (ssize_t at = 0; at < k; at += strlen(xattrs + at) + 1) {
        char value[64];
        ssize_t v = getxattr(path, xattrs + at, value, sizeof value - 1);
        value[v < 0 ? 0 : v] = '\0';
        if (strncmp(xattrs + at, "user.", 5) == 0) printf(" %s=%s", xattrs + at, value);
      }
    }
    printf("\n");
    if (S_ISDIR(st.st_mode)) {
      char sub[4200];
      snprintf(sub, sizeof sub, "%s/", shown);
      list(path, sub);
    }
  }
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
}

static void suite(const char *dir) {
  if (chdir(dir) < 0) {
    perror(dir);
    exit(2);
  }
  umask(022);
  int dirfd = open(".", O_PATH | O_DIRECTORY);
  char longname[300];
  memset(longname, 'n', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  make_file("f", "file f\n");
  make_file("g", "gg\n");

  /* mkdir, mkdirat */
  CALL("mkdir d1", syscall(SYS_mkdir, "d1", 0777));
  CALL("mkdir d1 again (EEXIST)", syscall(SYS_mkdir, "d1", 0777));
  CALL("mkdir nx/d (ENOENT)", syscall(SYS_mkdir, "nx/d", 0777));
  CALL("mkdir f/d (ENOTDIR)", syscall(SYS_mkdir, "f/d", 0777));
  CALL("mkdir long (ENAMETOOLONG)", syscall(SYS_mkdir, longname, 0777));
  CALL("mkdir bad pointer (EFAULT)", syscall(SYS_mkdir, (char *)8, 0777));
  CALL("mkdir empty (ENOENT)", syscall(SYS_mkdir, "", 0777));
  CALL("mkdirat d2", syscall(SYS_mkdirat, dirfd, "d2", 0750));
  CALL("mkdirat d1/sub 01777", syscall(SYS_mkdirat, dirfd, "d1/sub", 01777));
  CALL("mkdirat bad dirfd (EBADF)", syscall(SYS_mkdirat, 999, "x", 0777));
  CALL("mkdirat file dirfd (ENOTDIR)", syscall(SYS_mkdirat, open("f", O_RDONLY), "x", 0777));
  CALL("mkdir trailing slash d3/", syscall(SYS_mkdir, "d3/", 0777));
  CALL("mkdir / (EEXIST)", syscall(SYS_mkdir, "/", 0777));

  /* symlink, symlinkat */
  CALL("symlink sl -> target-text", syscall(SYS_symlink, "target-text", "sl"));
  CALL("symlink sl again (EEXIST)", syscall(SYS_symlink, "x", "sl"));
  CALL("symlinkat slf -> f", syscall(SYS_symlinkat, "f", dirfd, "slf"));
  CALL("symlink loop -> loop", syscall(SYS_symlink, "loop", "loop"));
  CALL("symlink empty target (ENOENT)", syscall(SYS_symlink, "", "sl3"));
  CALL("symlink into nx (ENOENT)", syscall(SYS_symlink, "x", "nx/sl"));
  CALL("mkdir loop/x (ELOOP)", syscall(SYS_mkdir, "loop/x", 0777));

  /* mknod, mknodat */
  CALL("mknod fifo", syscall(SYS_mknod, "fifo", S_IFIFO | 0666, 0));
  CALL("mknod chr 1:3 (EPERM)", syscall(SYS_mknod, "chr", S_IFCHR | 0666, makedev(1, 3)));
  CALL("mknodat sock", syscall(SYS_mknodat, dirfd, "sock", S_IFSOCK | 0600, 0));
  CALL("mknod reg", syscall(SYS_mknod, "reg", S_IFREG | 0640, 0));

  /* link, linkat */
  CALL("link f hl", syscall(SYS_link, "f", "hl"));
  CALL("link nx hl2 (ENOENT)", syscall(SYS_link, "nx", "hl2"));
  CALL("link d1 hl3 (EPERM)", syscall(SYS_link, "d1", "hl3"));
  CALL("link f g (EEXIST)", syscall(SYS_link, "f", "g"));
  CALL("linkat slf hl4 nofollow", syscall(SYS_linkat, AT_FDCWD, "slf", dirfd, "hl4", 0));
  CALL("linkat slf hl5 follow", syscall(SYS_linkat, dirfd, "slf", AT_FDCWD, "hl5", AT_SYMLINK_FOLLOW));
  CALL("linkat bad flags (EINVAL)", syscall(SYS_linkat, AT_FDCWD, "f", AT_FDCWD, "hl6", 0x8));
  CALL("link f mnt/x (EXDEV)", syscall(SYS_link, "f", "mnt/x"));

  /* chown, lchown, fchown, fchownat */
  int fd = open("g", O_RDWR);
  CALL("chown f 0 0", syscall(SYS_chown, "f", 0, 0));
  CALL("chown f 1000 1001", syscall(SYS_chown, "f", 1000, 1001));
  CALL("chown f 70000 -1 (EINVAL)", syscall(SYS_chown, "f", 70000, -1));
  CALL("chown f -1 70000 (EINVAL)", syscall(SYS_chown, "f", -1, 70000));
  CALL("chown slf 3 3 (follows)", syscall(SYS_chown, "slf", 3, 3));
  CALL("lchown sl 5 6", syscall(SYS_lchown, "sl", 5, 6));
  CALL("fchown g 7 7", syscall(SYS_fchown, fd, 7, 7));
  CALL("fchown bad fd (EBADF)", syscall(SYS_fchown, 999, 7, 7));
  CALL("fchownat d2 8 9 nofollow", syscall(SYS_fchownat, dirfd, "d2", 8, 9, AT_SYMLINK_NOFOLLOW));
  CALL("fchownat fd empty 10 10", syscall(SYS_fchownat, fd, "", 10, 10, AT_EMPTY_PATH));
  CALL("fchownat empty without flag (ENOENT)", syscall(SYS_fchownat, fd, "", 10, 10, 0));
  CALL("fchownat bad flags (EINVAL)", syscall(SYS_fchownat, dirfd, "f", 0, 0, 0x2));
  CALL("chown nx (ENOENT)", syscall(SYS_chown, "nx", 0, 0));
  CALL("chown sl dangling (ENOENT)", syscall(SYS_chown, "sl", 0, 0));

  /* chmod, fchmod, fchmodat */
  CALL("chmod f 0600", syscall(SYS_chmod, "f", 0600));
  CALL("fchmod g 0640", syscall(SYS_fchmod, fd, 0640));
  CALL("fchmodat d2 0705", syscall(SYS_fchmodat, dirfd, "d2", 0705));
  CALL("chmod nx (ENOENT)", syscall(SYS_chmod, "nx", 0600));
  CALL("chmod loop (ELOOP)", syscall(SYS_chmod, "loop", 0600));

  /* setxattr family, removexattr family */
  CALL("setxattr f user.a=v", syscall(SYS_setxattr, "f", "user.a", "v", 1, 0));
  CALL("setxattr f user.a create (EEXIST)", syscall(SYS_setxattr, "f", "user.a", "w", 1, XATTR_CREATE));
  CALL("setxattr f user.q replace (ENODATA)", syscall(SYS_setxattr, "f", "user.q", "w", 1, XATTR_REPLACE));
  CALL("setxattr bad flags (EINVAL)", syscall(SYS_setxattr, "f", "user.a", "w", 1, 4));
  CALL("setxattr empty name (ERANGE)", syscall(SYS_setxattr, "f", "", "w", 1, 0));
  CALL("setxattr trusted (EPERM)", syscall(SYS_setxattr, "f", "trusted.t", "w", 1, 0));
  CALL("lsetxattr sl user.b (EPERM)", syscall(SYS_lsetxattr, "sl", "user.b", "w", 1, 0));
  CALL("setxattr slf user.s follows", syscall(SYS_setxattr, "slf", "user.s", "s", 1, 0));
  CALL("fsetxattr g user.c=vv", syscall(SYS_fsetxattr, fd, "user.c", "vv", 2, 0));
  CALL("setxattr nx (ENOENT)", syscall(SYS_setxattr, "nx", "user.a", "v", 1, 0));
  CALL("setxattr bad value (EFAULT)", syscall(SYS_setxattr, "f", "user.z", (char *)8, 4, 0));
  CALL("removexattr f user.s", syscall(SYS_removexattr, "f", "user.s"));
  CALL("removexattr f user.s again (ENODATA)", syscall(SYS_removexattr, "f", "user.s"));
  CALL("lremovexattr sl user.x (EPERM: symlink)", syscall(SYS_lremovexattr, "sl", "user.x"));
  CALL("fremovexattr g user.c", syscall(SYS_fremovexattr, fd, "user.c"));
  CALL("removexattr nx (ENOENT)", syscall(SYS_removexattr, "nx", "user.a"));

  /* rename, renameat, renameat2 */
  make_file("a", "a\n");
  make_file("b", "bbbb\n");
  CALL("mkdir full", syscall(SYS_mkdir, "full", 0755));
  CALL("mkdir full/x", syscall(SYS_mkdir, "full/x", 0755));
  CALL("rename a a2", syscall(SYS_rename, "a", "a2"));
  CALL("rename nx y (ENOENT)", syscall(SYS_rename, "nx", "y"));
  CALL("renameat a2 a", syscall(SYS_renameat, dirfd, "a2", AT_FDCWD, "a"));
  CALL("renameat2 noreplace (EEXIST)", syscall(SYS_renameat2, AT_FDCWD, "a", AT_FDCWD, "b", RENAME_NOREPLACE));
  CALL("renameat2 exchange a b", syscall(SYS_renameat2, AT_FDCWD, "a", dirfd, "b", RENAME_EXCHANGE));
  CALL("renameat2 both flags (EINVAL)", syscall(SYS_renameat2, AT_FDCWD, "a", AT_FDCWD, "b", RENAME_EXCHANGE | RENAME_NOREPLACE));
  CALL("rename d3 full (ENOTEMPTY)", syscall(SYS_rename, "d3", "full"));
  CALL("rename f mnt/f (EXDEV)", syscall(SYS_rename, "f", "mnt/f"));
  CALL("rename f d1 (EISDIR)", syscall(SYS_rename, "f", "d1"));

  /* unlink, unlinkat, rmdir */
  CALL("unlink hl", syscall(SYS_unlink, "hl"));
  CALL("unlink nx (ENOENT)", syscall(SYS_unlink, "nx"));
  CALL("unlink d1 (EISDIR)", syscall(SYS_unlink, "d1"));
  CALL("unlinkat full removedir (ENOTEMPTY)", syscall(SYS_unlinkat, dirfd, "full", AT_REMOVEDIR));
  CALL("unlinkat full/x removedir", syscall(SYS_unlinkat, AT_FDCWD, "full/x", AT_REMOVEDIR));
  CALL("unlinkat bad flags (EINVAL)", syscall(SYS_unlinkat, AT_FDCWD, "hl4", 0x1));
  CALL("unlinkat hl4", syscall(SYS_unlinkat, dirfd, "hl4", 0));
  CALL("rmdir d3", syscall(SYS_rmdir, "d3"));
  CALL("rmdir f (ENOTDIR)", syscall(SYS_rmdir, "f"));
  CALL("rmdir . (EINVAL)", syscall(SYS_rmdir, "."));
  CALL("rmdir nx (ENOENT)", syscall(SYS_rmdir, "nx"));

  /* As another user (1000 in the namespace): what the kernel refuses it. */
  CALL("chown d1/sub 1000 1000", syscall(SYS_chown, "d1/sub", 1000, 1000));
  if (syscall(SYS_setresgid, 1000, 1000, 1000) < 0 || syscall(SYS_setresuid, 1000, 1000, 1000) < 0) {
    perror("setresuid");
    exit(2);
  }
  CALL("as 1000: mkdir d1/x (EACCES)", syscall(SYS_mkdir, "d1/x", 0777));
  CALL("as 1000: mkdir d1/sub/own", syscall(SYS_mkdir, "d1/sub/own", 0777));
  CALL("as 1000: unlink g (EACCES)", syscall(SYS_unlink, "g"));
  CALL("as 1000: chmod g (EPERM)", syscall(SYS_chmod, "g", 0777));
  CALL("as 1000: chown g 1000 (EPERM)", syscall(SYS_chown, "g", 1000, 1000));
  CALL("as 1000: chmod f, now uid 3 (EPERM)", syscall(SYS_chmod, "f", 0604));
  CALL("as 1000: rename g h (EACCES)", syscall(SYS_rename, "g", "h"));
  CALL("as 1000: symlink d1/y (EACCES)", syscall(SYS_symlink, "x", "d1/y"));
  CALL("as 1000: link f d1/z (EPERM: protected)", syscall(SYS_link, "f", "d1/z"));
  CALL("as 1000: mknod fifo d1/p (EACCES)", syscall(SYS_mknod, "d1/p", S_IFIFO | 0644, 0));
  CALL("as 1000: setxattr b (EACCES)", syscall(SYS_setxattr, "b", "user.u", "u", 1, 0));
  CALL("as 1000: removexattr b (EACCES)", syscall(SYS_removexattr, "b", "user.u"));
  CALL("as 1000: d2/x through 0705 (EACCES)", syscall(SYS_mkdir, "d2/x", 0777));
  CALL("as 1000: chmod own dir", syscall(SYS_chmod, "d1/sub/own", 0700));
  CALL("as 1000: chown own dir to group 1000", syscall(SYS_chown, "d1/sub/own", -1, 1000));
  CALL("as 1000: chown own dir to group 0 (EPERM)", syscall(SYS_chown, "d1/sub/own", -1, 0));
  list(".", "");
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "suite") == 0) {
    suite(argv[2]);
    return 0;
  }
  if (argc == 4 && strcmp(argv[1], "one") == 0) {
    const char *call = argv[2], *path = argv[3];
    if (strcmp(call, "mkdir") == 0) CALL("mkdir", syscall(SYS_mkdir, path, 0755));
    else if (strcmp(call, "mknod-chr") == 0) CALL("mknod-chr", syscall(SYS_mknod, path, S_IFCHR | 0666, makedev(1, 3)));
    else if (strcmp(call, "chown0") == 0) CALL("chown0", syscall(SYS_chown, path, 0, 0));
    else if (strcmp(call, "rmdir") == 0) CALL("rmdir", syscall(SYS_rmdir, path));
    else if (strcmp(call, "symlink") == 0) CALL("symlink", syscall(SYS_symlink, "x", path));
    else if (strcmp(call, "unlink") == 0) CALL("unlink", syscall(SYS_unlink, path));
    else if (strcmp(call, "swap-mknod") == 0) {
      /* PATH is "LINK/NAME": a second process renames LINK.next over LINK 100 ms after this mknod
       * of a FIFO at PATH began (the host holds the call longer after reading the path). */
      char link[4096], next[4200];
      snprintf(link, sizeof link, "%s", path);
      char *slash = strrchr(link, '/');
      if (slash == NULL) return 2;
      *slash = '\0';
      snprintf(next, sizeof next, "%s.next", link);
      pid_t child = fork();
      if (child == 0) {
        usleep(100 * 1000);
        _exit(syscall(SYS_rename, next, link) < 0 ? 1 : 0);
      }
      CALL("swap-mknod", syscall(SYS_mknod, path, S_IFIFO | 0644, 0));
      int status;
      waitpid(child, &status, 0);
      printf("swapped=%d\n", WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    else if (strcmp(call, "setxattr-trusted") == 0) CALL("setxattr-trusted", syscall(SYS_setxattr, path, "trusted.t", "y", 1, 0));
    else return 2;
    return 0;
  }
  fprintf(stderr, "usage: as-caller-probe suite DIR | one CALL PATH\n");
  return 2;
}
