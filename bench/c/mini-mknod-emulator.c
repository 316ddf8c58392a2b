/*
 * The floor of row (f) in `npm run bench`: the least a supervisor can do to emulate a user namespace's
 * mknod the way wasmsup's fast path does (docs/performance.md, "(f)"), in C, one thread, no policy, no
 * JavaScript. Per notification, the same kernel work as wasmsup, syscall for syscall: the caller's
 * /proc/TID/status re-read through a kept fd and its user namespace read by readlink (what a policy
 * needs to know who calls), ID_VALID; the path read with process_vm_readv, /proc/TID/root opened,
 * ID_VALID; then on this thread: chroot into that root unless it is our own, the caller's umask,
 * groups (unless ours), setresgid(-1, gid, -1), setfsuid checked by reading it back, CAP_MKNOD only,
 * the path's directory opened once (openat2, no magic links) and mknodat in it, and everything back
 * (setfsuid read back again), the process made dumpable again; the answer with SEND: 29 syscalls.
 * `--fsuid`: this program's former steps (24 syscalls: setfsgid/setfsuid unchecked, no directory fd,
 * no dumpable, no ID_VALID after the status read but one after the path).
 *
 *   mini-mknod-emulator -- CMD...   runs CMD as root of a new user namespace (and mount namespace,
 *                                   as `wasmsup run --userns` does) mapped to 100000-165535, with
 *                                   mknodat of character devices routed here
 *
 * Bench-only: no allowlist, no fallback for EACCES, x86_64 mknodat with an absolute path only (what
 * the workload's glibc mknod() makes). Exits with CMD's status.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>

#define PROGRAM "mini-mknod-emulator"
#include "bench-supervisor.h"

#define NS_HOST_ID 100000
#define NS_COUNT 65536

static int install_filter(void) {
  struct sock_filter code[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mknodat, 0, 3), /* glibc's mknod() is mknodat(AT_FDCWD, …) */
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
    BPF_STMT(BPF_ALU | BPF_AND | BPF_K, S_IFMT),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, S_IFCHR, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
  };
  return install_program(code, sizeof code / sizeof code[0], SECCOMP_FILTER_FLAG_NEW_LISTENER);
}

static void write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) die(path);
  close(fd);
}

/* What the status file says of the caller: the fields the create step takes on. */
struct caller { uint32_t fsuid, fsgid, umask, ngroups, groups[64]; };

static const char *field(const char *text, const char *name) {
  const char *p = strstr(text, name);
  return p ? p + strlen(name) : NULL;
}

static int parse_status(const char *text, struct caller *c) {
  const char *uid = field(text, "\nUid:"), *gid = field(text, "\nGid:"), *um = field(text, "\nUmask:");
  const char *groups = field(text, "\nGroups:");
  if (!uid || !gid || !um || !groups) return -1;
  unsigned r, e, s, fs;
  if (sscanf(uid, "%u %u %u %u", &r, &e, &s, &fs) != 4) return -1;
  c->fsuid = fs;
  if (sscanf(gid, "%u %u %u %u", &r, &e, &s, &fs) != 4) return -1;
  c->fsgid = fs;
  c->umask = (uint32_t)strtoul(um, NULL, 8);
  c->ngroups = 0;
  char *end;
  for (const char *p = groups;; p = end) {
    unsigned long g = strtoul(p, &end, 10);
    if (end == p) break;
    if (c->ngroups == 64) return -1; /* never act with a cut list: refuse the call */
    c->groups[c->ngroups++] = (uint32_t)g;
  }
  return 0;
}

/* The thread's own state, to return to after each create. */
static int own_root, own_cwd, own_ngroups;
static gid_t own_groups[64];
static struct __user_cap_data_struct own_caps[2];
static struct statx own_root_id;

static int set_caps(const struct __user_cap_data_struct caps[2]) {
  struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct d[2] = { caps[0], caps[1] };
  return (int)syscall(SYS_capset, &h, d);
}

static int fsuid_way;

