// File descriptors, sockets, eventfd and poll: the plumbing between the supervisor, its worker
// threads, the launcher and the helper.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "addon.h"
#include "args.h"
#include "errors.h"

namespace wasmsup {

namespace {

// The kernel's limit on fds in one SCM_RIGHTS message (SCM_MAX_FD).
constexpr size_t kMaxMessageFds = 253;

Napi::Value Int(Napi::Env env, int64_t n) { return Napi::Number::New(env, static_cast<double>(n)); }

int64_t MonotonicMs() {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

// poll() retried on EINTR with what is left of the timeout (-1 = forever).
int PollRetrying(struct pollfd* fds, nfds_t count, int timeout_ms) {
  int64_t deadline = timeout_ms >= 0 ? MonotonicMs() + timeout_ms : 0;
  for (;;) {
    int n = poll(fds, count, timeout_ms);
    if (n >= 0 || errno != EINTR) return n;
    if (timeout_ms >= 0) {
      int64_t left = deadline - MonotonicMs();
      timeout_ms = left > 0 ? static_cast<int>(left) : 0;
    }
  }
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  Args args(info, "close");
  int32_t fd;
  if (!args.Int32(0, "fd", &fd)) return Napi::Value();
  // Not retried on EINTR: Linux has released the fd by then, and a retry could close a new one.
  if (close(fd) < 0 && errno != EINTR) return ThrowErrno(info.Env(), "close", errno);
  return info.Env().Undefined();
}

// socketpair(sendBufferBytes?): a SOCK_SEQPACKET pair; with sendBufferBytes, each end may send one
// message of that size (a seqpacket message must fit its sender's buffer whole): SO_SNDBUFFORCE,
// or for a process without CAP_NET_ADMIN SO_SNDBUF, which the kernel caps at net.core.wmem_max.
Napi::Value Socketpair(const Napi::CallbackInfo& info) {
  Args args(info, "socketpair");
  int64_t send_buffer = 0;
  if (args.Has(0) && !args.Integer(0, "sendBufferBytes", 0, INT32_MAX / 2, &send_buffer)) return Napi::Value();
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0) {
    return ThrowErrno(info.Env(), "socketpair", errno);
  }
  if (send_buffer > 0) {
    // The kernel doubles the value for its bookkeeping and checks a message against it less 32 bytes.
    int value = static_cast<int>(send_buffer);
    for (int fd : fds) {
      if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &value, sizeof value) < 0 &&
          setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &value, sizeof value) < 0) {
        int err = errno;
        close(fds[0]);
        close(fds[1]);
        return ThrowErrno(info.Env(), "setsockopt(SO_SNDBUF)", err);
      }
    }
  }
  Napi::Array pair = Napi::Array::New(info.Env(), 2);
  pair.Set(0u, Int(info.Env(), fds[0]));
  pair.Set(1u, Int(info.Env(), fds[1]));
  return pair;
}

// pipe() -> [read end, write end], close-on-exec.
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return ThrowErrno(info.Env(), "pipe2", errno);
  Napi::Array pair = Napi::Array::New(info.Env(), 2);
  pair.Set(0u, Int(info.Env(), fds[0]));
  pair.Set(1u, Int(info.Env(), fds[1]));
  return pair;
}

// pollRevents(fd) -> revents of one fd polled for nothing, without waiting: only the conditions poll
// always reports (POLLERR, POLLHUP, POLLNVAL), e.g. a pipe's write end whose readers are all gone.
Napi::Value PollRevents(const Napi::CallbackInfo& info) {
  Args args(info, "pollRevents");
  int32_t fd;
  if (!args.Int32(0, "fd", &fd)) return Napi::Value();
  struct pollfd p = {fd, 0, 0};
  if (PollRetrying(&p, 1, 0) < 0) return ThrowErrno(info.Env(), "poll", errno);
  return Int(info.Env(), p.revents);
}

Napi::Value SetCloexec(const Napi::CallbackInfo& info) {
  Args args(info, "setCloexec");
  int32_t fd;
  bool on;
  if (!args.Int32(0, "fd", &fd) || !args.Bool(1, "on", &on)) return Napi::Value();
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0) return ThrowErrno(info.Env(), "fcntl(F_GETFD)", errno);
  flags = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
  if (fcntl(fd, F_SETFD, flags) < 0) return ThrowErrno(info.Env(), "fcntl(F_SETFD)", errno);
  return info.Env().Undefined();
}

