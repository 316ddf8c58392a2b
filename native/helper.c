/*
 * wasmsup-helper: the privileged-primitives process. It is single-threaded, so the children it
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
 *      72     u32             ngroups   0..64
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
 * MKNOD: a first child takes on the caller (root, cwd, groups, ids, user namespace, capabilities,
 * umask) and calls mknodat() itself, so resolution, permission checks and errno are the kernel's
 * own for that caller. EPERM there means only CAP_MKNOD in the initial user namespace was missing:
 * the child opens the parent directory as the caller and passes it back, and a second child
 * (helper's namespace, the caller's fsuid/fsgid/groups/umask, CAP_MKNOD only) creates the node in it.
 *
 * SETXATTR: a child takes on the caller, resolves the path inside its root (O_PATH, O_NOFOLLOW for
 * lsetxattr) and checks that the caller could modify the file (faccessat2 W_OK with its effective
 * ids and capabilities, which also says EROFS on a read-only mount); it passes the O_PATH fd back
 * and the helper itself, with CAP_SYS_ADMIN in the initial namespace (what trusted.* needs), sets
 * the xattr on exactly that inode (through the fd, never by re-resolving the path). Which names and values may be set
 * is the supervisor's decision (src/emulate/setxattr.ts); the helper only checks the sizes.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/nsfs.h>
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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#define SUPERVISOR_FD 3
#define OP_MKNOD 1
#define OP_SETXATTR 2
#define XATTR_NAME_LIMIT 255  /* the kernel's XATTR_NAME_MAX */
#define XATTR_VALUE_LIMIT 255 /* the supervisor only ever sets short overlayfs values */
#define HEADER_BYTES 80
#define MAX_GROUPS 64
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

/* Child 1: becomes the caller. Returns the errno for the setup step that failed, else 0. */
static int become_caller(const struct mknod_request *req) {
  if (fchdir(req->root_fd) < 0 || chroot(".") < 0) return errno;
  if (req->start_fd >= 0 && fchdir(req->start_fd) < 0) return errno;
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
  err = set_capabilities(req->cap_effective, req->cap_permitted, req->cap_inheritable);
  if (err != 0) return err;
  umask(req->umask);
  return 0;
}

