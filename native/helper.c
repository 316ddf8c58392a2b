/*
 * wasmsup-helper: the privileged-primitives process. It is single-threaded, so it and the children it
 * forks may change credentials and namespaces, which Node (multithreaded) must never do to itself.
 * Fd 3 is a SOCK_SEQPACKET socket to the supervisor; requests are served one at a time until EOF,
 * then the helper exits 0. A bad request is answered EINVAL; nothing a request holds ends the helper.
 *
 * Wire format (host byte order; the client is src/emulate/helper-client.ts):
 *
 *   request, one message:
 *     offset  size            field
 *       0     u32             op: 1 = MKNOD
 *       4     u32             mode      raw mknodat() mode argument
 *       8     u32             dev       raw mknodat() dev argument (the kernel's 32-bit encoding)
 *      12     u32             umask     the caller's (0..0777)
 *      16     u32 x 4         uid       real, effective, saved, fs
 *      32     u32 x 4         gid       real, effective, saved, fs
 *      48     u32 x 2         cap_inheritable  low, high word
 *      56     u32 x 2         cap_permitted
 *      64     u32 x 2         cap_effective
 *      72     u32             ngroups   0..65536 (the caller's whole list)
 *      76     u32             path_length  1..4095
 *      80     u32 x ngroups   supplementary groups
 *       ..    path_length     path, no NUL
 *     SCM_RIGHTS: root_fd (/proc/TID/root), userns_fd (/proc/TID/ns/user), and, only when the path
 *     is relative, start_fd (the caller's cwd or its mknodat dirfd).
 *     Ids are as seen from the helper's user namespace (that of the supervisor).
 *
 *   response, one message: i32 errno the caller must see (0 = created).
 *
 *   op 2 = SETXATTR uses the same header, with two fields reinterpreted and a tail after the path:
 *       4     u32             xattr_flags  XATTR_CREATE (1) | XATTR_REPLACE (2), as the caller passed
 *       8     u32             at_flags     AT_SYMLINK_NOFOLLOW (0x100, lsetxattr) or AT_EMPTY_PATH
 *                                          (0x1000, fsetxattr: path_length is 0, the target is start_fd)
 *       ..    u32             name_length  1..255
 *       ..    u32             value_length 0..255
 *       ..    name_length     name, no NUL
 *       ..    value_length    value
 *     SCM_RIGHTS as for MKNOD; with AT_EMPTY_PATH the third fd is the caller's own open file (fetched
 *     with pidfd_getfd), with a relative path its cwd or dirfd.
 *
 * MKNOD is the exact path: the supervisor's worker thread creates most nodes itself, as the caller
 * with per-thread credentials (native/impersonate.cc), and sends here what it may not answer, EACCES
 * or EPERM, since the caller's capabilities in its own namespace may let it through where the worker,
 * holding none, was refused. Here an impersonator, a child kept per caller identity (see
 * "Persistent impersonators" below), takes on the caller (ids, groups, user namespace once; root, umask, effective capabilities per
 * request) and calls mknodat() itself, so resolution, permission checks and errno are the kernel's own
 * for that caller. It looks the path's directory part up once, without magic links, and asks
 * mknodat in that directory fd (native/caller_path.h). EPERM there means only CAP_MKNOD in the
 * initial user namespace was missing: the impersonator passes that same directory fd back, and the
 * helper itself (the caller's fsuid/fsgid/groups/umask; CAP_MKNOD, and CAP_DAC_OVERRIDE for that one
 * vetted directory: create_as_caller) creates the node in it. The path is never looked up again: a
 * second lookup, even as the caller, would find whatever a swapped symlink names by then.
 *
 * SETXATTR: a child takes on the caller, resolves the path once inside its root (O_PATH, O_NOFOLLOW for
 * lsetxattr; no magic links) and checks what the kernel would check for the caller's setxattr, its
 * namespace's CAP_SYS_ADMIN standing in for the initial one's only over inodes that namespace maps
 * (EROFS, an immutable or append-only inode, an unmapped owner or group, write permission:
 * setxattr_child). It passes the O_PATH fd back and the helper itself, with CAP_SYS_ADMIN in the
 * initial namespace (what trusted.* needs), sets the xattr on exactly that inode (through the fd,
 * never by re-resolving the path). Which names and values may be set is the supervisor's decision
 * (src/emulate/setxattr.ts); the helper only checks the sizes.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/nsfs.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "caller_path.h"

#define SUPERVISOR_FD 3
#define OP_MKNOD 1
#define OP_SETXATTR 2
#define XATTR_NAME_LIMIT 255  /* the kernel's XATTR_NAME_MAX */
#define XATTR_VALUE_LIMIT 255 /* the supervisor only ever sets short overlayfs values */
#define HEADER_BYTES 80
#define MAX_GROUPS 65536 /* NGROUPS_MAX: a caller's whole list, never a truncated one */
#define MAX_PATH_LENGTH 4095 /* PATH_MAX less the NUL */
#define MAX_REQUEST_BYTES (HEADER_BYTES + 4 * MAX_GROUPS + MAX_PATH_LENGTH + 8 + XATTR_NAME_LIMIT + XATTR_VALUE_LIMIT)
#define MAX_REQUEST_FDS 3

/* One request of any op (named after the first); the fields after start_fd are SETXATTR's. */
struct mknod_request {
  uint32_t op;
  uint32_t mode, dev, umask;
  uint32_t uid[4], gid[4];
  uint32_t cap_inheritable[2], cap_permitted[2], cap_effective[2];
  uint32_t ngroups;
  gid_t groups[MAX_GROUPS];
  char path[MAX_PATH_LENGTH + 1];
  int root_fd, userns_fd, start_fd; /* start_fd -1 for an absolute path */
  int target_fd;                     /* SETXATTR with AT_EMPTY_PATH: the caller's open file; else -1 */
  uint32_t xattr_flags, at_flags, name_length, value_length;
  char name[XATTR_NAME_LIMIT + 1];
  unsigned char value[XATTR_VALUE_LIMIT];
};

