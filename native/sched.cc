// The scheduling calls the SCHED emulation primitive (src/emulate/sched.ts) makes for a caller of the
// workload, with the supervisor's CAP_SYS_NICE: one thin function per syscall, acting on a thread id
// in the supervisor's pid namespace. They run on the calling (worker) thread; nothing here changes
// that thread's credentials, so the process's own (root in the initial namespace) apply.
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "addon.h"
#include "args.h"
#include "errors.h"

namespace wasmsup {

namespace {

// schedSetscheduler(tid, policy, priority): sched_setscheduler(2), SCHED_RESET_ON_FORK in policy as given.
Napi::Value SchedSetscheduler(const Napi::CallbackInfo& info) {
  Args args(info, "schedSetscheduler");
  int32_t tid, policy, priority;
  if (!args.Pid(0, "tid", &tid) || !args.Int32(1, "policy", &policy) || !args.Int32(2, "priority", &priority)) return Napi::Value();
  struct sched_param param = {};
  param.sched_priority = priority;
  if (syscall(SYS_sched_setscheduler, tid, policy, &param) < 0) return ThrowErrno(info.Env(), "sched_setscheduler", errno);
  return info.Env().Undefined();
}

// schedSetparam(tid, priority): sched_setparam(2).
Napi::Value SchedSetparam(const Napi::CallbackInfo& info) {
  Args args(info, "schedSetparam");
  int32_t tid, priority;
  if (!args.Pid(0, "tid", &tid) || !args.Int32(1, "priority", &priority)) return Napi::Value();
  struct sched_param param = {};
  param.sched_priority = priority;
  if (syscall(SYS_sched_setparam, tid, &param) < 0) return ThrowErrno(info.Env(), "sched_setparam", errno);
  return info.Env().Undefined();
}

// schedSetattr(tid, attr: Uint8Array, flags): sched_setattr(2) with struct sched_attr as laid out by the
// caller (its size field included); the kernel may write the size it supports back into attr (E2BIG).
Napi::Value SchedSetattr(const Napi::CallbackInfo& info) {
  Args args(info, "schedSetattr");
  int32_t tid;
  uint8_t* attr;
  size_t length;
  uint32_t flags;
  if (!args.Pid(0, "tid", &tid) || !args.Bytes(1, "attr", &attr, &length) || !args.Uint32(2, "flags", &flags)) return Napi::Value();
  if (length < 48) return args.RangeError("attr", "must hold at least the 48 bytes of SCHED_ATTR_SIZE_VER0");
  if (syscall(SYS_sched_setattr, tid, attr, flags) < 0) return ThrowErrno(info.Env(), "sched_setattr", errno);
  return info.Env().Undefined();
}

// schedGetscheduler(tid) -> policy, with SCHED_RESET_ON_FORK when set.
Napi::Value SchedGetscheduler(const Napi::CallbackInfo& info) {
  Args args(info, "schedGetscheduler");
  int32_t tid;
  if (!args.Pid(0, "tid", &tid)) return Napi::Value();
  long policy = syscall(SYS_sched_getscheduler, tid);
  if (policy < 0) return ThrowErrno(info.Env(), "sched_getscheduler", errno);
  return Napi::Number::New(info.Env(), static_cast<double>(policy));
}

// schedGetparam(tid) -> sched_priority.
Napi::Value SchedGetparam(const Napi::CallbackInfo& info) {
  Args args(info, "schedGetparam");
  int32_t tid;
  if (!args.Pid(0, "tid", &tid)) return Napi::Value();
  struct sched_param param = {};
  if (syscall(SYS_sched_getparam, tid, &param) < 0) return ThrowErrno(info.Env(), "sched_getparam", errno);
  return Napi::Number::New(info.Env(), static_cast<double>(param.sched_priority));
}

}  // namespace

void RegisterSched(Napi::Env env, Napi::Object exports) {
  exports.Set("schedSetscheduler", Napi::Function::New(env, SchedSetscheduler, "schedSetscheduler"));
  exports.Set("schedSetparam", Napi::Function::New(env, SchedSetparam, "schedSetparam"));
  exports.Set("schedSetattr", Napi::Function::New(env, SchedSetattr, "schedSetattr"));
  exports.Set("schedGetscheduler", Napi::Function::New(env, SchedGetscheduler, "schedGetscheduler"));
  exports.Set("schedGetparam", Napi::Function::New(env, SchedGetparam, "schedGetparam"));
}

}  // namespace wasmsup
