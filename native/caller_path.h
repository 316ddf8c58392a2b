/*
 * Creating a node at a caller's path, for an emulation that acts as the caller: the path is looked
 * up once, and never through a magic link. Shared by the worker thread's fast path
 * (native/impersonate.cc) and the helper's impersonators (native/helper.c); both call it already
 * chrooted into the caller's root and holding its credentials.
 *
 * Once: the helper may have to finish a create the caller was refused only for want of CAP_MKNOD in
 * the initial user namespace, with more privilege than the caller has (CAP_DAC_OVERRIDE). It must
 * do so in the very directory the caller was allowed to write, so the directory part of the path is
 * opened once (O_PATH) and from then on only that fd is used: the caller's own mknodat, the setgid
 * probe and the helper's create all name that inode, and a symlink swapped in between changes
 * nothing. Looking the name up again, even as the caller, would find whatever the path names by then.
 *
 * The kernel's answers for odd paths stay its own: the last component goes to mknodat with its
 * trailing slashes ("name/" is ENOENT or EEXIST, "." and ".." EEXIST, a long name ENAMETOOLONG), and
 * the directory part to openat2 as it was written (ENOENT, ENOTDIR, EACCES, ELOOP of a symlink loop).
 * Only a path of slashes alone is answered here: EEXIST, as the kernel does before any lookup.
 *
 * No magic links (RESOLVE_NO_MAGICLINKS): /proc/self and /proc/thread-self are the resolving
 * process's (the supervisor's worker thread, an impersonator), not the caller's, so /proc/self/root,
 * /cwd or /fd/N would reach their roots and fds, outside the caller's root. Such a path is ELOOP,
 * where the kernel would follow the caller's own link: the one way the emulation's answer differs.
 */
#ifndef WASMSUP_CALLER_PATH_H
#define WASMSUP_CALLER_PATH_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "seccomp_compat.h"

#define CALLER_PATH_MAX 4096

/* Where the last component of a non-empty path starts (0: the path is that component alone), or
 * (size_t)-1 when the path is nothing but slashes. */
static inline size_t caller_path_last(const char *path) {
  size_t end = strlen(path);
  while (end > 0 && path[end - 1] == '/') end--;
  if (end == 0) return (size_t)-1;
  size_t at = end;
  while (at > 0 && path[at - 1] != '/') at--;
  return at;
}

/* openat2(dirfd, path[0..length), flags | O_CLOEXEC, RESOLVE_NO_MAGICLINKS): an fd, or -errno. */
static inline int caller_path_open(int dirfd, const char *path, size_t length, int flags) {
  char copy[CALLER_PATH_MAX];
  if (length >= sizeof copy) return -ENAMETOOLONG;
  memcpy(copy, path, length);
  copy[length] = '\0';
  /* struct open_how, spelled out for build machines whose headers predate it. */
  struct { uint64_t flags, mode, resolve; } how = {(uint64_t)(flags | O_CLOEXEC), 0, RESOLVE_NO_MAGICLINKS};
  long fd;
  do {
    fd = syscall(SYS_openat2, dirfd, copy, &how, sizeof how);
  } while (fd < 0 && errno == EINTR);
  return fd < 0 ? -errno : (int)fd;
}

/*
 * mknodat(dirfd, path, mode, dev) as the calling thread, its directory part looked up once as above.
 * Returns 0 or the errno. With EPERM and `eperm_directory` non-NULL, *eperm_directory is an O_PATH fd
 * of the directory it was refused in (the caller closes it); otherwise it is -1. Raw mknodat, so the
 * 32-bit dev reaches the kernel exactly as the caller passed it.
 */
static inline int caller_mknodat(int dirfd, const char *path, uint32_t mode, uint32_t dev, int *eperm_directory) {
  if (eperm_directory != NULL) *eperm_directory = -1;
  size_t at = caller_path_last(path);
  if (at == (size_t)-1) return EEXIST;
  int directory = dirfd;
  if (at > 0) {
    directory = caller_path_open(dirfd, path, at, O_PATH | O_DIRECTORY);
    if (directory < 0) return -directory;
  }
  long rc;
  do {
    rc = syscall(SYS_mknodat, directory, path + at, (unsigned long)mode, (unsigned long)dev);
  } while (rc < 0 && errno == EINTR);
  int err = rc < 0 ? errno : 0;
  if (err == EPERM && eperm_directory != NULL) {
    if (at == 0) {
      /* The start directory itself: a copy the caller may keep. */
      directory = dirfd == AT_FDCWD ? open(".", O_PATH | O_DIRECTORY | O_CLOEXEC) : fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
      if (directory < 0) return errno;
    }
    *eperm_directory = directory;
  } else if (at > 0) {
    close(directory);
  }
  return err;
}

#endif
