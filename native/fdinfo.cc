// What an open file is, and opening one inside another process's root: the syscalls behind the
// fd_info host function and the OPEN emulation primitive. Each function fills caller-provided typed
// arrays and returns numbers only, so the data plane allocates nothing calling them.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "addon.h"
#include "args.h"
#include "errors.h"

namespace wasmsup {

namespace {

Napi::Value Int(Napi::Env env, int64_t n) { return Napi::Number::New(env, static_cast<double>(n)); }

// Number of doubles fdStat writes.
constexpr size_t kStatFields = 10;

// fstat into out (a Float64Array of >= 10): mode, dev major, dev minor, ino, rdev major, rdev minor,
// uid, gid, size, nlink. Doubles hold every ino and size exactly up to 2^53.
Napi::Value FdStat(const Napi::CallbackInfo& info) {
  Args args(info, "fdStat");
  int32_t fd;
  uint8_t* out;
  size_t length;
  if (!args.Int32(0, "fd", &fd) || !args.Bytes(1, "out", &out, &length)) return Napi::Value();
  if (length < kStatFields * sizeof(double)) return args.RangeError("out", "must hold 10 doubles");
  struct stat st;
  if (fstat(fd, &st) < 0) return ThrowErrno(info.Env(), "fstat", errno);
  const double fields[kStatFields] = {
      static_cast<double>(st.st_mode),        static_cast<double>(major(st.st_dev)),
      static_cast<double>(minor(st.st_dev)),  static_cast<double>(st.st_ino),
      static_cast<double>(major(st.st_rdev)), static_cast<double>(minor(st.st_rdev)),
      static_cast<double>(st.st_uid),         static_cast<double>(st.st_gid),
      static_cast<double>(st.st_size),        static_cast<double>(st.st_nlink),
  };
  memcpy(out, fields, sizeof fields);
  return info.Env().Undefined();
}

// readlink("/proc/self/fd/FD") into dst: the path of the open file as seen from this process's root.
// Returns the length (no NUL is stored); ENAMETOOLONG when it does not fit.
Napi::Value FdReadlink(const Napi::CallbackInfo& info) {
  Args args(info, "fdReadlink");
  int32_t fd;
  uint8_t* dst;
  size_t length;
  if (!args.Int32(0, "fd", &fd) || !args.Bytes(1, "dst", &dst, &length)) return Napi::Value();
  if (fd < 0) return ThrowErrno(info.Env(), "readlink", EBADF);
  char link[48];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, reinterpret_cast<char*>(dst), length);
  if (n < 0) return ThrowErrno(info.Env(), "readlink", errno == ENOENT ? EBADF : errno);
  if (static_cast<size_t>(n) >= length) return ThrowErrno(info.Env(), "readlink", ENAMETOOLONG);
  return Int(info.Env(), n);
}

// getsockopt SO_DOMAIN, SO_TYPE, SO_PROTOCOL into out (an Int32Array of >= 3); ENOTSOCK otherwise.
Napi::Value FdSocketInfo(const Napi::CallbackInfo& info) {
  Args args(info, "fdSocketInfo");
  int32_t fd;
  uint8_t* out;
  size_t length;
  if (!args.Int32(0, "fd", &fd) || !args.Bytes(1, "out", &out, &length)) return Napi::Value();
  if (length < 3 * sizeof(int)) return args.RangeError("out", "must hold 3 int32s");
  const int options[3] = {SO_DOMAIN, SO_TYPE, SO_PROTOCOL};
  int values[3];
  for (int k = 0; k < 3; k++) {
    socklen_t size = sizeof values[k];
    if (getsockopt(fd, SOL_SOCKET, options[k], &values[k], &size) < 0) return ThrowErrno(info.Env(), "getsockopt", errno);
  }
  memcpy(out, values, sizeof values);
  return info.Env().Undefined();
}

// fcntl(F_GETFL): the open file description's access mode and status flags (O_PATH included).
Napi::Value FdGetFlags(const Napi::CallbackInfo& info) {
  Args args(info, "fdGetFlags");
  int32_t fd;
  if (!args.Int32(0, "fd", &fd)) return Napi::Value();
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return ThrowErrno(info.Env(), "fcntl(F_GETFL)", errno);
  return Int(info.Env(), flags);
}

// fstatfs(fd).f_type: the file system's magic number (PROC_SUPER_MAGIC, ...).
Napi::Value FdFsType(const Napi::CallbackInfo& info) {
  Args args(info, "fdFsType");
  int32_t fd;
  if (!args.Int32(0, "fd", &fd)) return Napi::Value();
  struct statfs sfs;
  if (fstatfs(fd, &sfs) < 0) return ThrowErrno(info.Env(), "fstatfs", errno);
  return Int(info.Env(), static_cast<int64_t>(static_cast<uint32_t>(sfs.f_type)));
}

// openat2(dirfd, path, {flags | O_CLOEXEC, mode, resolve}). The path comes as bytes (pathLength of
// them, no NUL) so it is exactly what was read from the caller, never re-encoded.
Napi::Value Openat2(const Napi::CallbackInfo& info) {
  Args args(info, "openat2");
  int32_t dirfd;
  uint8_t* bytes;
  size_t available;
  int64_t path_length;
  uint32_t flags, mode;
  int64_t resolve;
  if (!args.Int32(0, "dirfd", &dirfd) || !args.Bytes(1, "path", &bytes, &available) ||
      !args.Integer(2, "pathLength", 1, PATH_MAX - 1, &path_length) || !args.Uint32(3, "flags", &flags) ||
      !args.Uint32(4, "mode", &mode) || !args.Integer(5, "resolve", 0, UINT32_MAX, &resolve)) {
    return Napi::Value();
  }
  if (static_cast<size_t>(path_length) > available) return args.RangeError("pathLength", "exceeds the path buffer");
  if (memchr(bytes, '\0', static_cast<size_t>(path_length)) != nullptr) return args.TypeError("path", "free of NUL bytes");
  char path[PATH_MAX];
  memcpy(path, bytes, static_cast<size_t>(path_length));
  path[path_length] = '\0';
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = static_cast<uint64_t>(flags) | O_CLOEXEC;
  how.mode = mode;
  how.resolve = static_cast<uint64_t>(resolve);
  long fd;
  do {
    fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ThrowErrno(info.Env(), "openat2", errno);
  return Int(info.Env(), fd);
}

// open("/proc/self/fd/FD", flags | O_CLOEXEC): a new open file description for what an O_PATH fd
// names, after its type was checked, so that a FIFO or device is never opened blind.
Napi::Value ReopenFd(const Napi::CallbackInfo& info) {
  Args args(info, "reopenFd");
  int32_t fd;
  uint32_t flags;
  if (!args.Int32(0, "fd", &fd) || !args.Uint32(1, "flags", &flags)) return Napi::Value();
  if (fd < 0) return ThrowErrno(info.Env(), "open", EBADF);
  char link[48];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  int reopened;
  do {
    reopened = open(link, static_cast<int>(flags) | O_CLOEXEC);
  } while (reopened < 0 && errno == EINTR);
  if (reopened < 0) return ThrowErrno(info.Env(), "open", errno);
  return Int(info.Env(), reopened);
}

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

// open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH): a detached bind mount of
// exactly what fd names, whose attributes can then be set without touching any mount anyone sees.
Napi::Value OpenTreeClone(const Napi::CallbackInfo& info) {
  Args args(info, "openTreeClone");
  int32_t fd;
  if (!args.Int32(0, "fd", &fd)) return Napi::Value();
  long tree = syscall(SYS_open_tree, fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
  if (tree < 0) return ThrowErrno(info.Env(), "open_tree", errno);
  return Int(info.Env(), tree);
}

// mount_setattr(fd, "", AT_EMPTY_PATH, {attr_set}): sets MOUNT_ATTR_* bits on the mount fd names.
Napi::Value MountSetattr(const Napi::CallbackInfo& info) {
  Args args(info, "mountSetattr");
  int32_t fd;
  uint32_t attr_set;
  if (!args.Int32(0, "fd", &fd) || !args.Uint32(1, "attrSet", &attr_set)) return Napi::Value();
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = attr_set;
  if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) {
    return ThrowErrno(info.Env(), "mount_setattr", errno);
  }
  return info.Env().Undefined();
}

}  // namespace

void RegisterFdInfo(Napi::Env env, Napi::Object exports) {
  exports.Set("fdStat", Napi::Function::New(env, FdStat, "fdStat"));
  exports.Set("fdReadlink", Napi::Function::New(env, FdReadlink, "fdReadlink"));
  exports.Set("fdSocketInfo", Napi::Function::New(env, FdSocketInfo, "fdSocketInfo"));
  exports.Set("fdGetFlags", Napi::Function::New(env, FdGetFlags, "fdGetFlags"));
  exports.Set("fdFsType", Napi::Function::New(env, FdFsType, "fdFsType"));
  exports.Set("openat2", Napi::Function::New(env, Openat2, "openat2"));
  exports.Set("reopenFd", Napi::Function::New(env, ReopenFd, "reopenFd"));
  exports.Set("openTreeClone", Napi::Function::New(env, OpenTreeClone, "openTreeClone"));
  exports.Set("mountSetattr", Napi::Function::New(env, MountSetattr, "mountSetattr"));
}

}  // namespace wasmsup
