/*
 * MOUNT (and its UMOUNT form): a block-device filesystem mounted for a caller in a user namespace,
 * as Incus's security.syscalls.intercept.mount does, in three steps, each in a process of its own
 * and each bounded in time (helper.h):
 *
 * Step 1, the caller's own view (lookup_child): a child joins the caller's cgroup (cgroup2, when the
 * supervisor found one: the caller's device programs then judge its opens) and mount namespace, then
 * takes on all of the caller (root, cwd, ids, groups, user namespace, capabilities: become_caller)
 * and opens, once each and never through a /proc magic link, the source (read-write, or read-only
 * for a read-only mount: a block device the caller itself could open, so its permission bits, a
 * nodev mount under it, all count) and the target (O_PATH, a directory). Absolute paths are opened
 * with RESOLVE_IN_ROOT from the caller's root fd, relative ones from its cwd inside its root. It
 * passes both fds back; nothing is looked up by name again.
 *
 * The same child checks that the target is no procfs, sysfs or other kernel pseudo-filesystem
 * directory, nor under one, up to the caller's root (EPERM: a mount there could hide what the
 * container's runtime masked). The helper itself first checks that the caller's mount namespace is
 * owned by the caller's user namespace (else the caller's CAP_SYS_ADMIN does not cover it: EPERM, as
 * the kernel's may_mount).
 *
 * Step 2, the mount (mount_child), with the helper's own credentials (the initial user namespace's
 * CAP_SYS_ADMIN, which a block filesystem needs): fsopen(fstype), which must be a filesystem that
 * needs a device (/proc/filesystems without "nodev", read after fsopen loaded its module); "source"
 * is /proc/self/fd/N of the caller's own open of the device (this process's /proc, in the helper's
 * mount namespace: the very inode the caller opened); the caller's options one by one with
 * fsconfig, refusing those that name a device, a path or a fd (EPERM: they would be looked up with
 * the helper's privilege, e.g. ext4's journal_path, xfs's logdev); the superblock flags the caller
 * asked for; fsmount with the mount attributes the supervisor computed (nosuid and nodev unless the
 * policy allows suid/dev); for "shift", mount_setattr(MOUNT_ATTR_IDMAP) with the caller's user
 * namespace, so the filesystem's ids appear as the container's. Then it joins the caller's mount
 * namespace and move_mount()s the detached mount onto the target fd. Its answer carries the new
 * mount's id (statx STATX_MNT_ID_UNIQUE, or STATX_MNT_ID before Linux 6.8), which the supervisor
 * keeps to recognise the mount at umount.
 *
 * UMOUNT: one child joins the caller's mount namespace, becomes the caller, and calls umount2 itself,
 * with the caller's privilege and nothing more (a mount the container's runtime locked stays locked);
 * before that it checks that the path names the root of a mount the supervisor tracks (one of the
 * ids it sent), and answers EAGAIN when it does not (the supervisor then lets the kernel answer).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/mount.h>
#include <linux/nsfs.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"
#include "seccomp_compat.h"

/* umount2's flags (sys/mount.h, which clashes with linux/mount.h on older glibc). */
#define UMOUNT_FLAG_FORCE 1
#define UMOUNT_FLAG_DETACH 2
#define UMOUNT_FLAG_EXPIRE 4
#define UMOUNT_FLAG_NOFOLLOW 8

#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif
#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U
#endif
#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif

/* What one exchange with a mount child may take: a journal replay of a large filesystem is slower
 * than a mknod. The supervisor's bound (HELPER_TIMEOUT_MS) covers step 1 plus this. */
#define MOUNT_CHILD_TIMEOUT_MS 6000


struct mount_answer {
  int32_t err;
  uint32_t reserved;
  uint64_t mnt_id;
};

#define word_at wire_word

static int is_directory(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Copies `length` bytes (no NUL inside) into `dst` (NUL-terminated); 0 or EINVAL. */
static int take_string(const unsigned char **at, const unsigned char *end, uint32_t length, char *dst, size_t capacity) {
  if (length >= capacity || (size_t)(end - *at) < length || memchr(*at, '\0', length) != NULL) return EINVAL;
  memcpy(dst, *at, length);
  dst[length] = '\0';
  *at += length;
  return 0;
}

/* A FUSE program's file name: 1..63 of [A-Za-z0-9._+-], not "." or "..", no slash. */
static int fuse_program_name(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) return 0;
  return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-") == n;
}