static void send_result(int sock, int err, int fd) {
  struct iovec iov = {&err, sizeof err};
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

/* Splits the path's last component off; returns 0, or EINVAL when it is not a plain name. */
static int split_parent(const char *path, char *parent, size_t parent_size, const char **name) {
  const char *slash = strrchr(path, '/');
  *name = slash != NULL ? slash + 1 : path;
  if (**name == '\0' || strcmp(*name, ".") == 0 || strcmp(*name, "..") == 0) return EINVAL;
  if (slash == NULL) {
    snprintf(parent, parent_size, ".");
  } else if (slash == path) {
    snprintf(parent, parent_size, "/");
  } else {
    snprintf(parent, parent_size, "%.*s", (int)(slash - path), path);
  }
  return 0;
}

static void first_child(int sock, const struct mknod_request *req) {
  close(SUPERVISOR_FD); /* acting as the caller, it has no business with the supervisor's socket */
  int err = become_caller(req);
  if (err != 0) {
    fprintf(stderr, "wasmsup-helper: cannot take on the caller's credentials: %s\n", strerror(err));
    send_result(sock, EPERM, -1);
    _exit(0);
  }
  err = (int)raw_mknodat(AT_FDCWD, req->path, req->mode, req->dev);
  int parent_fd = -1;
  if (err == EPERM) {
    char parent[MAX_PATH_LENGTH + 1];
    const char *name;
    if (split_parent(req->path, parent, sizeof parent, &name) == 0) {
      parent_fd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (parent_fd < 0) err = errno;
    }
  }
  send_result(sock, err, parent_fd);
  _exit(0);
}

/*
 * Child 2: in the helper's namespace, as the caller (fsuid/fsgid, groups, umask) for everything that
 * decides the new node's owner, group and mode. Its capabilities: CAP_MKNOD, which the caller lacks only
 * because it is not in the initial namespace; CAP_DAC_OVERRIDE, because child 1 has already checked, as
 * the caller and with the caller's own capabilities, that it may create in exactly this directory (a
 * namespace root may write its namespace's 0755 directories of other users, which its fsuid alone could
 * not); and CAP_FSETID only when the caller has it, since it decides whether a setgid bit survives.
 */
static void second_child(const struct mknod_request *req, int parent_fd, const char *name) {
  close(SUPERVISOR_FD);
  if (setgroups(req->ngroups, req->groups) < 0) _exit(EPERM);
  setfsgid(req->gid[3]);
  setfsuid(req->uid[3]);
  if ((uint32_t)setfsgid((gid_t)-1) != req->gid[3] || (uint32_t)setfsuid((uid_t)-1) != req->uid[3]) _exit(EPERM);
  const uint32_t create_caps[2] = {(1u << CAP_MKNOD) | (1u << CAP_DAC_OVERRIDE) | (req->cap_effective[0] & (1u << CAP_FSETID)), 0};
  const uint32_t none[2] = {0, 0};
  if (set_capabilities(create_caps, create_caps, none) != 0) _exit(EPERM);
  umask(req->umask);
  _exit((int)raw_mknodat(parent_fd, name, req->mode, req->dev));
}

static int wait_for(pid_t pid) {
  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return status;
}

/* Receives child 1's answer: errno and, with EPERM, the parent directory's fd. */
static int receive_result(int sock, int *fd) {
  int err;
  struct iovec iov = {&err, sizeof err};
  char control[CMSG_SPACE(sizeof(int) * 4)];
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
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
  if (n != (ssize_t)sizeof err) return -1;
  return err;
}

static int serve_mknod(const struct mknod_request *req) {
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
    first_child(pair[1], req);
  }
  close(pair[1]);
  int status = wait_for(pid);
  int parent_fd;
  int err = receive_result(pair[0], &parent_fd);
  close(pair[0]);
  if (err < 0) {
    fprintf(stderr, "wasmsup-helper: the impersonating child gave no answer (wait status %d)\n", status);
    if (parent_fd >= 0) close(parent_fd);
    return EPERM;
  }
  if (err != EPERM || parent_fd < 0) {
    if (parent_fd >= 0) close(parent_fd);
    return err;
  }

  char parent[MAX_PATH_LENGTH + 1];
  const char *name;
  split_parent(req->path, parent, sizeof parent, &name);
  pid = fork();
  if (pid < 0) {
    close(parent_fd);
    return ENOMEM;
  }
  if (pid == 0) second_child(req, parent_fd, name);
  close(parent_fd);
  status = wait_for(pid);
  if (status < 0 || !WIFEXITED(status)) {
    fprintf(stderr, "wasmsup-helper: the creating child failed (wait status %d)\n", status);
    return EPERM;
  }
  return WEXITSTATUS(status);
}

#ifndef SYS_faccessat2
#define SYS_faccessat2 439
#endif

/* SETXATTR's child: as the caller, finds the file and checks that the caller could modify it. */
static void setxattr_child(int sock, const struct mknod_request *req) {
  close(SUPERVISOR_FD);
  int err = become_caller(req);
  if (err != 0) {
    fprintf(stderr, "wasmsup-helper: cannot take on the caller's credentials: %s\n", strerror(err));
    send_result(sock, EPERM, -1);
    _exit(0);
  }
  int fd = req->target_fd, opened = -1;
  if (fd < 0) {
    int nofollow = (req->at_flags & AT_SYMLINK_NOFOLLOW) ? O_NOFOLLOW : 0;
    opened = open(req->path, O_PATH | O_CLOEXEC | nofollow);
    if (opened < 0) {
      send_result(sock, errno, -1);
      _exit(0);
    }
    fd = opened;
  }
  /* Write access with the caller's effective ids and capabilities; EROFS on a read-only mount. */
  if (syscall(SYS_faccessat2, fd, "", W_OK, AT_EMPTY_PATH | AT_EACCESS) < 0) err = errno;
  send_result(sock, err, err == 0 ? opened : -1);
  _exit(0);
}

static int serve_setxattr(const struct mknod_request *req) {
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
    setxattr_child(pair[1], req);
  }
  close(pair[1]);
  int status = wait_for(pid);
  int opened;
  int err = receive_result(pair[0], &opened);
  close(pair[0]);
  if (err < 0) {
    fprintf(stderr, "wasmsup-helper: the impersonating child gave no answer (wait status %d)\n", status);
    err = EPERM;
  }
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