static uint32_t word_at(const unsigned char *buf, size_t offset) {
  uint32_t w;
  memcpy(&w, buf + offset, sizeof w);
  return w;
}

static int is_directory(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_user_namespace(int fd) {
  return ioctl(fd, NS_GET_NSTYPE) == CLONE_NEWUSER;
}

/* Checks every field; fills req. Returns 0 or EINVAL. */
static int parse_request(const unsigned char *buf, size_t length, const int *fds, size_t nfds,
                         struct mknod_request *req) {
  if (length < HEADER_BYTES) return EINVAL;
  req->op = word_at(buf, 0);
  if (req->op != OP_MKNOD && req->op != OP_SETXATTR) return EINVAL;
  req->target_fd = -1;
  req->mode = word_at(buf, 4);
  req->dev = word_at(buf, 8);
  req->umask = word_at(buf, 12);
  for (int i = 0; i < 4; i++) {
    req->uid[i] = word_at(buf, 16 + 4 * i);
    req->gid[i] = word_at(buf, 32 + 4 * i);
  }
  for (int i = 0; i < 2; i++) {
    req->cap_inheritable[i] = word_at(buf, 48 + 4 * i);
    req->cap_permitted[i] = word_at(buf, 56 + 4 * i);
    req->cap_effective[i] = word_at(buf, 64 + 4 * i);
  }
  req->ngroups = word_at(buf, 72);
  uint32_t path_length = word_at(buf, 76);
  if (req->umask > 0777 || req->ngroups > MAX_GROUPS) return EINVAL;
  int empty_path = 0;
  size_t tail = 0;
  if (req->op == OP_SETXATTR) {
    req->xattr_flags = req->mode;
    req->at_flags = req->dev;
    if (req->xattr_flags > 3 || (req->at_flags & ~(uint32_t)(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) != 0) return EINVAL;
    empty_path = (req->at_flags & AT_EMPTY_PATH) != 0;
    if (empty_path && path_length != 0) return EINVAL;
    size_t names_at = HEADER_BYTES + 4 * (size_t)req->ngroups + path_length;
    if (length < names_at + 8) return EINVAL;
    req->name_length = word_at(buf, names_at);
    req->value_length = word_at(buf, names_at + 4);
    if (req->name_length == 0 || req->name_length > XATTR_NAME_LIMIT || req->value_length > XATTR_VALUE_LIMIT) return EINVAL;
    tail = 8 + req->name_length + req->value_length;
    if (length == names_at + tail) {
      const unsigned char *name = buf + names_at + 8;
      if (memchr(name, '\0', req->name_length) != NULL) return EINVAL;
      memcpy(req->name, name, req->name_length);
      req->name[req->name_length] = '\0';
      memcpy(req->value, name + req->name_length, req->value_length);
    }
  }
  if ((path_length == 0 && !empty_path) || path_length > MAX_PATH_LENGTH) return EINVAL;
  if (length != HEADER_BYTES + 4 * (size_t)req->ngroups + path_length + tail) return EINVAL;
  for (uint32_t i = 0; i < req->ngroups; i++) req->groups[i] = word_at(buf, HEADER_BYTES + 4 * i);
  const unsigned char *path = buf + HEADER_BYTES + 4 * req->ngroups;
  if (memchr(path, '\0', path_length) != NULL) return EINVAL;
  memcpy(req->path, path, path_length);
  req->path[path_length] = '\0';

  int relative = !empty_path && req->path[0] != '/';
  if (nfds != (relative || empty_path ? 3u : 2u)) return EINVAL;
  req->root_fd = fds[0];
  req->userns_fd = fds[1];
  req->start_fd = relative ? fds[2] : -1;
  if (empty_path) req->target_fd = fds[2];
  if (!is_directory(req->root_fd) || !is_user_namespace(req->userns_fd)) return EINVAL;
  /* A relative path from a dirfd that is not a directory is the kernel's ENOTDIR, not a bad request. */
  if (relative && !is_directory(req->start_fd)) return ENOTDIR;
  return 0;
}

static int set_capabilities(const uint32_t effective[2], const uint32_t permitted[2], const uint32_t inheritable[2]) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  for (int i = 0; i < 2; i++) {
    data[i].effective = effective[i];
    data[i].permitted = permitted[i];
    data[i].inheritable = inheritable[i];
  }
  return syscall(SYS_capset, &header, data) < 0 ? errno : 0;
}

/* Raises every permitted capability into the effective set (undone by setresuid/setfsuid). */
static int raise_permitted(void) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &header, data) < 0) return errno;
  for (int i = 0; i < 2; i++) data[i].effective = data[i].permitted;
  return syscall(SYS_capset, &header, data) < 0 ? errno : 0;
}

static int same_user_namespace_as_helper(int userns_fd) {
  struct stat theirs, ours;
  if (fstat(userns_fd, &theirs) < 0 || stat("/proc/self/ns/user", &ours) < 0) return 0;
  return theirs.st_ino == ours.st_ino && theirs.st_dev == ours.st_dev;
}

static long raw_mknodat(int dirfd, const char *path, uint32_t mode, uint32_t dev) {
  /* Raw, so the 32-bit dev reaches the kernel exactly as the caller passed it (glibc would re-encode a dev_t). */
  long rc = syscall(SYS_mknodat, dirfd, path, (unsigned long)mode, (unsigned long)dev);
  return rc < 0 ? errno : 0;
}

/*
 * The irreversible part of taking on the caller: its groups and ids and its user namespace, with
 * every capability of that namespace left permitted and effective. Returns 0 or the failing errno.
 */
static int become_identity(const struct mknod_request *req) {
  if (setgroups(req->ngroups, req->groups) < 0) return errno;
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return errno;
  if (setresgid(req->gid[0], req->gid[1], req->gid[2]) < 0) return errno;
  if (setresuid(req->uid[0], req->uid[1], req->uid[2]) < 0) return errno;
  int err = raise_permitted();
  if (err != 0) return err;
  setfsgid(req->gid[3]);
  setfsuid(req->uid[3]);
  if ((uint32_t)setfsgid((gid_t)-1) != req->gid[3] || (uint32_t)setfsuid((uid_t)-1) != req->uid[3]) return EPERM;
  /* Re-raised because setfsuid() to a non-zero id drops the file-system capabilities. */
  err = raise_permitted();
  if (err != 0) return err;
  /* setns() into the namespace we are already in is EINVAL: a caller in the initial namespace needs none. */
  if (!same_user_namespace_as_helper(req->userns_fd) && setns(req->userns_fd, CLONE_NEWUSER) < 0) return errno;
  return 0;
}

