/* wasmsup-helper's messages: parsing a request, and sending and receiving with fds (helper_wire.h). */
#include "helper_wire.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

uint32_t wire_word(const unsigned char *buf, size_t offset) {
  uint32_t w;
  memcpy(&w, buf + offset, sizeof w);
  return w;
}
#define word_at wire_word

int wire_parse_identity(const unsigned char *buf, struct helper_request *req) {
  req->umask = word_at(buf, WIRE_UMASK);
  for (int i = 0; i < 4; i++) {
    req->uid[i] = word_at(buf, WIRE_UID + 4 * i);
    req->gid[i] = word_at(buf, WIRE_GID + 4 * i);
  }
  for (int i = 0; i < 2; i++) {
    req->cap_inheritable[i] = word_at(buf, WIRE_CAP_INHERITABLE + 4 * i);
    req->cap_permitted[i] = word_at(buf, WIRE_CAP_PERMITTED + 4 * i);
    req->cap_effective[i] = word_at(buf, WIRE_CAP_EFFECTIVE + 4 * i);
  }
  req->ngroups = word_at(buf, WIRE_NGROUPS);
  return req->umask > 0777 || req->ngroups > WIRE_MAX_GROUPS ? EINVAL : 0;
}

static int is_directory(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_user_namespace(int fd) {
  return ioctl(fd, NS_GET_NSTYPE) == CLONE_NEWUSER;
}

/* Copies `length` bytes of text with its NUL; EINVAL for a NUL inside. */
static int copy_text(char *out, const unsigned char *in, uint32_t length) {
  if (memchr(in, '\0', length) != NULL) return EINVAL;
  memcpy(out, in, length);
  out[length] = '\0';
  return 0;
}

/* OP_AS_CALLER after the common header: the call's words, its texts and its fds. */
static int parse_as_caller(const unsigned char *buf, size_t length, uint32_t path_length, const int *fds, size_t nfds,
                           struct helper_request *req) {
  size_t at = WIRE_HEADER_BYTES + 4 * (size_t)req->ngroups;
  if (path_length > WIRE_MAX_PATH_LENGTH || length < at + path_length + 4 * AS_CALLER_WIRE_WORDS) return EINVAL;
  const size_t words = at + path_length;
  uint32_t w[AS_CALLER_WIRE_WORDS];
  for (int i = 0; i < AS_CALLER_WIRE_WORDS; i++) w[i] = word_at(buf, words + 4 * (size_t)i);
  uint32_t path2_length = w[AS_CALLER_WIRE_PATH2_LENGTH], name_length = w[AS_CALLER_WIRE_NAME_LENGTH];
  uint32_t value_length = w[AS_CALLER_WIRE_VALUE_LENGTH], mask = w[AS_CALLER_WIRE_FD_MASK];
  if (path2_length > WIRE_MAX_PATH_LENGTH || name_length > XATTR_NAME_LIMIT || value_length > AS_CALLER_VALUE_LIMIT ||
      (mask & ~7u) != 0) {
    return EINVAL;
  }
  if (length != words + 4 * AS_CALLER_WIRE_WORDS + path2_length + name_length + value_length) return EINVAL;
  for (uint32_t i = 0; i < req->ngroups; i++) req->groups[i] = word_at(buf, WIRE_HEADER_BYTES + 4 * i);
  const unsigned char *text = buf + words + 4 * AS_CALLER_WIRE_WORDS;
  if (copy_text(req->path, buf + at, path_length) != 0 || copy_text(req->path2, text, path2_length) != 0 ||
      copy_text(req->name, text + path2_length, name_length) != 0) {
    return EINVAL;
  }
  memcpy(req->value, text + path2_length + name_length, value_length);
  req->value_length = value_length;
  req->name_length = name_length;
  req->call_op = w[AS_CALLER_WIRE_OP];
  req->call_flags = w[AS_CALLER_WIRE_FLAGS];
  req->rename_flags = w[AS_CALLER_WIRE_RENAME_FLAGS];
  req->call_uid = w[AS_CALLER_WIRE_UID];
  req->call_gid = w[AS_CALLER_WIRE_GID];
  req->host_uid = w[AS_CALLER_WIRE_HOST_UID];
  req->host_gid = w[AS_CALLER_WIRE_HOST_GID];
  req->xattr_flags = w[AS_CALLER_WIRE_XATTR_FLAGS];
  req->lend = w[AS_CALLER_WIRE_LEND];
  size_t expected = 2 + ((mask & 1) != 0) + ((mask & 2) != 0) + ((mask & 4) != 0);
  if (nfds != expected) return EINVAL;
  req->root_fd = fds[0];
  req->userns_fd = fds[1];
  size_t next = 2;
  if (mask & 1) req->start_fd = fds[next++];
  else req->start_fd = -1;
  if (mask & 2) req->start2_fd = fds[next++];
  if (mask & 4) req->target_fd = fds[next++];
  if (!is_directory(req->root_fd) || !is_user_namespace(req->userns_fd)) return EINVAL;
  /* A relative path from a dirfd that is not a directory is the kernel's ENOTDIR, not a bad request;
   * a start fd for AT_EMPTY_PATH is the file itself, whatever it is. */
  if (req->start_fd >= 0 && path_length > 0 && !is_directory(req->start_fd)) return ENOTDIR;
  if (req->start2_fd >= 0 && !is_directory(req->start2_fd)) return ENOTDIR;
  return 0;
}

int wire_parse_request(const unsigned char *buf, size_t length, const int *fds, size_t nfds, struct helper_request *req) {
  if (length < WIRE_HEADER_BYTES) return EINVAL;
  req->op = word_at(buf, WIRE_OP);
  if (req->op != OP_MKNOD && req->op != OP_SETXATTR && req->op != OP_AS_CALLER && req->op != OP_GETXATTR) return EINVAL;
  req->target_fd = -1;
  req->start2_fd = -1;
  req->mode = word_at(buf, WIRE_MODE);
  req->dev = word_at(buf, WIRE_DEV);
  if (wire_parse_identity(buf, req) != 0) return EINVAL;
  uint32_t path_length = word_at(buf, WIRE_PATH_LENGTH);
  int empty_path = 0;
  size_t tail = 0;
  if (req->op == OP_SETXATTR || req->op == OP_GETXATTR) {
    req->xattr_flags = req->mode;
    req->at_flags = req->dev;
    const int getting = req->op == OP_GETXATTR;
    if (getting ? req->xattr_flags > GETXATTR_LIST_REQUEST : (req->xattr_flags > 3 && req->xattr_flags != XATTR_REMOVE_REQUEST)) return EINVAL;
    if ((req->at_flags & ~(uint32_t)(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) != 0) return EINVAL;
    empty_path = (req->at_flags & AT_EMPTY_PATH) != 0;
    if (empty_path && path_length != 0) return EINVAL;
    size_t names_at = WIRE_HEADER_BYTES + 4 * (size_t)req->ngroups + path_length;
    if (length < names_at + 8) return EINVAL;
    req->name_length = word_at(buf, names_at);
    req->value_length = word_at(buf, names_at + 4);
    if (req->name_length == 0 || req->name_length > XATTR_NAME_LIMIT || req->value_length > XATTR_VALUE_LIMIT) return EINVAL;
    if ((getting || req->xattr_flags == XATTR_REMOVE_REQUEST) && req->value_length != 0) return EINVAL;
    tail = 8 + req->name_length + req->value_length;
    if (length == names_at + tail) {
      const unsigned char *name = buf + names_at + 8;
      /* GETXATTR's LIST: names separated by single NULs, none empty; every other name has none. */
      if (getting && req->xattr_flags == GETXATTR_LIST_REQUEST) {
        if (name[0] == '\0' || name[req->name_length - 1] == '\0') return EINVAL;
        for (uint32_t k = 1; k < req->name_length; k++) if (name[k] == '\0' && name[k - 1] == '\0') return EINVAL;
      } else if (memchr(name, '\0', req->name_length) != NULL) {
        return EINVAL;
      }
      memcpy(req->name, name, req->name_length);
      req->name[req->name_length] = '\0';
      memcpy(req->value, name + req->name_length, req->value_length);
    }
  }
  if (req->op == OP_AS_CALLER) return parse_as_caller(buf, length, path_length, fds, nfds, req);
  if ((path_length == 0 && !empty_path) || path_length > WIRE_MAX_PATH_LENGTH) return EINVAL;
  if (length != WIRE_HEADER_BYTES + 4 * (size_t)req->ngroups + path_length + tail) return EINVAL;
  for (uint32_t i = 0; i < req->ngroups; i++) req->groups[i] = word_at(buf, WIRE_HEADER_BYTES + 4 * i);
  const unsigned char *path = buf + WIRE_HEADER_BYTES + 4 * req->ngroups;
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

ssize_t wire_receive(int sock, void *buf, size_t capacity, int flags, int fds[WIRE_MAX_FDS], size_t *nfds, int *truncated) {
  struct iovec iov = {buf, capacity};
  char control[CMSG_SPACE(sizeof(int) * WIRE_MAX_FDS)];
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, flags | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  *nfds = 0;
  *truncated = 0;
  if (n < 0) return -errno;
  for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t k = 0; k < count; k++) {
      int fd;
      memcpy(&fd, CMSG_DATA(cmsg) + k * sizeof(int), sizeof fd);
      if (*nfds < WIRE_MAX_FDS) fds[(*nfds)++] = fd;
      else close(fd);
    }
  }
  *truncated = (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
  return n;
}

int wire_send(int sock, const void *buf, size_t length, const int *fds, size_t nfds) {
  struct iovec iov = {(void *)buf, length};
  char control[CMSG_SPACE(sizeof(int) * WIRE_MAX_FDS)];
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  if (nfds > WIRE_MAX_FDS) return EINVAL;
  if (nfds > 0) {
    memset(control, 0, sizeof control);
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    memcpy(CMSG_DATA(cmsg), fds, nfds * sizeof(int));
  }
  ssize_t sent;
  do {
    sent = sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  return sent < 0 ? errno : 0;
}

void wire_close_fds(const int *fds, size_t nfds) {
  for (size_t k = 0; k < nfds; k++) close(fds[k]);
}

void wire_send_answer(int sock, int err, int setgid, int fd) {
  struct child_answer answer = {err, setgid};
  wire_send(sock, &answer, sizeof answer, &fd, fd >= 0 ? 1 : 0);
}

int wire_receive_answer(int sock, int flags, int *fd, int *setgid) {
  struct child_answer answer;
  int fds[WIRE_MAX_FDS];
  size_t nfds;
  int truncated;
  ssize_t n = wire_receive(sock, &answer, sizeof answer, flags, fds, &nfds, &truncated);
  *fd = nfds > 0 ? fds[0] : -1;
  if (nfds > 1) wire_close_fds(fds + 1, nfds - 1);
  if (n != (ssize_t)sizeof answer) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
    return -1;
  }
  if (setgid != NULL) *setgid = answer.setgid;
  return answer.err;
}

void wire_send_answer_fds(int sock, int err, int word, const int *fds, size_t nfds) {
  struct child_answer answer = {err, word};
  wire_send(sock, &answer, sizeof answer, fds, nfds);
}

int wire_receive_answer_fds(int sock, int flags, int *out, size_t max_fds, size_t *nfds, int *word) {
  struct child_answer answer;
  int fds[WIRE_MAX_FDS];
  size_t received;
  int truncated;
  ssize_t n = wire_receive(sock, &answer, sizeof answer, flags, fds, &received, &truncated);
  *nfds = 0;
  if (n != (ssize_t)sizeof answer || received > max_fds) {
    wire_close_fds(fds, received);
    return -1;
  }
  memcpy(out, fds, received * sizeof(int));
  *nfds = received;
  *word = answer.setgid;
  return answer.err;
}
