// AF_UNIX sockets addressed by path: the OCI agent's listening socket (runc and crun connect to it and
// send the container's seccomp listener), the "is another agent live?" probe, and sd_notify datagrams.
// Receiving messages with their fds is recvMessage (fds.cc), which works on stream sockets too.
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "addon.h"
#include "args.h"
#include "errors.h"

namespace wasmsup {

namespace {

Napi::Value Int(Napi::Env env, int64_t n) { return Napi::Number::New(env, static_cast<double>(n)); }

// Fills `addr` from a path; a leading '@' names the abstract namespace (as systemd's NOTIFY_SOCKET
// does). Returns the address length, or 0 when the path does not fit sun_path.
socklen_t UnixAddress(const char* path, struct sockaddr_un* addr) {
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  size_t length = strlen(path);
  if (length == 0 || length >= sizeof addr->sun_path) return 0;
  memcpy(addr->sun_path, path, length);
  if (path[0] == '@') {
    addr->sun_path[0] = '\0';
    return static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + length);
  }
  return static_cast<socklen_t>(sizeof *addr);
}

// socket + bind + listen. Non-blocking, so that accept never blocks: the caller polls first, and
// another process sharing the socket (an agent handing over to its successor) may take a pending
// connection between that poll and our accept.
Napi::Value UnixListen(const Napi::CallbackInfo& info) {
  Args args(info, "unixListen");
  Napi::Env env = info.Env();
  char path[PATH_MAX];
  int64_t backlog;
  if (!args.String(0, "path", path, sizeof path) || !args.Integer(1, "backlog", 1, 4096, &backlog)) {
    return Napi::Value();
  }
  struct sockaddr_un addr;
  socklen_t addr_length = UnixAddress(path, &addr);
  if (addr_length == 0) return ThrowErrno(env, "bind", path[0] == '\0' ? ENOENT : ENAMETOOLONG);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return ThrowErrno(env, "socket", errno);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&addr), addr_length) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "bind", err);
  }
  if (listen(fd, static_cast<int>(backlog)) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "listen", err);
  }
  return Int(env, fd);
}

// accept4 on a non-blocking listening socket: the new fd (blocking, O_CLOEXEC), or null when no
// connection is pending any more (EAGAIN, or ECONNABORTED: the client gave up before we got to it).
Napi::Value UnixAccept(const Napi::CallbackInfo& info) {
  Args args(info, "unixAccept");
  int32_t fd;
  if (!args.Int32(0, "fd", &fd)) return Napi::Value();
  int conn;
  do {
    conn = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
  } while (conn < 0 && errno == EINTR);
  if (conn < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED)) return info.Env().Null();
  if (conn < 0) return ThrowErrno(info.Env(), "accept4", errno);
  return Int(info.Env(), conn);
}

// socket + connect (blocking): a connected stream socket. ECONNREFUSED on a socket file nobody
// listens on any more (a stale one), ENOENT when there is no such file.
Napi::Value UnixConnect(const Napi::CallbackInfo& info) {
  Args args(info, "unixConnect");
  Napi::Env env = info.Env();
  char path[PATH_MAX];
  if (!args.String(0, "path", path, sizeof path)) return Napi::Value();
  struct sockaddr_un addr;
  socklen_t addr_length = UnixAddress(path, &addr);
  if (addr_length == 0) return ThrowErrno(env, "connect", path[0] == '\0' ? ENOENT : ENAMETOOLONG);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, "socket", errno);
  int rc;
  do {
    rc = connect(fd, reinterpret_cast<struct sockaddr*>(&addr), addr_length);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "connect", err);
  }
  return Int(env, fd);
}

// socket + sendto on a SOCK_DGRAM socket, e.g. sd_notify's "READY=1" to $NOTIFY_SOCKET.
Napi::Value UnixSendDatagram(const Napi::CallbackInfo& info) {
  Args args(info, "unixSendDatagram");
  Napi::Env env = info.Env();
  char path[PATH_MAX];
  uint8_t* data;
  size_t length;
  if (!args.String(0, "path", path, sizeof path) || !args.Bytes(1, "data", &data, &length)) return Napi::Value();
  struct sockaddr_un addr;
  socklen_t addr_length = UnixAddress(path, &addr);
  if (addr_length == 0) return ThrowErrno(env, "sendto", path[0] == '\0' ? ENOENT : ENAMETOOLONG);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, "socket", errno);
  ssize_t sent;
  do {
    sent = sendto(fd, data, length, MSG_NOSIGNAL, reinterpret_cast<struct sockaddr*>(&addr), addr_length);
  } while (sent < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  if (sent < 0) return ThrowErrno(env, "sendto", err);
  return Int(env, sent);
}

}  // namespace

void RegisterSocket(Napi::Env env, Napi::Object exports) {
  exports.Set("unixListen", Napi::Function::New(env, UnixListen, "unixListen"));
  exports.Set("unixAccept", Napi::Function::New(env, UnixAccept, "unixAccept"));
  exports.Set("unixConnect", Napi::Function::New(env, UnixConnect, "unixConnect"));
  exports.Set("unixSendDatagram", Napi::Function::New(env, UnixSendDatagram, "unixSendDatagram"));
}

}  // namespace wasmsup