/* A forked child becomes the caller: root, cwd, identity, capabilities, umask. 0 or the failing errno. */
static int become_caller(const struct mknod_request *req) {
  if (fchdir(req->root_fd) < 0 || chroot(".") < 0) return errno;
  if (req->start_fd >= 0 && fchdir(req->start_fd) < 0) return errno;
  int err = become_identity(req);
  if (err != 0) return err;
  err = set_capabilities(req->cap_effective, req->cap_permitted, req->cap_inheritable);
  if (err != 0) return err;
  umask(req->umask);
  return 0;
}

/*
 * Whether the caller keeps a setgid bit it asks for in a setgid directory, as an impersonator found
 * it (probe_setgid); the helper's create step, which holds capabilities of the initial namespace,
 * could not tell by itself (see create_as_caller).
 */
#define SETGID_UNKNOWN 0
#define SETGID_KEPT 1
#define SETGID_STRIPPED 2

/* An impersonator's or per-request child's answer: errno and a SETGID_* word, and maybe an fd. */
static void send_answer(int sock, int err, int setgid, int fd) {
  int words[2] = {err, setgid};
  struct iovec iov = {words, sizeof words};
  char control[CMSG_SPACE(sizeof(int))];
  memset(control, 0, sizeof control);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
  }
  while (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
}

static void send_result(int sock, int err, int fd) { send_answer(sock, err, SETGID_UNKNOWN, fd); }

/*
 * The kernel's own answer, for this process (the caller's ids, groups, umask and capabilities in its
 * namespace), to whether a node of `mode` created in `parent_fd` keeps S_ISGID: the same rule
 * (mode_strip_sgid: in the directory's group, or CAP_FSETID over its owner and group) applies to an
 * unnamed O_TMPFILE inode of the same permission bits, which never appears in the directory and is
 * gone at close. SETGID_UNKNOWN when the mode cannot lose the bit or the filesystem has no O_TMPFILE.
 */
static int probe_setgid(int parent_fd, uint32_t mode) {
  if ((mode & (S_ISGID | S_IXGRP)) != (S_ISGID | S_IXGRP)) return SETGID_UNKNOWN;
  int fd = openat(parent_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, (mode_t)(mode & 07777));
  if (fd < 0) return SETGID_UNKNOWN;
  struct stat st;
  int answer = fstat(fd, &st) != 0 ? SETGID_UNKNOWN : (st.st_mode & S_ISGID) ? SETGID_KEPT : SETGID_STRIPPED;
  close(fd);
  return answer;
}

/* Puts the helper's own credentials back after create_as_caller (defined with it). */
static void ensure_own_credentials(void);

/* A forked impersonator for one request: the caller's view of mknodat (see become_caller). */
static void mknod_child(int sock, const struct mknod_request *req) {
  int parent_fd;
  int err = caller_mknodat(req->start_fd >= 0 ? req->start_fd : AT_FDCWD, req->path, req->mode, req->dev, &parent_fd);
  send_answer(sock, err, parent_fd >= 0 ? probe_setgid(parent_fd, req->mode) : SETGID_UNKNOWN, parent_fd);
}

/*
 * Exchanges with impersonators are bounded in time. An impersonator runs with the caller's ids in the
 * caller's user namespace, so the caller may SIGSTOP it (or leave it blocked in a filesystem it
 * serves itself); without a bound the helper, and with it the supervisor's worker and every later
 * call, would wait forever. One that has not answered in time is killed (SIGKILL) and replaced on the
 * next request, and this request is answered EAGAIN (IMPERSONATOR_WEDGED_ERRNO): the caller may retry.
 * The supervisor's own bound on the helper (src/emulate/helper-client.ts) is longer than the longest
 * request here can take.
 */
#define IMPERSONATOR_TIMEOUT_MS 2000
#define IMPERSONATOR_WEDGED_ERRNO EAGAIN
#define TIMED_OUT (-3)

static long long monotonic_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* 1 when `sock` has something to read (an answer, or end of stream) within the bound, else 0. */
static int answer_within_bound(int sock) {
  long long deadline = monotonic_ms() + IMPERSONATOR_TIMEOUT_MS;
  for (;;) {
    long long left = deadline - monotonic_ms();
    if (left < 0) left = 0;
    struct pollfd pfd = {sock, POLLIN, 0};
    int ready = poll(&pfd, 1, (int)left);
    if (ready > 0) return 1;
    if (ready == 0) return 0;
    if (errno != EINTR) return 1; /* let the read report it */
  }
}

static int wait_for(pid_t pid) {
  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return status;
}

/* Receives an impersonator's answer: errno and, with EPERM, the parent directory's fd (or SETXATTR's
 * O_PATH fd). -1 when there is none (the impersonator died or said nothing). */
static int receive_result(int sock, int *fd, int *setgid, int flags) {
  int words[2];
  struct iovec iov = {words, sizeof words};
  char control[CMSG_SPACE(sizeof(int) * 4)];
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, flags | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  *fd = -1;
  for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); n >= 0 && cmsg != NULL; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t k = 0; k < count; k++) {
      int received;
      memcpy(&received, CMSG_DATA(cmsg) + k * sizeof(int), sizeof received);
      if (*fd < 0) *fd = received;
      else close(received);
    }
  }
  if (n != (ssize_t)sizeof words) return -1;
  if (setgid != NULL) *setgid = words[1];
  return words[0];
}

/*
 * Forks a child that takes on the caller (become_caller) and runs `act`, which answers on its socket;
 * returns that errno and the fd it passed back (or -1), or EPERM when it gave no answer.
 */
