/* Acting as a seccomp caller on the calling thread: see as_caller.h, which says why each step is what it is. */
#include "as_caller.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "seccomp_compat.h"

_Static_assert(sizeof(gid_t) == sizeof(uint32_t), "groups travel as 32-bit words and are passed to setgroups as they are");

int as_caller_capget(struct __user_cap_data_struct caps[2]) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  return syscall(SYS_capget, &header, caps) < 0 ? errno : 0;
}

int as_caller_capset(const struct __user_cap_data_struct caps[2]) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {caps[0], caps[1]};
  return syscall(SYS_capset, &header, data) < 0 ? errno : 0;
}

int as_caller_capset_words(const uint32_t effective[2], const uint32_t permitted[2], const uint32_t inheritable[2]) {
  struct __user_cap_data_struct data[2];
  for (int i = 0; i < 2; i++) {
    data[i].effective = effective[i];
    data[i].permitted = permitted[i];
    data[i].inheritable = inheritable[i];
  }
  return as_caller_capset(data);
}

int as_caller_save_own(struct as_caller_own *own) {
  long ngroups = syscall(SYS_getgroups, own->groups_capacity, own->groups);
  if (ngroups < 0) return errno;
  int err = as_caller_capget(own->caps);
  if (err != 0) return err;
  own->ngroups = (int)ngroups;
  /* setfsuid returns the previous value whatever it is given; -1 is never a valid id, so nothing changes. */
  own->fsuid = (uid_t)syscall(SYS_setfsuid, -1);
  own->fsgid = (gid_t)syscall(SYS_setfsgid, -1);
  /* as_caller_switch_egid's condition (as_caller.h). */
  gid_t rgid, egid, sgid;
  own->egid_way = syscall(SYS_getresgid, &rgid, &egid, &sgid) == 0 && egid == own->fsgid;
  return 0;
}

int as_caller_own_groups(const struct as_caller_own *own, const gid_t *groups, uint32_t ngroups) {
  return (int)ngroups == own->ngroups && memcmp(groups, own->groups, ngroups * sizeof(gid_t)) == 0;
}

/* The last step of both switches: as effective capabilities, only the lent ones (none inheritable). */
static int lend_effective(const struct as_caller_own *own, const struct as_caller_identity *id, const char **failed) {
  struct __user_cap_data_struct caps[2] = {own->caps[0], own->caps[1]};
  caps[0].effective = id->effective;
  caps[1].effective = 0;
  caps[0].inheritable = caps[1].inheritable = 0;
  int err = as_caller_capset(caps);
  if (err != 0) *failed = "capset";
  return err;
}

int as_caller_switch(const struct as_caller_own *own, const struct as_caller_identity *id, int set_groups,
                     const char **failed) {
  if (set_groups && syscall(SYS_setgroups, (size_t)id->ngroups, id->groups) < 0) {
    *failed = "setgroups";
    return errno;
  }
  syscall(SYS_setfsgid, id->fsgid);
  syscall(SYS_setfsuid, id->fsuid);
  if ((uint32_t)syscall(SYS_setfsgid, -1) != id->fsgid || (uint32_t)syscall(SYS_setfsuid, -1) != id->fsuid) {
    *failed = "setfsuid";
    return EPERM;
  }
  return lend_effective(own, id, failed);
}

int as_caller_restore(const struct as_caller_own *own, int groups_changed) {
  int err = as_caller_capset(own->caps); /* first: setgroups needs CAP_SETGID */
  if (groups_changed && syscall(SYS_setgroups, (size_t)own->ngroups, own->groups) < 0 && err == 0) err = errno;
  syscall(SYS_setfsgid, own->fsgid);
  syscall(SYS_setfsuid, own->fsuid);
  if (err == 0 && ((gid_t)syscall(SYS_setfsgid, -1) != own->fsgid || (uid_t)syscall(SYS_setfsuid, -1) != own->fsuid)) {
    err = EPERM;
  }
  /* setfsuid() back to 0 raised the file-system capabilities the thread permits itself; unless its
   * effective set is exactly its permitted one, put exactly the saved sets back. */
  if (own->caps[0].effective != own->caps[0].permitted || own->caps[1].effective != own->caps[1].permitted) {
    int again = as_caller_capset(own->caps);
    if (err == 0) err = again;
  }
  return err;
}

