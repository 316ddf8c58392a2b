// The seccomp listener ioctls. These are the supervisor's hot path: on success nothing is allocated
// on the JavaScript heap (numbers and booleans only; the structs live in the caller's buffers).
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "addon.h"
#include "args.h"
#include "errors.h"
#include "notif_layout.h"
#include "raw_args.h"
#include "seccomp_compat.h"

namespace wasmsup {

namespace {

static_assert(sizeof(struct seccomp_notif) == 80, "struct seccomp_notif layout");
static_assert(sizeof(struct seccomp_notif_resp) == 24, "struct seccomp_notif_resp layout");
static_assert(sizeof(struct seccomp_notif_addfd) == 24, "struct seccomp_notif_addfd layout");
// The word offsets the data plane reads a notification by (native/notif_layout.h).
static_assert(offsetof(struct seccomp_notif, id) == 4 * NOTIF_WORD_ID, "notif_layout.h: id");
static_assert(offsetof(struct seccomp_notif, pid) == 4 * NOTIF_WORD_PID, "notif_layout.h: pid");
static_assert(offsetof(struct seccomp_notif, flags) == 4 * NOTIF_WORD_FLAGS, "notif_layout.h: flags");
static_assert(offsetof(struct seccomp_notif, data.nr) == 4 * NOTIF_WORD_NR, "notif_layout.h: nr");
static_assert(offsetof(struct seccomp_notif, data.arch) == 4 * NOTIF_WORD_ARCH, "notif_layout.h: arch");
static_assert(offsetof(struct seccomp_notif, data.instruction_pointer) == 4 * NOTIF_WORD_IP, "notif_layout.h: ip");
static_assert(offsetof(struct seccomp_notif, data.args) == 4 * NOTIF_WORD_ARGS, "notif_layout.h: args");
static_assert(sizeof(struct seccomp_notif) == 4 * NOTIF_WORDS, "notif_layout.h: size");

// The structs are copied through a local so a caller's view at any byte offset is fine.
bool StructArg(const Args& args, size_t i, const char* name, size_t size, uint8_t** data) {
  size_t length;
  if (!args.Bytes(i, name, data, &length)) return false;
  if (length < size) {
    char what[64];
    snprintf(what, sizeof what, "is smaller than the %zu bytes of the struct", size);
    args.RangeError(name, what);
    return false;
  }
  return true;
}

int IoctlRetrying(int fd, unsigned long request, void* arg) {
  int rc;
  do {
    rc = ioctl(fd, request, arg);
  } while (rc < 0 && errno == EINTR);
  return rc;
}

Napi::Value NotifSizes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct seccomp_notif_sizes sizes;
  if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0) {
    return ThrowErrno(env, "seccomp(SECCOMP_GET_NOTIF_SIZES)", errno);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("notif", Napi::Number::New(env, sizes.seccomp_notif));
  result.Set("resp", Napi::Number::New(env, sizes.seccomp_notif_resp));
  result.Set("data", Napi::Number::New(env, sizes.seccomp_data));
  return result;
}

Napi::Value NotifRecv(const Napi::CallbackInfo& info) {
  Args args(info, "notifRecv");
  int32_t fd;
  uint8_t* buf;
  if (!args.Int32(0, "listenerFd", &fd) || !StructArg(args, 1, "buf", sizeof(struct seccomp_notif), &buf)) {
    return Napi::Value();
  }
  struct seccomp_notif notif;
  int rc;
  do {
    // The kernel rejects a receive buffer that is not all zeroes (EINVAL).
    memset(&notif, 0, sizeof notif);
    rc = ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &notif);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    memset(buf, 0, sizeof notif);
    return ThrowErrno(info.Env(), "ioctl(SECCOMP_IOCTL_NOTIF_RECV)", errno);
  }
  memcpy(buf, &notif, sizeof notif);
  return info.Env().Undefined();
}