static int run_impersonating_child(const struct mknod_request *req, void (*act)(int, const struct mknod_request *), int *fd,
                                   int *setgid) {
  *fd = -1;
  ensure_own_credentials(); /* the child starts from the helper's own */
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) return ENOMEM;
  pid_t pid = fork();
  if (pid < 0) {
    close(pair[0]);
    close(pair[1]);
    return ENOMEM;
  }
  if (pid == 0) {
    close(pair[0]);
    close(SUPERVISOR_FD); /* acting as the caller, it has no business with the supervisor's socket */
    int err = become_caller(req);
    if (err != 0) {
      fprintf(stderr, "wasmsup-helper: cannot take on the caller's credentials: %s\n", strerror(err));
      send_result(pair[1], EPERM, -1);
    } else {
      act(pair[1], req);
    }
    _exit(0);
  }
  close(pair[1]);
  if (!answer_within_bound(pair[0])) {
    kill(pid, SIGKILL);
    wait_for(pid);
    close(pair[0]);
    fprintf(stderr, "wasmsup-helper: the impersonating child gave no answer within %d ms; killed it\n", IMPERSONATOR_TIMEOUT_MS);
    return IMPERSONATOR_WEDGED_ERRNO;
  }
  int status = wait_for(pid);
  int err = receive_result(pair[0], fd, setgid, MSG_DONTWAIT);
  close(pair[0]);
  if (err < 0) {
    fprintf(stderr, "wasmsup-helper: the impersonating child gave no answer (wait status %d)\n", status);
    if (*fd >= 0) close(*fd);
    *fd = -1;
    return EPERM;
  }
  return err;
}

/*
 * Persistent impersonators. Forking per mknod costs two process lifetimes (~0.4 ms); instead, one
 * child per distinct (user namespace, ids, groups) of callers is forked once and kept: it takes on the
 * caller's ids and groups and enters its user namespace exactly as become_caller does (irreversible
 * steps, hence one process per identity), keeping every capability of that namespace as permitted.
 * Per request it switches only what is reversible: chroot into the caller's root (and back out
 * through a saved fd of its own root, which CAP_SYS_CHROOT in that namespace allows, when the next
 * request has another root), umask, and the effective capabilities (set to the caller's; permitted
 * keeps every capability of the namespace, so they can be raised again for the next chroot).
 * The start directory is used as mknodat's dirfd rather than by fchdir, which would check a search
 * permission the kernel does not check for a cwd or dirfd.
 *
 * helper → impersonator: struct impersonation + path bytes, SCM_RIGHTS [root_fd] or [root_fd, start_fd].
 * impersonator → helper: i32 errno, i32 SETGID_* (probe_setgid, with EPERM), + the parent
 *   directory's O_PATH fd with EPERM; or NEED_FORK when the per-request setup failed: the helper then
 *   serves that request by forking. Per-request children answer the same way.
 * An impersonator that dies is noticed as end of stream and replaced; the request is sent again.
 */
#define IMPERSONATORS 8
#define NEED_FORK (-2)
/* An idle impersonator lets go of the caller's root after a second (while chrooted there it keeps
 * that mount alive) and ends after a minute (it keeps the caller's user namespace alive). */
#define IMPERSONATOR_IDLE_SECONDS 60

struct impersonation {
  uint32_t mode, dev, umask;
  uint32_t cap_effective[2];
  uint32_t path_length;
};

struct impersonator {
  pid_t pid; /* 0: free slot */
  int sock;
  int cpu; /* the only CPU it may run on (follow_cpu), -1 before the first request */
  unsigned long last_used;
  dev_t ns_dev;
  ino_t ns_ino;
  uint32_t uid[4], gid[4], ngroups;
  gid_t groups[MAX_GROUPS];
};

static struct impersonator impersonators[IMPERSONATORS];
static unsigned long impersonation_clock;

/*
 * The user namespace is compared by nsfs inode, a number the kernel reuses once a namespace is freed;
 * here that cannot happen while the entry lives: a slot is in use (pid != 0) until its impersonator
 * has been reaped, and that process, from its setns() until it is reaped (a zombie still holds its
 * credentials), keeps the namespace alive. One that never got in exits at once and is noticed as end
 * of stream on the first request, then retired; the request's own userns fd pins it meanwhile.
 */
static int same_identity(const struct impersonator *imp, const struct stat *ns, const struct mknod_request *req) {
  return imp->ns_dev == ns->st_dev && imp->ns_ino == ns->st_ino && memcmp(imp->uid, req->uid, sizeof imp->uid) == 0 &&
         memcmp(imp->gid, req->gid, sizeof imp->gid) == 0 && imp->ngroups == req->ngroups &&
         memcmp(imp->groups, req->groups, req->ngroups * sizeof(gid_t)) == 0;
}

/* Set by SIGCHLD: some child ended (an idle impersonator, or a per-request child already waited for). */
static volatile sig_atomic_t children_exited;

static void note_child_exit(int sig) {
  (void)sig;
  children_exited = 1;
}

/* Frees the slots of impersonators that ended by themselves (idle), so no zombie waits for reuse. */
static void reap_impersonators(void) {
  children_exited = 0;
  for (int i = 0; i < IMPERSONATORS; i++) {
    struct impersonator *imp = &impersonators[i];
    if (imp->pid != 0 && waitpid(imp->pid, NULL, WNOHANG) == imp->pid) {
      close(imp->sock);
      imp->pid = 0;
    }
  }
}

static void retire(struct impersonator *imp) {
  ensure_own_credentials(); /* killing a process of another uid takes CAP_KILL */
  close(imp->sock); /* end of stream: it exits by itself; SIGKILL in case it is stuck in a request */
  kill(imp->pid, SIGKILL);
  wait_for(imp->pid);
  imp->pid = 0;
}

static int set_effective(const uint32_t effective[2], const struct __user_cap_data_struct full[2]) {
  const uint32_t none[2] = {0, 0};
  const uint32_t permitted[2] = {full[0].permitted, full[1].permitted};
  return set_capabilities(effective, permitted, none);
}