int wire_parse_mount(const unsigned char *buf, size_t length, const int *fds, size_t nfds, struct mount_request *m) {
  struct helper_request *req = &m->caller;
  if (length < WIRE_HEADER_BYTES + 12 || nfds < 4 || nfds > 6) return EINVAL;
  req->op = word_at(buf, WIRE_OP);
  m->attr = word_at(buf, WIRE_MODE);
  m->flags = word_at(buf, WIRE_DEV);
  req->mode = req->dev = 0;
  if (wire_parse_identity(buf, req) != 0) return EINVAL;
  uint32_t source_length = word_at(buf, WIRE_PATH_LENGTH);
  const unsigned char *at = buf + WIRE_HEADER_BYTES, *end = buf + length;
  if ((size_t)(end - at) < 4 * (size_t)req->ngroups + 12) return EINVAL;
  for (uint32_t i = 0; i < req->ngroups; i++) req->groups[i] = word_at(at, 4 * i);
  at += 4 * req->ngroups;
  uint32_t target_length = word_at(at, 0), fstype_length = word_at(at, 4), options_length = word_at(at, 8);
  at += 12;
  int umount = (m->flags & MOUNT_REQUEST_UMOUNT) != 0;
  m->flags &= ~MOUNT_REQUEST_UMOUNT;
  m->umount = umount;
  if (umount ? source_length != 0 : (source_length == 0 || fstype_length == 0)) return EINVAL;
  if (target_length == 0) return EINVAL;
  int err;
  if ((err = take_string(&at, end, source_length, m->source, sizeof m->source)) != 0) return err;
  if ((err = take_string(&at, end, target_length, m->target, sizeof m->target)) != 0) return err;
  if ((err = take_string(&at, end, fstype_length, m->fstype, sizeof m->fstype)) != 0) return err;
  if ((err = take_string(&at, end, options_length, m->options, sizeof m->options)) != 0) return err;
  if (umount) {
    if ((size_t)(end - at) < 4) return EINVAL;
    m->tracked_count = word_at(at, 0);
    at += 4;
    if (m->tracked_count == 0 || m->tracked_count > WIRE_MOUNT_MAX_TRACKED || (size_t)(end - at) != 8 * (size_t)m->tracked_count) return EINVAL;
    memcpy(m->tracked, at, 8 * (size_t)m->tracked_count);
  } else if (at != end) {
    return EINVAL;
  }
  req->path[0] = '\0';
  req->target_fd = -1;
  req->root_fd = fds[0];
  req->userns_fd = fds[1];
  req->start_fd = fds[2];
  m->mntns_fd = fds[3];
  int fuse = !umount && (m->flags & MOUNT_WANT_FUSE) != 0, cgroup = !umount && (m->flags & MOUNT_HAS_CGROUP) != 0;
  if (nfds != 4u + (size_t)cgroup + (size_t)fuse) return EINVAL;
  m->cgroup_fd = cgroup ? fds[4] : -1;
  m->pidns_fd = fuse ? fds[4 + cgroup] : -1;
  if (fuse && ioctl(m->pidns_fd, NS_GET_NSTYPE) != CLONE_NEWPID) return EINVAL;
  if (cgroup) {
    struct stat st;
    if (fstat(m->cgroup_fd, &st) != 0 || !S_ISREG(st.st_mode)) return EINVAL;
  }
  if (fuse && !fuse_program_name(m->fstype)) return EINVAL;
  if (!is_directory(req->root_fd) || !is_directory(req->start_fd)) return EINVAL;
  if (!umount && (m->flags & ~(uint32_t)(MOUNT_WANT_SB_FLAGS | MOUNT_WANT_SHIFT | MOUNT_WANT_FUSE | MOUNT_HAS_CGROUP)) != 0) return EINVAL;
  if (ioctl(req->userns_fd, NS_GET_NSTYPE) != CLONE_NEWUSER || ioctl(m->mntns_fd, NS_GET_NSTYPE) != CLONE_NEWNS) return EINVAL;
  return 0;
}