Napi::Value SendMessage(const Napi::CallbackInfo& info) {
  Args args(info, "sendMessage");
  Napi::Env env = info.Env();
  int32_t fd;
  uint8_t* data;
  size_t length;
  if (!args.Int32(0, "fd", &fd) || !args.Bytes(1, "data", &data, &length)) return Napi::Value();

  int fds[kMaxMessageFds];
  uint32_t fd_count = 0;
  if (args.Has(2)) {
    bool is_array = false;
    napi_is_array(env, info[2], &is_array);
    if (!is_array) return args.TypeError("fds", "an array of fd numbers");
    napi_get_array_length(env, info[2], &fd_count);
    if (fd_count > kMaxMessageFds) return args.RangeError("fds", "has more than 253 entries");
    for (uint32_t k = 0; k < fd_count; k++) {
      napi_value element;
      if (napi_get_element(env, info[2], k, &element) != napi_ok) return Napi::Value();
      napi_valuetype type;
      napi_typeof(env, element, &type);
      double value = -1;
      if (type == napi_number) napi_get_value_double(env, element, &value);
      if (type != napi_number || !(value >= 0 && value <= INT_MAX) || value != static_cast<double>(static_cast<int>(value))) {
        return args.TypeError("fds", "an array of non-negative integer fd numbers");
      }
      fds[k] = static_cast<int>(value);
    }
  }

  struct iovec iov = {data, length};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxMessageFds)];
  if (fd_count > 0) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fd_count);
    struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fd_count);
    memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * fd_count);
  }
  ssize_t sent;
  do {
    sent = sendmsg(fd, &msg, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return ThrowErrno(env, "sendmsg", errno);
  return Int(env, sent);
}

void CloseAll(const int* fds, size_t count) {
  for (size_t k = 0; k < count; k++) close(fds[k]);
}

Napi::Value RecvMessage(const Napi::CallbackInfo& info) {
  Args args(info, "recvMessage");
  Napi::Env env = info.Env();
  int32_t fd;
  uint8_t* data;
  size_t length;
  int64_t timeout_ms;
  if (!args.Int32(0, "fd", &fd) || !args.Bytes(1, "buf", &data, &length) ||
      !args.Integer(2, "timeoutMs", -1, INT32_MAX, &timeout_ms)) {
    return Napi::Value();
  }

  struct iovec iov = {data, length};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxMessageFds)];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t received = -1;
  errno = EAGAIN;
  // Without a timeout, a blocking socket needs no poll first: one syscall per answer instead of two
  // (the helper's answers are on the emulation's critical path). A non-blocking one still polls.
  if (timeout_ms < 0) {
    do {
      received = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    } while (received < 0 && errno == EINTR);
  }
  if (received < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    struct pollfd pfd = {fd, POLLIN, 0};
    int ready = PollRetrying(&pfd, 1, static_cast<int>(timeout_ms));
    if (ready < 0) return ThrowErrno(env, "poll", errno);
    if (ready == 0) return ThrowErrno(env, "recvmsg", ETIMEDOUT);
    if (pfd.revents & POLLNVAL) return ThrowErrno(env, "poll", EBADF);
    do {
      received = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    } while (received < 0 && errno == EINTR);
  }
  // Someone else (another thread) took the message between poll and recvmsg: nothing arrived for us.
  if (received < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return ThrowErrno(env, "recvmsg", ETIMEDOUT);
  if (received < 0) return ThrowErrno(env, "recvmsg", errno);

  int fds[kMaxMessageFds];
  size_t fd_count = 0;
  for (struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t k = 0; k < n && fd_count < kMaxMessageFds; k++) {
      memcpy(&fds[fd_count++], CMSG_DATA(cmsg) + k * sizeof(int), sizeof(int));
    }
  }
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
    CloseAll(fds, fd_count);
    return ThrowErrno(env, "recvmsg", EMSGSIZE);
  }
  // SOCK_SEQPACKET reports end of stream as a 0-byte read; the protocols here never send empty messages.
  if (received == 0 && fd_count == 0) return env.Null();

  Napi::Array fd_array = Napi::Array::New(env, fd_count);
  for (size_t k = 0; k < fd_count; k++) fd_array.Set(static_cast<uint32_t>(k), Int(env, fds[k]));
  Napi::Object result = Napi::Object::New(env);
  result.Set("bytes", Int(env, received));
  result.Set("fds", fd_array);
  if (env.IsExceptionPending()) {
    CloseAll(fds, fd_count);
    return Napi::Value();
  }
  return result;
}