/*
 * What an impersonator has switched to, kept between requests: successive requests from one
 * container usually share its root and capabilities, and every chroot or capset costs a credential
 * copy, so each is redone only when it differs. A root is the same when its mount and inode are:
 * while the impersonator is chrooted there it holds that mount, so its id cannot be reused.
 */
static struct {
  int in_root;
  uint64_t mnt_id, ino;
  uint32_t dev_major, dev_minor;
  uint32_t effective[2];
} held;

static int same_root(const struct statx *root) {
  return held.in_root && held.mnt_id == root->stx_mnt_id && held.ino == root->stx_ino &&
         held.dev_major == root->stx_dev_major && held.dev_minor == root->stx_dev_minor;
}

/* Back to the impersonator's own root with every capability; on failure it must end (see below). */
static int leave_root(int own_root_fd, const struct __user_cap_data_struct full[2]) {
  const uint32_t all[2] = {full[0].permitted, full[1].permitted};
  if ((held.effective[0] != all[0] || held.effective[1] != all[1]) && set_effective(all, full) != 0) return -1;
  held.effective[0] = all[0];
  held.effective[1] = all[1];
  if (held.in_root && (fchdir(own_root_fd) < 0 || chroot(".") < 0)) return -1;
  held.in_root = 0;
  return 0;
}

/* Serves one request as the caller: its root, umask and effective capabilities, then mknodat. */
static int impersonate_once(const struct impersonation *im, const char *path, int root_fd, int start_fd, int own_root_fd,
                            const struct __user_cap_data_struct full[2], int *parent_fd) {
  *parent_fd = -1;
  struct statx root;
  if (statx(root_fd, "", AT_EMPTY_PATH, STATX_INO | STATX_MNT_ID, &root) < 0 || !(root.stx_mask & STATX_MNT_ID)) return NEED_FORK;
  if (!same_root(&root)) {
    if (leave_root(own_root_fd, full) != 0) {
      /* Cannot become itself again: it ends and the helper serves this request by forking. */
      send_result(SUPERVISOR_FD, NEED_FORK, -1);
      _exit(1);
    }
    if (fchdir(root_fd) < 0 || chroot(".") < 0) return NEED_FORK;
    held.in_root = 1;
    held.mnt_id = root.stx_mnt_id;
    held.ino = root.stx_ino;
    held.dev_major = root.stx_dev_major;
    held.dev_minor = root.stx_dev_minor;
  }
  umask(im->umask);
  if (held.effective[0] != im->cap_effective[0] || held.effective[1] != im->cap_effective[1]) {
    if (set_effective(im->cap_effective, full) != 0) return NEED_FORK;
    held.effective[0] = im->cap_effective[0];
    held.effective[1] = im->cap_effective[1];
  }
  return caller_mknodat(start_fd >= 0 ? start_fd : AT_FDCWD, path, im->mode, im->dev, parent_fd);
}

static void impersonator_loop(int own_root_fd) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct full[2];
  if (syscall(SYS_capget, &header, full) < 0) _exit(1);
  held.effective[0] = full[0].effective;
  held.effective[1] = full[1].effective;
  static unsigned char buf[sizeof(struct impersonation) + MAX_PATH_LENGTH + 1];
  static char path[MAX_PATH_LENGTH + 1];
  struct timeval tick = {1, 0};
  if (setsockopt(SUPERVISOR_FD, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick) < 0) _exit(1);
  int idle_seconds = 0;
  for (;;) {
    struct iovec iov = {buf, sizeof buf};
    char control[CMSG_SPACE(sizeof(int) * 4)];
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    ssize_t n = recvmsg(SUPERVISOR_FD, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (held.in_root) {
        if (leave_root(own_root_fd, full) != 0) _exit(1);
      } else if (++idle_seconds >= IMPERSONATOR_IDLE_SECONDS) {
        _exit(0); /* the helper notices the end of stream and forks a new one when needed */
      }
      continue;
    }
    if (n <= 0) _exit(0); /* the helper is gone or retired us */
    idle_seconds = 0;
    int fds[4];
    size_t nfds = 0;
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
      if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t k = 0; k < count && nfds < 4; k++) memcpy(&fds[nfds++], CMSG_DATA(cmsg) + k * sizeof(int), sizeof(int));
    }
    struct impersonation im;
    int err = EINVAL, parent_fd = -1;
    if ((size_t)n >= sizeof im) {
      memcpy(&im, buf, sizeof im);
      /* The helper validated the request; this only guards the framing between the two. */
      if (im.path_length >= 1 && im.path_length <= MAX_PATH_LENGTH && (size_t)n == sizeof im + im.path_length &&
          (nfds == 1 || nfds == 2) && !(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        memcpy(path, buf + sizeof im, im.path_length);
        path[im.path_length] = '\0';
        err = impersonate_once(&im, path, fds[0], nfds == 2 ? fds[1] : -1, own_root_fd, full, &parent_fd);
      }
    }
    for (size_t k = 0; k < nfds; k++) close(fds[k]);
    /* Asked here, still as the caller (its root, umask and capabilities). */
    send_answer(SUPERVISOR_FD, err, parent_fd >= 0 ? probe_setgid(parent_fd, im.mode) : SETGID_UNKNOWN, parent_fd);
    if (parent_fd >= 0) close(parent_fd);
  }
}