Napi::Value NotifSend(const Napi::CallbackInfo& info) {
  Args args(info, "notifSend");
  int32_t fd;
  uint8_t* buf;
  if (!args.Int32(0, "listenerFd", &fd) ||
      !StructArg(args, 1, "resp", sizeof(struct seccomp_notif_resp), &buf)) {
    return Napi::Value();
  }
  struct seccomp_notif_resp resp;
  memcpy(&resp, buf, sizeof resp);
  if (IoctlRetrying(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0) {
    return ThrowErrno(info.Env(), "ioctl(SECCOMP_IOCTL_NOTIF_SEND)", errno);
  }
  return info.Env().Undefined();
}

// After every read of a caller's state, so a plain N-API callback (raw_args.h).
napi_value NotifIdValid(napi_env env, napi_callback_info info) {
  RawArgs args(env, info, "notifIdValid");
  int32_t fd;
  uint8_t* buf;
  size_t length;
  if (!args.Int32(0, "listenerFd", &fd) || !args.Bytes(1, "idBuf", &buf, &length)) return nullptr;
  if (length < sizeof(__u64)) return args.RangeError("idBuf", "is smaller than the 8 bytes of the struct");
  __u64 id;
  memcpy(&id, buf, sizeof id);
  bool valid = true;
  if (IoctlRetrying(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) < 0) {
    if (errno != ENOENT) return ThrowErrno(Napi::Env(env), "ioctl(SECCOMP_IOCTL_NOTIF_ID_VALID)", errno);
    valid = false;
  }
  napi_value result;
  napi_get_boolean(env, valid, &result);
  return result;
}

Napi::Value NotifAddFd(const Napi::CallbackInfo& info) {
  Args args(info, "notifAddFd");
  int32_t fd;
  uint8_t* buf;
  if (!args.Int32(0, "listenerFd", &fd) ||
      !StructArg(args, 1, "addfd", sizeof(struct seccomp_notif_addfd), &buf)) {
    return Napi::Value();
  }
  struct seccomp_notif_addfd addfd;
  memcpy(&addfd, buf, sizeof addfd);
  // With SECCOMP_ADDFD_FLAG_SEND the kernel marks the notification answered when the request is
  // queued; if a signal interrupts the wait before the caller took the fd, the kernel withdraws the
  // request but not the answer, and the caller's syscall returns 0 (observed on 6.18: a caller's
  // open() returning its stdin; the retry then fails with EINPROGRESS). So no signal may interrupt
  // this ioctl: every signal is blocked on this thread (per-thread mask) for its length, and what
  // arrived meanwhile is delivered right after. The caller takes the fd promptly (it sleeps in the
  // kernel waiting for exactly this), so nothing waits long.
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &saved);
  int target_fd = IoctlRetrying(fd, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd);
  int addfd_errno = errno;
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  if (target_fd < 0) return ThrowErrno(info.Env(), "ioctl(SECCOMP_IOCTL_NOTIF_ADDFD)", addfd_errno);
  return Napi::Number::New(info.Env(), target_fd);
}

Napi::Value NotifSetFlags(const Napi::CallbackInfo& info) {
  Args args(info, "notifSetFlags");
  int32_t fd;
  uint32_t flags;
  if (!args.Int32(0, "listenerFd", &fd) || !args.Uint32(1, "flags", &flags)) return Napi::Value();
  int rc;
  do {
    // Unlike the other requests, the flags travel in the argument itself, not behind a pointer.
    rc = ioctl(fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, static_cast<unsigned long>(flags));
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return ThrowErrno(info.Env(), "ioctl(SECCOMP_IOCTL_NOTIF_SET_FLAGS)", errno);
  return info.Env().Undefined();
}

}  // namespace

void RegisterSeccomp(Napi::Env env, Napi::Object exports) {
  exports.Set("notifSizes", Napi::Function::New(env, NotifSizes, "notifSizes"));
  exports.Set("notifRecv", Napi::Function::New(env, NotifRecv, "notifRecv"));
  exports.Set("notifSend", Napi::Function::New(env, NotifSend, "notifSend"));
  napi_value notif_id_valid;
  if (napi_create_function(env, "notifIdValid", NAPI_AUTO_LENGTH, NotifIdValid, nullptr, &notif_id_valid) == napi_ok) {
    exports.Set("notifIdValid", Napi::Value(env, notif_id_valid));
  }
  exports.Set("notifAddFd", Napi::Function::New(env, NotifAddFd, "notifAddFd"));
  exports.Set("notifSetFlags", Napi::Function::New(env, NotifSetFlags, "notifSetFlags"));
}

}  // namespace wasmsup