/* The directory part of `path` opened once (as native/as_caller.c does) and the last component made in it. */
static int mknod_resolved(const char *path, uint32_t mode, uint32_t dev) {
  const char *last = strrchr(path, '/');
  if (last == NULL || last == path) return syscall(SYS_mknodat, AT_FDCWD, path, (unsigned long)mode, (unsigned long)dev) == 0 ? 0 : errno;
  char dir[4096];
  memcpy(dir, path, (size_t)(last - path + 1));
  dir[last - path + 1] = '\0';
  struct { uint64_t flags, mode, resolve; } how = { O_PATH | O_DIRECTORY | O_CLOEXEC, 0, 0x02 /* RESOLVE_NO_MAGICLINKS */ };
  int fd = (int)syscall(SYS_openat2, AT_FDCWD, dir, &how, sizeof how);
  if (fd < 0) return errno;
  int err = syscall(SYS_mknodat, fd, last + 1, (unsigned long)mode, (unsigned long)dev) == 0 ? 0 : errno;
  close(fd);
  return err;
}

static int create_as(const struct caller *c, int root_fd, const char *path, uint32_t mode, uint32_t dev) {
  struct statx root_id;
  int chrooted = !(statx(root_fd, "", AT_EMPTY_PATH, STATX_INO | STATX_MNT_ID, &root_id) == 0 &&
                   root_id.stx_mnt_id == own_root_id.stx_mnt_id && root_id.stx_ino == own_root_id.stx_ino);
  if (chrooted && (fchdir(root_fd) != 0 || chroot(".") != 0)) die("chroot");
  mode_t saved = umask(c->umask);
  int groups_changed = c->ngroups != (uint32_t)own_ngroups || memcmp(c->groups, own_groups, c->ngroups * sizeof(gid_t)) != 0;
  if (groups_changed && syscall(SYS_setgroups, c->ngroups, c->groups) != 0) die("setgroups");
  struct __user_cap_data_struct create[2] = { own_caps[0], own_caps[1] };
  create[0].effective = 1u << CAP_MKNOD;
  create[1].effective = 0;
  create[0].inheritable = create[1].inheritable = 0;
  int err;
  if (fsuid_way) {
    syscall(SYS_setfsgid, c->fsgid);
    syscall(SYS_setfsuid, c->fsuid);
    if (set_caps(create) != 0) die("capset");
    err = syscall(SYS_mknodat, AT_FDCWD, path, (unsigned long)mode, (unsigned long)dev) == 0 ? 0 : errno;
    if (set_caps(own_caps) != 0) die("capset back");
    if (groups_changed && syscall(SYS_setgroups, own_ngroups, own_groups) != 0) die("setgroups back");
    syscall(SYS_setfsgid, 0);
    syscall(SYS_setfsuid, 0);
  } else {
    if (syscall(SYS_setresgid, -1, c->fsgid, -1) != 0) die("setresgid");
    syscall(SYS_setfsuid, c->fsuid);
    if ((uint32_t)syscall(SYS_setfsuid, -1) != c->fsuid) die("setfsuid");
    if (set_caps(create) != 0) die("capset");
    err = mknod_resolved(path, mode, dev);
    if (set_caps(own_caps) != 0) die("capset back");
    if (groups_changed && syscall(SYS_setgroups, own_ngroups, own_groups) != 0) die("setgroups back");
    if (syscall(SYS_setresgid, -1, 0, -1) != 0) die("setresgid back");
    syscall(SYS_setfsuid, 0);
    if (syscall(SYS_setfsuid, -1) != 0) die("setfsuid back");
  }
  umask(saved);
  if (chrooted && (fchdir(own_root) != 0 || chroot(".") != 0 || fchdir(own_cwd) != 0)) die("chroot back");
  if (!fsuid_way) prctl(PR_SET_DUMPABLE, 1);
  return err;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--fsuid") == 0) {
    fsuid_way = 1;
    argv++;
    argc--;
  }
  if (argc < 3 || strcmp(argv[1], "--") != 0) {
    fprintf(stderr, "usage: mini-mknod-emulator [--fsuid] -- CMD [ARGS...]\n");
    return 2;
  }
  exit_with_child();

  /* sv: the listener, child to parent; ready: "namespaces made", child to parent; go: "id maps
   * written", parent to child. */
  int sv[2], ready[2], go[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0 || pipe2(ready, O_CLOEXEC) != 0 || pipe2(go, O_CLOEXEC) != 0) {
    die("socketpair");
  }
  child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    close(sv[0]);
    close(ready[0]);
    close(go[1]);
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) die("unshare");
    if (write(ready[1], "r", 1) != 1) die("ready");
    char byte;
    if (read(go[0], &byte, 1) != 1) die("waiting for the id maps");
    /* Mapped ids alone change nothing: become the namespace's root, host uid 100000. */
    if (setgroups(0, NULL) != 0 || setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0) die("becoming the namespace's root");
    int listener = install_filter();
    send_fd(sv[1], listener);
    close(listener);
    execvp(argv[2], argv + 2);
    die(argv[2]);
  }
  close(sv[1]);
  close(ready[1]);
  close(go[0]);
  char byte;
  if (read(ready[0], &byte, 1) != 1) die("waiting for the child's namespaces");
  char path[64], map[64];
  snprintf(map, sizeof map, "0 %d %d\n", NS_HOST_ID, NS_COUNT);
  snprintf(path, sizeof path, "/proc/%d/uid_map", child);
  write_file(path, map);
  snprintf(path, sizeof path, "/proc/%d/gid_map", child);
  write_file(path, map);
  if (write(go[1], "g", 1) != 1) die("go");
  int listener = receive_fd(sv[0]);
  if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) != 0) die("SET_FLAGS");

  if (unshare(CLONE_FS) != 0) die("unshare(CLONE_FS)");
  own_root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  own_cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  own_ngroups = getgroups(64, own_groups);
  struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
  if (own_root < 0 || own_cwd < 0 || own_ngroups < 0 || syscall(SYS_capget, &h, own_caps) != 0 ||
      statx(own_root, "", AT_EMPTY_PATH, STATX_INO | STATX_MNT_ID, &own_root_id) != 0) {
    die("own state");
  }

  struct seccomp_notif req;
  struct seccomp_notif_resp resp;
  int status_fd = -1;
  pid_t status_tid = 0;
  static char status[16384], target[4096], link[64];
  for (;;) {
    receive_notification(listener, &req);
    resp.id = req.id;
    resp.val = 0;
    resp.error = 0;
    resp.flags = 0;
    pid_t tid = (pid_t)req.pid;
    /* Who calls: its status (kept open per thread) and its user namespace. */
    if (tid != status_tid) {
      if (status_fd >= 0) close(status_fd);
      snprintf(path, sizeof path, "/proc/%d/status", tid);
      status_fd = open(path, O_RDONLY | O_CLOEXEC);
      status_tid = tid;
    }
    ssize_t n = status_fd >= 0 ? pread(status_fd, status, sizeof status - 1, 0) : -1;
    snprintf(path, sizeof path, "/proc/%d/ns/user", tid);
    struct caller c;
    if (n <= 0 || readlink(path, link, sizeof link) <= 0) {
      resp.error = -ESRCH;
    } else {
      status[n] = '\0';
      if (parse_status(status, &c) != 0) die("parsing /proc/TID/status");
    }
    /* The credentials confirmed with ID_VALID (as caller_creds does); then the path and the caller's
     * root, confirmed with one ID_VALID after both (the --fsuid steps: one after each). */
    if (resp.error == 0 && !fsuid_way && ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req.id) != 0) resp.error = -ENOENT;
    struct iovec local = { target, sizeof target }, remote = { (void *)(uintptr_t)req.data.args[1], sizeof target };
    if (resp.error == 0 && process_vm_readv(tid, &local, 1, &remote, 1, 0) <= 0) resp.error = -EFAULT;
    if (resp.error == 0 && memchr(target, 0, sizeof target) == NULL) resp.error = -ENAMETOOLONG;
    if (resp.error == 0 && fsuid_way && ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req.id) != 0) resp.error = -ENOENT;
    int root_fd = -1;
    if (resp.error == 0) {
      snprintf(path, sizeof path, "/proc/%d/root", tid);
      root_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (root_fd < 0 || ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req.id) != 0) resp.error = -ENOENT;
    }
    if (resp.error == 0) resp.error = -create_as(&c, root_fd, target, (uint32_t)req.data.args[2], (uint32_t)req.data.args[3]);
    if (root_fd >= 0) close(root_fd);
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) != 0 && errno != ENOENT) die("SECCOMP_IOCTL_NOTIF_SEND");
  }
}