/* openat2 as the caller: an absolute path from its root (RESOLVE_IN_ROOT), a relative one from its
 * cwd; never through a magic link. An fd or -errno. */
static int open_as_caller(const struct helper_request *req, const char *path, int flags, uint64_t extra_resolve) {
  struct {
    uint64_t flags, mode, resolve;
  } how = {(uint64_t)(flags | O_CLOEXEC), 0, RESOLVE_NO_MAGICLINKS | extra_resolve};
  int dirfd = req->start_fd;
  if (path[0] == '/') {
    dirfd = req->root_fd;
    how.resolve |= RESOLVE_IN_ROOT;
  }
  long fd;
  do {
    fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
  } while (fd < 0 && errno == EINTR);
  return fd < 0 ? -errno : (int)fd;
}

static int statx_mount(int fd, uint64_t *mnt_id, int *is_mount_root) {
  struct statx stx;
  memset(&stx, 0, sizeof stx);
  if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID_UNIQUE | STATX_MNT_ID, &stx) != 0) return errno;
  if (!(stx.stx_mask & (STATX_MNT_ID_UNIQUE | STATX_MNT_ID))) return ENOTSUP;
  *mnt_id = stx.stx_mnt_id;
  if (is_mount_root != NULL) *is_mount_root = (stx.stx_attributes & stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) != 0;
  return 0;
}

typedef void mount_act(int sock, const struct mount_request *m);

/* run_mount_child's child: the act on the request. */
struct mount_child_run {
  const struct mount_request *m;
  mount_act *act;
};

static void run_mount_act(int sock, const void *arg) {
  const struct mount_child_run *r = arg;
  r->act(sock, r->m);
}

/*
 * Runs `act` (which answers with a struct mount_answer and up to two fds) in a bounded child
 * (run_bounded_child): a child that gives no answer within `timeout_ms` is killed and the request
 * answered EAGAIN.
 */
static int run_mount_child(struct helper *h, const struct mount_request *m, mount_act *act, int timeout_ms,
                           struct mount_answer *answer, int fds_out[2]) {
  fds_out[0] = fds_out[1] = -1;
  const struct mount_child_run run = {m, act};
  int sock;
  pid_t pid;
  int err = run_bounded_child(h, run_mount_act, &run, timeout_ms, "a mount child", &sock, &pid);
  if (err != 0) return err;
  int fds[WIRE_MAX_FDS];
  size_t nfds;
  int truncated;
  ssize_t n = wire_receive(sock, answer, sizeof *answer, MSG_DONTWAIT, fds, &nfds, &truncated);
  reap_answered(pid);
  close(sock);
  if (n != (ssize_t)sizeof *answer || nfds > 2) {
    wire_close_fds(fds, nfds);
    fprintf(stderr, "wasmsup-helper: a mount child gave no answer\n");
    return EPERM;
  }
  for (size_t k = 0; k < nfds; k++) fds_out[k] = fds[k];
  return 0;
}

static void answer_with(int sock, int err, uint64_t mnt_id, const int *fds, size_t nfds) {
  struct mount_answer a = {err, 0, mnt_id};
  wire_send(sock, &a, sizeof a, fds, nfds);
}

/* Joins the caller's mount namespace (which resets root and cwd: become_caller then sets them). */
static int join_mount_namespace(const struct mount_request *m) {
  return setns(m->mntns_fd, CLONE_NEWNS) < 0 ? errno : 0;
}

/* Moves this process into the caller's cgroup (its cgroup2 cgroup.procs, opened by the supervisor),
 * so that the caller's device programs judge the open of the source, and a FUSE program lives and
 * is accounted where the caller does. */
static int join_cgroup(const struct mount_request *m) {
  if (m->cgroup_fd < 0) return 0;
  ssize_t n;
  do {
    n = write(m->cgroup_fd, "0", 1);
  } while (n < 0 && errno == EINTR);
  if (n == 1) return 0;
  int err = n < 0 ? errno : EIO;
  fprintf(stderr, "wasmsup-helper: mount: cannot join the caller's cgroup: %s\n", strerror(err));
  return err;
}