/* Forks an impersonator for req's identity into a free (or the least recently used) slot; NULL on failure. */
static struct impersonator *spawn_impersonator(const struct mknod_request *req, const struct stat *ns) {
  struct impersonator *slot = &impersonators[0];
  for (int i = 0; i < IMPERSONATORS; i++) {
    if (impersonators[i].pid == 0) { slot = &impersonators[i]; break; }
    if (impersonators[i].last_used < slot->last_used) slot = &impersonators[i];
  }
  if (slot->pid != 0) retire(slot);
  ensure_own_credentials(); /* the child starts from the helper's own */
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) return NULL;
  pid_t pid = fork();
  if (pid < 0) {
    close(pair[0]);
    close(pair[1]);
    return NULL;
  }
  if (pid == 0) {
    /* Its socket to the helper becomes its fd 3; nothing else of the helper's (other impersonators'
     * sockets, this request's fds once it has entered the namespace) stays open in it. */
    if (dup2(pair[1], SUPERVISOR_FD) < 0) _exit(1);
    if (become_identity(req) != 0) _exit(1);
    int own_root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (own_root_fd < 0 || (own_root_fd != SUPERVISOR_FD + 1 && dup2(own_root_fd, SUPERVISOR_FD + 1) < 0)) _exit(1);
    syscall(SYS_close_range, SUPERVISOR_FD + 2, ~0U, 0);
    /* After the credential changes, which clear it: die with the helper. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() == 1) _exit(0);
    impersonator_loop(SUPERVISOR_FD + 1);
  }
  close(pair[1]);
  slot->pid = pid;
  slot->sock = pair[0];
  slot->cpu = -1;
  slot->ns_dev = ns->st_dev;
  slot->ns_ino = ns->st_ino;
  memcpy(slot->uid, req->uid, sizeof slot->uid);
  memcpy(slot->gid, req->gid, sizeof slot->gid);
  slot->ngroups = req->ngroups;
  memcpy(slot->groups, req->groups, req->ngroups * sizeof(gid_t));
  return slot;
}

/*
 * Keeps the impersonator on the CPU the helper runs on. An exchange is a strict hand-off (the helper
 * blocks as soon as it has sent), so the impersonator loses nothing by waiting for this CPU, while a
 * wake-up on another CPU costs an inter-processor interrupt, several times the work itself on a VM.
 */
static void follow_cpu(struct impersonator *imp) {
  int cpu = sched_getcpu();
  if (cpu < 0 || cpu == imp->cpu) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(imp->pid, sizeof set, &set) == 0) imp->cpu = cpu;
}

/* One exchange with an impersonator; -1 when it is gone (end of stream or a broken socket), TIMED_OUT
 * when it did not answer within IMPERSONATOR_TIMEOUT_MS. */
static int ask_impersonator(struct impersonator *imp, const struct mknod_request *req, int *parent_fd, int *setgid) {
  static unsigned char buf[sizeof(struct impersonation) + MAX_PATH_LENGTH];
  struct impersonation im = {req->mode, req->dev, req->umask, {req->cap_effective[0], req->cap_effective[1]}, (uint32_t)strlen(req->path)};
  memcpy(buf, &im, sizeof im);
  memcpy(buf + sizeof im, req->path, im.path_length);
  int fds[2] = {req->root_fd, req->start_fd};
  size_t nfds = req->start_fd >= 0 ? 2 : 1;
  char control[CMSG_SPACE(sizeof fds)];
  memset(control, 0, sizeof control);
  struct iovec iov = {buf, sizeof im + im.path_length};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = CMSG_SPACE(nfds * sizeof(int))};
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(nfds * sizeof(int));
  memcpy(CMSG_DATA(cmsg), fds, nfds * sizeof(int));
  ssize_t sent;
  do {
    sent = sendmsg(imp->sock, &msg, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return -1;
  if (!answer_within_bound(imp->sock)) return TIMED_OUT;
  return receive_result(imp->sock, parent_fd, setgid, 0);
}

/*
 * The caller's own view of mknodat: errno, or EPERM with the parent directory's fd. Through a cached
 * impersonator (replaced once if it has died), else by forking one for this request alone.
 */
static int caller_mknod(const struct mknod_request *req, int *parent_fd, int *setgid) {
  struct stat ns;
  *parent_fd = -1;
  if (fstat(req->userns_fd, &ns) == 0) {
    struct impersonator *imp = NULL;
    for (int i = 0; i < IMPERSONATORS && imp == NULL; i++) {
      if (impersonators[i].pid != 0 && same_identity(&impersonators[i], &ns, req)) imp = &impersonators[i];
    }
    for (int attempt = 0; attempt < 2; attempt++) {
      int fresh = imp == NULL;
      if (fresh && (imp = spawn_impersonator(req, &ns)) == NULL) break;
      imp->last_used = ++impersonation_clock;
      follow_cpu(imp);
      int err = ask_impersonator(imp, req, parent_fd, setgid);
      if (err >= 0) return err;
      if (*parent_fd >= 0) close(*parent_fd);
      *parent_fd = -1;
      if (err == NEED_FORK) break; /* alive, but this request's root was out of its reach */
      retire(imp);
      imp = NULL;
      if (err == TIMED_OUT) {
        /* Wedged (e.g. stopped by the caller): killed by retire, replaced on the next request. */
        fprintf(stderr, "wasmsup-helper: an impersonator gave no answer within %d ms; killed it\n", IMPERSONATOR_TIMEOUT_MS);
        return IMPERSONATOR_WEDGED_ERRNO;
      }
      if (fresh) break;
    }
  }
  return run_impersonating_child(req, mknod_child, parent_fd, setgid);
}

static struct {
  uid_t fsuid;
  gid_t fsgid;
  int ngroups;
  gid_t groups[MAX_GROUPS];
  struct __user_cap_data_struct caps[2];
} own;

/* Remembers the helper's own credentials, which create_as_caller puts back after each request. */
static int save_own_credentials(void) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  own.fsuid = (uid_t)setfsuid((uid_t)-1);
  own.fsgid = (gid_t)setfsgid((gid_t)-1);
  own.ngroups = getgroups(MAX_GROUPS, own.groups);
  if (own.ngroups < 0 || syscall(SYS_capget, &header, own.caps) < 0) return errno;
  return 0;
}

/*
 * The caller identity the helper has switched to for creating, kept until it differs or the helper
 * needs its own credentials again (ensure_own_credentials, before every fork, kill or setxattr):
 * a container's successive mknods share it, and each switch costs credential copies.
 */
static struct {
  int active;
  uint32_t fsuid, fsgid, ngroups;
  gid_t groups[MAX_GROUPS];
  uint32_t effective;
} creating_as;