Napi::Value EventFd(const Napi::CallbackInfo& info) {
  // Non-blocking so that pollListener's drain can never block when another thread drained first.
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return ThrowErrno(info.Env(), "eventfd", errno);
  return Int(info.Env(), fd);
}

Napi::Value EventFdWrite(const Napi::CallbackInfo& info) {
  Args args(info, "eventfdWrite");
  int32_t fd;
  int64_t n = 1;
  if (!args.Int32(0, "fd", &fd)) return Napi::Value();
  if (args.Has(1) && !args.Integer(1, "n", 1, (int64_t{1} << 53) - 1, &n)) return Napi::Value();
  uint64_t value = static_cast<uint64_t>(n);
  ssize_t written;
  do {
    written = write(fd, &value, sizeof value);
  } while (written < 0 && errno == EINTR);
  if (written < 0) return ThrowErrno(info.Env(), "write(eventfd)", errno);
  return info.Env().Undefined();
}

Napi::Value PollListener(const Napi::CallbackInfo& info) {
  Args args(info, "pollListener");
  Napi::Env env = info.Env();
  int32_t listener_fd, wake_fd;
  int64_t timeout_ms;
  if (!args.Int32(0, "listenerFd", &listener_fd) || !args.Int32(1, "wakeFd", &wake_fd) ||
      !args.Integer(2, "timeoutMs", -1, INT32_MAX, &timeout_ms)) {
    return Napi::Value();
  }
  struct pollfd fds[2] = {{listener_fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
  nfds_t count = wake_fd >= 0 ? 2 : 1;
  int ready = PollRetrying(fds, count, static_cast<int>(timeout_ms));
  if (ready < 0) return ThrowErrno(env, "poll", errno);
  if ((fds[0].revents & POLLNVAL) || (count == 2 && (fds[1].revents & POLLNVAL))) {
    return ThrowErrno(env, "poll", EBADF);
  }
  uint32_t mask = 0;
  if (fds[0].revents & POLLIN) mask |= 1;
  if (fds[0].revents & (POLLHUP | POLLERR)) mask |= 2;
  if (count == 2 && (fds[1].revents & POLLIN)) {
    uint64_t drained;
    ssize_t n;
    do {
      n = read(wake_fd, &drained, sizeof drained);
    } while (n < 0 && errno == EINTR);
    mask |= 4;
  }
  return Napi::Number::New(env, mask);
}

// The most listeners one pollListeners call watches: its pollfd array lives on the calling thread's
// stack (a data-plane worker's: 4 MiB), so nothing is allocated per call.
constexpr size_t kMaxPolledListeners = 4096;

// Several listeners and a wake eventfd in one poll(), for a data-plane thread that serves many
// (src/dataplane/multiplex.ts). Per listener i, events[i] gets pollListener's bits 1 (a notification
// is pending) and 2 (hung up or failed), or 8 when fds[i] is not an open fd (POLLNVAL): one bad
// listener is reported alone rather than failing the call. Returns 4 when wakeFd fired (drained),
// else 0. Runs on the calling thread; touches nothing but the fds.
Napi::Value PollListeners(const Napi::CallbackInfo& info) {
  Args args(info, "pollListeners");
  Napi::Env env = info.Env();
  uint32_t* fd_words;
  uint32_t* events;
  size_t fd_count, event_count;
  int64_t count, timeout_ms;
  int32_t wake_fd;
  if (!args.Words(0, "fds", &fd_words, &fd_count) || !args.Integer(1, "count", 0, kMaxPolledListeners, &count) ||
      !args.Words(2, "events", &events, &event_count) || !args.Int32(3, "wakeFd", &wake_fd) ||
      !args.Integer(4, "timeoutMs", -1, INT32_MAX, &timeout_ms)) {
    return Napi::Value();
  }
  size_t n = static_cast<size_t>(count);
  if (n > fd_count || n > event_count) return args.RangeError("count", "is larger than fds or events");
  struct pollfd fds[kMaxPolledListeners + 1];
  for (size_t i = 0; i < n; i++) fds[i] = {static_cast<int>(fd_words[i]), POLLIN, 0};
  nfds_t total = n;
  if (wake_fd >= 0) fds[total++] = {wake_fd, POLLIN, 0};
  int ready = PollRetrying(fds, total, static_cast<int>(timeout_ms));
  if (ready < 0) return ThrowErrno(env, "poll", errno);
  for (size_t i = 0; i < n; i++) {
    short r = fds[i].revents;
    events[i] = (r & POLLNVAL) ? 8 : ((r & POLLIN) ? 1 : 0) | ((r & (POLLHUP | POLLERR)) ? 2 : 0);
  }
  if (wake_fd < 0) return Napi::Number::New(env, 0);
  if (fds[n].revents & POLLNVAL) return ThrowErrno(env, "poll", EBADF);
  if (!(fds[n].revents & POLLIN)) return Napi::Number::New(env, 0);
  uint64_t drained;
  ssize_t got;
  do {
    got = read(wake_fd, &drained, sizeof drained);
  } while (got < 0 && errno == EINTR);
  return Napi::Number::New(env, 4);
}

Napi::Value OpenPath(const Napi::CallbackInfo& info) {
  Args args(info, "openPath");
  char path[PATH_MAX];
  int32_t flags;
  if (!args.String(0, "path", path, sizeof path) || !args.Int32(1, "flags", &flags)) return Napi::Value();
  int fd;
  do {
    fd = openat(AT_FDCWD, path, flags | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ThrowErrno(info.Env(), "openat", errno);
  return Int(info.Env(), fd);
}

Napi::Value StatObject(Napi::Env env, const struct stat& st) {
  Napi::Object result = Napi::Object::New(env);
  result.Set("dev", Int(env, static_cast<int64_t>(st.st_dev)));
  result.Set("ino", Int(env, static_cast<int64_t>(st.st_ino)));
  result.Set("mode", Int(env, st.st_mode));
  result.Set("uid", Int(env, st.st_uid));
  result.Set("gid", Int(env, st.st_gid));
  result.Set("rdev", Int(env, static_cast<int64_t>(st.st_rdev)));
  result.Set("nlink", Int(env, static_cast<int64_t>(st.st_nlink)));
  result.Set("size", Int(env, st.st_size));
  return result;
}

Napi::Value Fstat(const Napi::CallbackInfo& info) {
  Args args(info, "fstat");
  int32_t fd;
  if (!args.Int32(0, "fd", &fd)) return Napi::Value();
  struct stat st;
  if (fstat(fd, &st) < 0) return ThrowErrno(info.Env(), "fstat", errno);
  return StatObject(info.Env(), st);
}

Napi::Value Stat(const Napi::CallbackInfo& info) {
  Args args(info, "stat");
  char path[PATH_MAX];
  bool follow = true;
  if (!args.String(0, "path", path, sizeof path)) return Napi::Value();
  if (args.Has(1) && !args.Bool(1, "followLinks", &follow)) return Napi::Value();
  struct stat st;
  if ((follow ? stat(path, &st) : lstat(path, &st)) < 0) {
    return ThrowErrno(info.Env(), follow ? "stat" : "lstat", errno);
  }
  return StatObject(info.Env(), st);
}

}  // namespace

void RegisterFds(Napi::Env env, Napi::Object exports) {
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("socketpair", Napi::Function::New(env, Socketpair, "socketpair"));
  exports.Set("pipe", Napi::Function::New(env, Pipe, "pipe"));
  exports.Set("pollRevents", Napi::Function::New(env, PollRevents, "pollRevents"));
  exports.Set("setCloexec", Napi::Function::New(env, SetCloexec, "setCloexec"));
  exports.Set("sendMessage", Napi::Function::New(env, SendMessage, "sendMessage"));
  exports.Set("recvMessage", Napi::Function::New(env, RecvMessage, "recvMessage"));
  exports.Set("eventfd", Napi::Function::New(env, EventFd, "eventfd"));
  exports.Set("eventfdWrite", Napi::Function::New(env, EventFdWrite, "eventfdWrite"));
  exports.Set("pollListener", Napi::Function::New(env, PollListener, "pollListener"));
  exports.Set("pollListeners", Napi::Function::New(env, PollListeners, "pollListeners"));
  exports.Set("openPath", Napi::Function::New(env, OpenPath, "openPath"));
  exports.Set("fstat", Napi::Function::New(env, Fstat, "fstat"));
  exports.Set("stat", Napi::Function::New(env, Stat, "stat"));
}

}  // namespace wasmsup