static int check_target(int target, int root_fd);

/* Step 1, as the caller: its source device and target directory, opened once, and the target checked. */
static void lookup_child(int sock, const struct mount_request *m) {
  int err = join_cgroup(m);
  if (err == 0) err = join_mount_namespace(m);
  if (err == 0) err = become_caller(&m->caller);
  if (err != 0) {
    fprintf(stderr, "wasmsup-helper: cannot take on the mount caller: %s\n", strerror(err));
    answer_with(sock, EPERM, 0, NULL, 0);
    return;
  }
  int source = open_as_caller(&m->caller, m->source, (m->flags & MOUNT_WANT_RDONLY) ? O_RDONLY : O_RDWR, 0);
  if (source < 0) {
    answer_with(sock, -source, 0, NULL, 0);
    return;
  }
  struct stat st;
  int fuse = (m->flags & MOUNT_WANT_FUSE) != 0;
  if (fstat(source, &st) != 0 || !(S_ISBLK(st.st_mode) || (fuse && S_ISREG(st.st_mode)))) {
    /* The kernel's answer for a source that is no block device (a regular file: no loop mounts here;
     * a FUSE program reads an image file itself). */
    answer_with(sock, ENOTBLK, 0, NULL, 0);
    return;
  }
  int target = open_as_caller(&m->caller, m->target, O_PATH | O_DIRECTORY, 0);
  if (target < 0) {
    answer_with(sock, -target, 0, NULL, 0);
    return;
  }
  /* Here, in this bounded child, not in the helper: statfs of a directory on a FUSE filesystem the
   * workload serves may never return. */
  int err_target = check_target(target, m->caller.root_fd);
  if (err_target != 0) {
    answer_with(sock, err_target, 0, NULL, 0);
    return;
  }
  int fds[2] = {source, target};
  answer_with(sock, 0, 0, fds, 2);
}

/* The kernel's pseudo-filesystems a container's runtime mounts and masks: no mount goes on or under them. */
static int is_pseudo_filesystem(long type) {
  switch ((unsigned long)type) {
    case PROC_SUPER_MAGIC: case SYSFS_MAGIC: case CGROUP_SUPER_MAGIC: case CGROUP2_SUPER_MAGIC:
    case SECURITYFS_MAGIC: case DEBUGFS_MAGIC: case TRACEFS_MAGIC: case BPF_FS_MAGIC: case SELINUX_MAGIC:
    case SMACK_MAGIC: case PSTOREFS_MAGIC: case EFIVARFS_MAGIC: case 0x62656570 /* configfs */:
    case 0x65735543 /* fusectl */: case BINFMTFS_MAGIC:
      return 1;
    default:
      return 0;
  }
}