int as_caller_switch_egid(const struct as_caller_own *own, const struct as_caller_identity *id, int set_groups,
                          const char **failed) {
  if (!own->egid_way) {
    *failed = "setresgid (the thread's effective gid is not its fs gid)";
    return EPERM;
  }
  if (set_groups && syscall(SYS_setgroups, (size_t)id->ngroups, id->groups) < 0) {
    *failed = "setgroups";
    return errno;
  }
  if (syscall(SYS_setresgid, -1, id->fsgid, -1) < 0) {
    *failed = "setresgid";
    return errno;
  }
  syscall(SYS_setfsuid, id->fsuid);
  if ((uint32_t)syscall(SYS_setfsuid, -1) != id->fsuid) {
    *failed = "setfsuid";
    return EPERM;
  }
  return lend_effective(own, id, failed);
}

int as_caller_restore_egid(const struct as_caller_own *own, int groups_changed) {
  int err = as_caller_capset(own->caps); /* first: setgroups and setresgid need CAP_SETGID */
  if (groups_changed && syscall(SYS_setgroups, (size_t)own->ngroups, own->groups) < 0 && err == 0) err = errno;
  if (syscall(SYS_setresgid, -1, own->fsgid, -1) < 0 && err == 0) err = errno;
  syscall(SYS_setfsuid, own->fsuid);
  if ((uid_t)syscall(SYS_setfsuid, -1) != own->fsuid && err == 0) err = EPERM;
  /* setfsuid() back to 0 raised the file-system capabilities the thread permits itself; unless its
   * effective set is exactly its permitted one, put exactly the saved sets back. */
  if (own->caps[0].effective != own->caps[0].permitted || own->caps[1].effective != own->caps[1].permitted) {
    int again = as_caller_capset(own->caps);
    if (err == 0) err = again;
  }
  return err;
}

int as_caller_root_of(int fd, struct as_caller_root *out) {
  struct statx st;
  if (statx(fd, "", AT_EMPTY_PATH, STATX_INO | STATX_MNT_ID, &st) < 0) return errno;
  if (!(st.stx_mask & STATX_MNT_ID)) return ENOTSUP;
  out->mnt_id = st.stx_mnt_id;
  out->ino = st.stx_ino;
  out->dev_major = st.stx_dev_major;
  out->dev_minor = st.stx_dev_minor;
  return 0;
}

int as_caller_same_root(const struct as_caller_root *a, const struct as_caller_root *b) {
  return a->mnt_id == b->mnt_id && a->ino == b->ino && a->dev_major == b->dev_major && a->dev_minor == b->dev_minor;
}

int as_caller_enter_root(int root_fd, const char **failed) {
  if (fchdir(root_fd) < 0) {
    *failed = "fchdir(root)";
    return errno;
  }
  if (chroot(".") < 0) {
    *failed = "chroot";
    return errno;
  }
  return 0;
}

size_t as_caller_path_last(const char *path) {
  size_t end = strlen(path);
  while (end > 0 && path[end - 1] == '/') end--;
  if (end == 0) return (size_t)-1;
  size_t at = end;
  while (at > 0 && path[at - 1] != '/') at--;
  return at;
}

int as_caller_path_open(int dirfd, const char *path, size_t length, int flags) {
  char copy[AS_CALLER_PATH_MAX];
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

int as_caller_raw_mknodat(int dirfd, const char *name, uint32_t mode, uint32_t dev) {
  long rc;
  do {
    rc = syscall(SYS_mknodat, dirfd, name, (unsigned long)mode, (unsigned long)dev);
  } while (rc < 0 && errno == EINTR);
  return rc < 0 ? errno : 0;
}

int as_caller_mknodat(int dirfd, const char *path, uint32_t mode, uint32_t dev, int *eperm_directory) {
  if (eperm_directory != NULL) *eperm_directory = -1;
  size_t at = as_caller_path_last(path);
  if (at == (size_t)-1) return EEXIST;
  int directory = dirfd;
  if (at > 0) {
    directory = as_caller_path_open(dirfd, path, at, O_PATH | O_DIRECTORY);
    if (directory < 0) return -directory;
  }
  int err = as_caller_raw_mknodat(directory, path + at, mode, dev);
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
