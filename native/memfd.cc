// memfd_create(2) and F_ADD_SEALS: the sealed in-memory files the PROC_VIEW primitive
// (src/emulate/proc-view.ts) fills with a generated view and hands to a caller read-only.
// Plain syscalls on the calling thread: nothing here is per-thread state.
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "addon.h"
#include "args.h"
#include "errors.h"

namespace wasmsup {

namespace {

// memfdCreate(name, flags): memfd_create(name, flags | MFD_CLOEXEC); the new fd.
Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  Args args(info, "memfdCreate");
  char name[250];
  uint32_t flags;
  if (!args.String(0, "name", name, sizeof name) || !args.Uint32(1, "flags", &flags)) return Napi::Value();
  long fd = syscall(SYS_memfd_create, name, flags | MFD_CLOEXEC);
  if (fd < 0) return ThrowErrno(info.Env(), "memfd_create", errno);
  return Napi::Number::New(info.Env(), static_cast<double>(fd));
}

// fdAddSeals(fd, seals): fcntl(fd, F_ADD_SEALS, seals).
Napi::Value FdAddSeals(const Napi::CallbackInfo& info) {
  Args args(info, "fdAddSeals");
  int32_t fd;
  uint32_t seals;
  if (!args.Int32(0, "fd", &fd) || !args.Uint32(1, "seals", &seals)) return Napi::Value();
  if (fcntl(fd, F_ADD_SEALS, static_cast<int>(seals)) < 0) return ThrowErrno(info.Env(), "fcntl(F_ADD_SEALS)", errno);
  return info.Env().Undefined();
}

// fdGetSeals(fd): fcntl(fd, F_GET_SEALS).
Napi::Value FdGetSeals(const Napi::CallbackInfo& info) {
  Args args(info, "fdGetSeals");
  int32_t fd;
  if (!args.Int32(0, "fd", &fd)) return Napi::Value();
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0) return ThrowErrno(info.Env(), "fcntl(F_GET_SEALS)", errno);
  return Napi::Number::New(info.Env(), seals);
}

// fdChmod(fd, mode): fchmod(fd, mode) (Node's own is disabled under its permission model).
Napi::Value FdChmod(const Napi::CallbackInfo& info) {
  Args args(info, "fdChmod");
  int32_t fd;
  uint32_t mode;
  if (!args.Int32(0, "fd", &fd) || !args.Uint32(1, "mode", &mode)) return Napi::Value();
  if (fchmod(fd, static_cast<mode_t>(mode & 07777)) < 0) return ThrowErrno(info.Env(), "fchmod", errno);
  return info.Env().Undefined();
}

}  // namespace

void RegisterMemfd(Napi::Env env, Napi::Object exports) {
  exports.Set("memfdCreate", Napi::Function::New(env, MemfdCreate, "memfdCreate"));
  exports.Set("fdAddSeals", Napi::Function::New(env, FdAddSeals, "fdAddSeals"));
  exports.Set("fdGetSeals", Napi::Function::New(env, FdGetSeals, "fdGetSeals"));
  exports.Set("fdChmod", Napi::Function::New(env, FdChmod, "fdChmod"));
}

}  // namespace wasmsup