/* EPERM when `target` or a directory above it, up to the caller's root, is on a pseudo-filesystem. */
static int check_target(int target, int root_fd) {
  struct stat root, st;
  if (fstat(root_fd, &root) != 0) return EPERM;
  int dir = fcntl(target, F_DUPFD_CLOEXEC, 0);
  if (dir < 0) return ENOMEM;
  for (int depth = 0; depth < AS_CALLER_PATH_MAX / 2; depth++) {
    struct statfs sfs;
    if (fstatfs(dir, &sfs) != 0 || fstat(dir, &st) != 0) break;
    if (is_pseudo_filesystem(sfs.f_type)) {
      close(dir);
      return EPERM;
    }
    if (st.st_dev == root.st_dev && st.st_ino == root.st_ino) {
      close(dir);
      return 0;
    }
    int up = openat(dir, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
    close(dir);
    if (up < 0) return EPERM;
    /* ".." of the helper's own root is itself: the target was not under the caller's root. */
    struct stat up_st;
    if (fstat(up, &up_st) == 0 && up_st.st_dev == st.st_dev && up_st.st_ino == st.st_ino) {
      close(up);
      return EPERM;
    }
    dir = up;
  }
  close(dir);
  return EPERM;
}

/* The caller's mount namespace must be its own user namespace's, as the kernel's may_mount asks. */
static int mount_namespace_is_callers(const struct mount_request *m) {
  int owner = ioctl(m->mntns_fd, NS_GET_USERNS);
  if (owner < 0) return 0;
  struct stat a, b;
  int same = fstat(owner, &a) == 0 && fstat(m->caller.userns_fd, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
  close(owner);
  return same;
}

/* Whether /proc/filesystems lists `fstype` as needing a device (no "nodev" column). */
static int needs_device(const char *fstype) {
  FILE *f = fopen("/proc/filesystems", "re");
  if (f == NULL) return 0;
  char line[128];
  int found = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    char *tab = strchr(line, '\t');
    if (tab == NULL) continue;
    char *name = tab + 1;
    name[strcspn(name, "\n")] = '\0';
    if (strcmp(name, fstype) == 0) {
      found = tab == line; /* an empty first column: a block filesystem */
      break;
    }
  }
  fclose(f);
  return found;
}

/* Option keys never passed on: they name a device, path or fd the filesystem would open with the
 * helper's privilege, or the source itself. */
static int refused_key(const char *key) {
  static const char *const exact[] = {"source", "fd", "device", "journal_dev", "journal_path", "logdev", "rtdev", "usrquota_path"};
  for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++) {
    if (strcmp(key, exact[i]) == 0) return 1;
  }
  return strstr(key, "dev") != NULL || strstr(key, "path") != NULL;
}

static int fsconfig_raw(int fs, unsigned cmd, const char *key, const char *value, int aux) {
  return syscall(SYS_fsconfig, fs, cmd, key, value, aux) < 0 ? errno : 0;
}

/* Step 2, with the helper's own credentials; the source and target fds are the caller's (step 1). */
static void mount_child(int sock, const struct mount_request *m) {
  int fs = (int)syscall(SYS_fsopen, m->fstype, FSOPEN_CLOEXEC);
  if (fs < 0) {
    answer_with(sock, errno, 0, NULL, 0);
    return;
  }
  if (!needs_device(m->fstype)) {
    fprintf(stderr, "wasmsup-helper: mount: %s is not a block-device filesystem; refused\n", m->fstype);
    answer_with(sock, EPERM, 0, NULL, 0);
    return;
  }
  char source[64];
  snprintf(source, sizeof source, "/proc/self/fd/%d", m->source_fd);
  int err = fsconfig_raw(fs, FSCONFIG_SET_STRING, "source", source, 0);
  static const struct { uint32_t bit; const char *name; } sb_flags[] = {
      {MOUNT_WANT_RDONLY, "ro"}, {MOUNT_WANT_SYNC, "sync"}, {MOUNT_WANT_DIRSYNC, "dirsync"}, {MOUNT_WANT_LAZYTIME, "lazytime"}};
  for (size_t i = 0; err == 0 && i < sizeof sb_flags / sizeof sb_flags[0]; i++) {
    if (m->flags & sb_flags[i].bit) err = fsconfig_raw(fs, FSCONFIG_SET_FLAG, sb_flags[i].name, NULL, 0);
  }
  /* The caller's options as the kernel's generic_parse_monolithic splits them. */
  char options[sizeof m->options];
  memcpy(options, m->options, sizeof options);
  for (char *cursor = options, *item; err == 0 && (item = strsep(&cursor, ",")) != NULL;) {
    if (*item == '\0') continue;
    char *value = strchr(item, '=');
    if (value != NULL) *value++ = '\0';
    if (refused_key(item)) {
      fprintf(stderr, "wasmsup-helper: mount: option %s refused (it names a device, path or fd)\n", item);
      err = EPERM;
    } else {
      err = value != NULL ? fsconfig_raw(fs, FSCONFIG_SET_STRING, item, value, 0) : fsconfig_raw(fs, FSCONFIG_SET_FLAG, item, NULL, 0);
    }
  }
  if (err == 0) err = fsconfig_raw(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
  if (err != 0) {
    answer_with(sock, err, 0, NULL, 0);
    return;
  }
  int mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, m->attr);
  if (mnt < 0) {
    answer_with(sock, errno, 0, NULL, 0);
    return;
  }
  if (m->flags & MOUNT_WANT_SHIFT) {
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)m->caller.userns_fd};
    if (syscall(SYS_mount_setattr, mnt, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) {
      answer_with(sock, errno, 0, NULL, 0);
      return;
    }
  }
  if ((err = join_mount_namespace(m)) != 0) {
    answer_with(sock, err, 0, NULL, 0);
    return;
  }
  if (syscall(SYS_move_mount, mnt, "", m->target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
    answer_with(sock, errno, 0, NULL, 0);
    return;
  }
  uint64_t mnt_id = 0;
  statx_mount(mnt, &mnt_id, NULL);
  answer_with(sock, 0, mnt_id, NULL, 0);
}