static void ensure_own_credentials(void) {
  if (!creating_as.active) return;
  creating_as.active = 0;
  const uint32_t effective[2] = {own.caps[0].effective, own.caps[1].effective};
  const uint32_t permitted[2] = {own.caps[0].permitted, own.caps[1].permitted};
  const uint32_t inheritable[2] = {own.caps[0].inheritable, own.caps[1].inheritable};
  int ok = set_capabilities(effective, permitted, inheritable) == 0;
  setfsgid(own.fsgid);
  setfsuid(own.fsuid);
  ok = ok && (gid_t)setfsgid((gid_t)-1) == own.fsgid && (uid_t)setfsuid((uid_t)-1) == own.fsuid;
  ok = ok && setgroups((size_t)own.ngroups, own.groups) == 0;
  /* setfsuid() back to 0 re-raised the file-system set; this puts exactly the saved sets back. */
  ok = ok && set_capabilities(effective, permitted, inheritable) == 0;
  if (!ok) {
    /* Never serve another request with a caller's credentials: end; the supervisor sees end of stream. */
    fprintf(stderr, "wasmsup-helper: cannot restore its own credentials: %s\n", strerror(errno));
    _exit(1);
  }
}

/*
 * The create step, in the helper itself (single-threaded, so whole-process credential switches are
 * safe; ensure_own_credentials undoes them): in the helper's namespace, as the caller (fsuid/fsgid,
 * groups, umask) for everything that decides the new node's owner, group and mode. Its capabilities:
 * CAP_MKNOD, which the caller lacks only because it is not in the initial namespace; CAP_DAC_OVERRIDE,
 * because the impersonator has already checked, as the caller and with the caller's own capabilities,
 * that it may create in exactly this directory (a namespace root may write its namespace's 0755
 * directories of other users, which its fsuid alone could not); and CAP_FSETID only when the caller
 * would keep a setgid bit it asks for (`setgid`, from the impersonator's probe_setgid).
 */
static int create_as_caller(const struct mknod_request *req, int parent_fd, const char *name, int setgid) {
  /* CAP_FSETID here is the initial namespace's, which covers every directory, while the caller's
   * covers only those whose owner and group its namespace maps: the impersonator's probe says which
   * way the kernel decides for the caller; without one, the caller's own capability is the guess. */
  uint32_t fsetid = req->cap_effective[0] & (1u << CAP_FSETID);
  if (setgid == SETGID_KEPT) fsetid = 1u << CAP_FSETID;
  if (setgid == SETGID_STRIPPED) fsetid = 0;
  const uint32_t create_caps = (1u << CAP_MKNOD) | (1u << CAP_DAC_OVERRIDE) | fsetid;
  if (!creating_as.active || creating_as.fsuid != req->uid[3] || creating_as.fsgid != req->gid[3] ||
      creating_as.effective != create_caps || creating_as.ngroups != req->ngroups ||
      memcmp(creating_as.groups, req->groups, req->ngroups * sizeof(gid_t)) != 0) {
    ensure_own_credentials();
    if (setgroups(req->ngroups, req->groups) < 0) return EPERM;
    creating_as.active = 1; /* from here on, something needs undoing */
    creating_as.ngroups = 0;
    creating_as.effective = 0; /* matches no request until the switch is complete */
    setfsgid(req->gid[3]);
    setfsuid(req->uid[3]);
    const uint32_t caps[2] = {create_caps, 0};
    const uint32_t permitted[2] = {own.caps[0].permitted, own.caps[1].permitted};
    const uint32_t none[2] = {0, 0};
    if ((uint32_t)setfsgid((gid_t)-1) != req->gid[3] || (uint32_t)setfsuid((uid_t)-1) != req->uid[3] ||
        set_capabilities(caps, permitted, none) != 0) {
      ensure_own_credentials();
      return EPERM;
    }
    creating_as.fsuid = req->uid[3];
    creating_as.fsgid = req->gid[3];
    creating_as.ngroups = req->ngroups;
    memcpy(creating_as.groups, req->groups, req->ngroups * sizeof(gid_t));
    creating_as.effective = create_caps;
  }
  mode_t saved_umask = umask(req->umask);
  int err = (int)raw_mknodat(parent_fd, name, req->mode, req->dev);
  umask(saved_umask);
  return err;
}

static int serve_mknod(const struct mknod_request *req) {
  int parent_fd, setgid = SETGID_UNKNOWN;
  int err = caller_mknod(req, &parent_fd, &setgid);
  if (err != EPERM || parent_fd < 0) {
    if (parent_fd >= 0) close(parent_fd);
    return err;
  }
  /* In the directory the caller was refused in, not in whatever the path names by now. */
  err = create_as_caller(req, parent_fd, req->path + caller_path_last(req->path), setgid);
  close(parent_fd);
  return err;
}

#ifndef SYS_faccessat2
#define SYS_faccessat2 439
#endif

/*
 * What stat shows, in the caller's user namespace, for an owner or group that namespace does not map
 * (the kernel's overflowuid/overflowgid, 65534 unless changed): read once by the helper, before any
 * chroot, and inherited by its children.
 */
static uint32_t overflow_uid = 65534, overflow_gid = 65534;
/* The request's caller shares the helper's user namespace, where the helper's own setxattr decides
 * the capability question itself: no overflow id to tell apart there. Set per request, before the fork. */
static int caller_in_helper_namespace;

static void read_overflow_ids(void) {
  static int done;
  if (done) return;
  done = 1;
  const char *files[2] = {"/proc/sys/kernel/overflowuid", "/proc/sys/kernel/overflowgid"};
  uint32_t *ids[2] = {&overflow_uid, &overflow_gid};
  for (int k = 0; k < 2; k++) {
    FILE *f = fopen(files[k], "re");
    unsigned value;
    if (f != NULL && fscanf(f, "%u", &value) == 1) *ids[k] = value;
    if (f != NULL) fclose(f);
  }
}