/* Where a FUSE program is looked for, in the caller's root. */
static const char *const FUSE_PROGRAM_DIRS[] = {"/usr/sbin", "/usr/bin", "/sbin", "/bin"};
#define FUSE_PROGRAM_TIMEOUT_MS 5000

/*
 * The FUSE fallback, as the caller: joins its cgroup, mount and pid namespaces, becomes the caller (root,
 * cwd, ids, user namespace, capabilities), finds the program in the caller's own
 * root, and runs it (a grandchild, in that pid namespace) as `PROGRAM /proc/self/fd/3 . -o OPTIONS`
 * with the source the caller opened as fd 3 and the target as its cwd; nothing else of the helper's
 * is open in it. The program mounts with the caller's own privilege (FUSE is mountable in a user
 * namespace), daemonizes, and its foreground process exits 0 once the mount is up.
 */
static void fuse_child(int sock, const struct mount_request *m) {
  /* The pid namespace first, with the helper's privilege (the caller need not own its own): it only
   * decides where the program's process will live, which is where the caller lives. */
  int err = join_cgroup(m);
  if (err == 0) err = join_mount_namespace(m);
  if (err == 0 && setns(m->pidns_fd, CLONE_NEWPID) < 0) err = errno;
  if (err == 0) err = become_caller(&m->caller);
  if (err != 0) {
    fprintf(stderr, "wasmsup-helper: cannot take on the FUSE mount's caller: %s\n", strerror(err));
    answer_with(sock, EPERM, 0, NULL, 0);
    return;
  }
  int program = -ENOENT;
  char path[AS_CALLER_PATH_MAX];
  for (size_t i = 0; i < sizeof FUSE_PROGRAM_DIRS / sizeof FUSE_PROGRAM_DIRS[0] && program < 0; i++) {
    snprintf(path, sizeof path, "%s/%s", FUSE_PROGRAM_DIRS[i], m->fstype);
    program = open_as_caller(&m->caller, path, O_PATH, 0);
  }
  if (program < 0) {
    fprintf(stderr, "wasmsup-helper: FUSE program %s not found in the caller's root\n", m->fstype);
    answer_with(sock, ENODEV, 0, NULL, 0);
    return;
  }
  char options[sizeof m->options + 16];
  snprintf(options, sizeof options, "%s%s%s", (m->flags & MOUNT_WANT_RDONLY) ? "ro" : "",
           (m->flags & MOUNT_WANT_RDONLY) && m->options[0] ? "," : "", m->options);
  pid_t pid = fork();
  if (pid < 0) {
    answer_with(sock, ENOMEM, 0, NULL, 0);
    return;
  }
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull >= 0) dup2(devnull, 0);
    /* Source as fd 3, program as fd 4, nothing else (copied high first, so no dup2 clobbers another). */
    int source = fcntl(m->source_fd, F_DUPFD_CLOEXEC, 100), exe = fcntl(program, F_DUPFD_CLOEXEC, 100);
    if (source < 0 || exe < 0 || fchdir(m->target_fd) < 0 || dup2(source, 3) < 0 || dup2(exe, 4) < 0) _exit(126);
    syscall(SYS_close_range, 5, ~0U, 0);
    program = 4;
    char *argv[] = {(char *)m->fstype, "/proc/self/fd/3", ".", options[0] ? "-o" : NULL, options, NULL};
    char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    syscall(SYS_execveat, program, "", argv, envp, AT_EMPTY_PATH);
    _exit(127);
  }
  long long deadline = monotonic_ms() + FUSE_PROGRAM_TIMEOUT_MS;
  int status = 0;
  pid_t done;
  while ((done = waitpid(pid, &status, WNOHANG)) == 0 && monotonic_ms() < deadline) usleep(10000);
  if (done != pid) {
    kill(pid, SIGKILL);
    wait_for(pid);
    fprintf(stderr, "wasmsup-helper: FUSE program %s did not finish mounting within %d ms; killed it\n", m->fstype, FUSE_PROGRAM_TIMEOUT_MS);
    answer_with(sock, EAGAIN, 0, NULL, 0);
    return;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "wasmsup-helper: FUSE program %s failed (wait status %d)\n", m->fstype, status);
    answer_with(sock, EPERM, 0, NULL, 0);
    return;
  }
  answer_with(sock, 0, 0, NULL, 0);
}

/* UMOUNT, all as the caller: a mount the supervisor tracks, then the caller's own umount2. */
static void umount_child(int sock, const struct mount_request *m) {
  int err = join_mount_namespace(m);
  if (err == 0) err = become_caller(&m->caller);
  if (err != 0) {
    answer_with(sock, EPERM, 0, NULL, 0);
    return;
  }
  int nofollow = (m->flags & UMOUNT_FLAG_NOFOLLOW) != 0;
  int fd = open_as_caller(&m->caller, m->target, O_PATH | (nofollow ? O_NOFOLLOW : 0), 0);
  if (fd < 0) {
    answer_with(sock, -fd, 0, NULL, 0);
    return;
  }
  uint64_t mnt_id = 0;
  int root = 0;
  err = statx_mount(fd, &mnt_id, &root);
  close(fd);
  int tracked = 0;
  for (uint32_t i = 0; i < m->tracked_count && !tracked; i++) tracked = m->tracked[i] == mnt_id;
  if (err != 0 || !root || !tracked) {
    answer_with(sock, EAGAIN, mnt_id, NULL, 0);
    return;
  }
  answer_with(sock, syscall(SYS_umount2, m->target, (int)m->flags) < 0 ? errno : 0, mnt_id, NULL, 0);
}

int serve_mount(struct helper *h, struct mount_request *m, uint64_t *mnt_id) {
  struct mount_answer answer;
  int fds[2];
  *mnt_id = 0;
  if (!mount_namespace_is_callers(m)) return EPERM;
  if (m->umount) {
    if ((m->flags & ~(uint32_t)(UMOUNT_FLAG_FORCE | UMOUNT_FLAG_DETACH | UMOUNT_FLAG_EXPIRE | UMOUNT_FLAG_NOFOLLOW)) != 0) return EINVAL;
    int err = run_mount_child(h, m, umount_child, IMPERSONATOR_TIMEOUT_MS, &answer, fds);
    wire_close_fds(fds, fds[1] >= 0 ? 2 : fds[0] >= 0 ? 1 : 0);
    if (err != 0) return err;
    *mnt_id = answer.mnt_id;
    return answer.err;
  }
  int err = run_mount_child(h, m, lookup_child, IMPERSONATOR_TIMEOUT_MS, &answer, fds);
  if (err == 0) err = answer.err;
  if (err == 0 && (fds[0] < 0 || fds[1] < 0)) err = EPERM;
  if (err == 0) {
    m->source_fd = fds[0];
    m->target_fd = fds[1];
    int none[2];
    int fuse = (m->flags & MOUNT_WANT_FUSE) != 0;
    err = run_mount_child(h, m, fuse ? fuse_child : mount_child, MOUNT_CHILD_TIMEOUT_MS, &answer, none);
    wire_close_fds(none, none[1] >= 0 ? 2 : none[0] >= 0 ? 1 : 0);
    if (err == 0) err = answer.err;
    if (err == 0) *mnt_id = answer.mnt_id;
  }
  for (int k = 0; k < 2; k++) {
    if (fds[k] >= 0) close(fds[k]);
  }
  return err;
}