/*
 * SETXATTR's impersonator: finds the file and checks, as the caller, what the kernel checks for a
 * setxattr, in the kernel's order, the one thing standing in being the capability: trusted.* needs
 * CAP_SYS_ADMIN of the initial namespace, for which the emulation accepts the caller's own
 * namespace's (checked by the supervisor), and, as for every capability of a user namespace acting on
 * an inode (capable_wrt_inode_uidgid), only over an inode whose owner and group that namespace maps:
 *   1. a read-only mount or file system: EROFS (mnt_want_write);
 *   2. an immutable or append-only inode: EPERM (may_write_xattr);
 *   3. an owner or group the caller's namespace does not map: EPERM (the capability does not count);
 *   4. write permission with the caller's effective ids and capabilities (inode_permission): EACCES...
 * The same for setxattr, lsetxattr and fsetxattr. A symlink (lsetxattr's O_NOFOLLOW) has mode 0777,
 * so 4 alone would let the caller mark any symlink it can reach: 3 is what fences it.
 * (In another user namespace than the helper's, an inode whose owner or group is mapped to exactly
 * the overflow id looks unmapped and is refused: failing closed where stat cannot tell the two apart.)
 */
static void setxattr_child(int sock, const struct mknod_request *req) {
  int err = 0;
  int fd = req->target_fd, opened = -1;
  if (fd < 0) {
    int nofollow = (req->at_flags & AT_SYMLINK_NOFOLLOW) ? O_NOFOLLOW : 0;
    /* No magic links: this child's /proc/self is not the caller (native/caller_path.h). */
    opened = caller_path_open(AT_FDCWD, req->path, strlen(req->path), O_PATH | nofollow);
    if (opened < 0) {
      send_result(sock, -opened, -1);
      return;
    }
    fd = opened;
  }
  struct statvfs fs;
  struct statx st;
  if (fstatvfs(fd, &fs) < 0 || statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_UID | STATX_GID, &st) < 0) {
    err = errno;
  } else if (fs.f_flag & ST_RDONLY) {
    err = EROFS;
  } else if (st.stx_attributes & (STATX_ATTR_IMMUTABLE | STATX_ATTR_APPEND)) {
    err = EPERM;
  } else if ((st.stx_mask & (STATX_UID | STATX_GID)) != (STATX_UID | STATX_GID) ||
             (!caller_in_helper_namespace && (st.stx_uid == overflow_uid || st.stx_gid == overflow_gid))) {
    err = EPERM;
  } else if (syscall(SYS_faccessat2, fd, "", W_OK, AT_EMPTY_PATH | AT_EACCESS) < 0) {
    err = errno;
  }
  send_result(sock, err, err == 0 ? opened : -1);
}

static int serve_setxattr(const struct mknod_request *req) {
  ensure_own_credentials(); /* setting trusted.* takes the helper's CAP_SYS_ADMIN */
  read_overflow_ids();
  caller_in_helper_namespace = same_user_namespace_as_helper(req->userns_fd);
  int opened;
  int err = run_impersonating_child(req, setxattr_child, &opened, NULL);
  int target = req->target_fd >= 0 ? req->target_fd : opened;
  if (err == 0 && target < 0) err = EPERM;
  if (err == 0) {
    /* The helper's own credentials: CAP_SYS_ADMIN in the initial user namespace, which trusted.*
     * requires. The inode is the one the caller-impersonating child found, not a path re-resolved. */
    if (req->target_fd >= 0) {
      if (fsetxattr(target, req->name, req->value, req->value_length, (int)req->xattr_flags) < 0) err = errno;
    } else {
      /* An O_PATH fd is refused by fsetxattr and setxattrat(AT_EMPTY_PATH), but its /proc/self/fd
       * magic link reaches the inode itself (a symlink's own, for lsetxattr's O_NOFOLLOW fd). */
      char link[48];
      snprintf(link, sizeof link, "/proc/self/fd/%d", target);
      if (setxattr(link, req->name, req->value, req->value_length, (int)req->xattr_flags) < 0) err = errno;
    }
  }
  if (opened >= 0) close(opened);
  return err;
}

static void close_fds(const int *fds, size_t count) {
  for (size_t k = 0; k < count; k++) close(fds[k]);
}

int main(void) {
  struct stat st;
  if (fstat(SUPERVISOR_FD, &st) < 0 || !S_ISSOCK(st.st_mode)) {
    fprintf(stderr, "wasmsup-helper: fd 3 is not the supervisor's socket\n");
    return 125;
  }
  fcntl(SUPERVISOR_FD, F_SETFD, FD_CLOEXEC);
  signal(SIGPIPE, SIG_IGN);
  struct sigaction on_child = {.sa_handler = note_child_exit, .sa_flags = SA_RESTART};
  sigemptyset(&on_child.sa_mask);
  sigaction(SIGCHLD, &on_child, NULL);
  if (save_own_credentials() != 0) {
    fprintf(stderr, "wasmsup-helper: reading its own credentials: %s\n", strerror(errno));
    return 125;
  }

  static unsigned char buf[MAX_REQUEST_BYTES + 1];
  static struct mknod_request req;
  for (;;) {
    struct iovec iov = {buf, sizeof buf};
    char control[CMSG_SPACE(sizeof(int) * 16)];
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    ssize_t n = recvmsg(SUPERVISOR_FD, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      fprintf(stderr, "wasmsup-helper: receiving a request: %s\n", strerror(errno));
      return 1;
    }

    int fds[16];
    size_t nfds = 0;
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
      if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t k = 0; k < count && nfds < 16; k++) memcpy(&fds[nfds++], CMSG_DATA(cmsg) + k * sizeof(int), sizeof(int));
    }
    if (n == 0 && nfds == 0) return 0;
    if (children_exited) reap_impersonators();

    int err;
    if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || nfds > MAX_REQUEST_FDS) {
      err = EINVAL;
    } else {
      err = parse_request(buf, (size_t)n, fds, nfds, &req);
      if (err == 0) err = req.op == OP_SETXATTR ? serve_setxattr(&req) : serve_mknod(&req);
    }
    close_fds(fds, nfds);

    ssize_t sent;
    do {
      sent = send(SUPERVISOR_FD, &err, sizeof err, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) return 0; /* the supervisor is gone */
  }
}
