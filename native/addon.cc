// wasmsup_native: one function per syscall or ioctl (docs/native-api.md), plus the constants and
// errno names the TypeScript side needs. Built without C++ exceptions; errors become pending
// JavaScript exceptions.
#include <fcntl.h>
#include <napi.h>
#include <stdint.h>

#include "addon.h"
#include "args.h"
#include "creds_layout.h"
#include "errors.h"
#include "latency_buckets.h"
#include "notif_layout.h"
#include "seccomp_compat.h"

namespace wasmsup {

namespace {

Napi::Value ErrnoNameJs(const Napi::CallbackInfo& info) {
  Args args(info, "errnoName");
  int32_t n;
  if (!args.Int32(0, "n", &n)) return Napi::Value();
  char name[24];
  return Napi::String::New(info.Env(), ErrnoName(n, name));
}

Napi::Value ErrnoNumberJs(const Napi::CallbackInfo& info) {
  Args args(info, "errnoNumber");
  char name[64];
  if (!args.String(0, "name", name, sizeof name)) return Napi::Value();
  int n = ErrnoNumber(name);
  if (n < 0) return args.RangeError("name", "is not a known errno name");
  return Napi::Number::New(info.Env(), n);
}

Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  auto set = [&](const char* name, double value) { c.Set(name, Napi::Number::New(env, value)); };
  set("SECCOMP_USER_NOTIF_FLAG_CONTINUE", SECCOMP_USER_NOTIF_FLAG_CONTINUE);
  set("SECCOMP_ADDFD_FLAG_SETFD", SECCOMP_ADDFD_FLAG_SETFD);
  set("SECCOMP_ADDFD_FLAG_SEND", SECCOMP_ADDFD_FLAG_SEND);
  set("SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP", SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
  set("SECCOMP_FILTER_FLAG_NEW_LISTENER", SECCOMP_FILTER_FLAG_NEW_LISTENER);
  set("SECCOMP_FILTER_FLAG_TSYNC", SECCOMP_FILTER_FLAG_TSYNC);
  set("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV);
  set("SECCOMP_RET_KILL_PROCESS", SECCOMP_RET_KILL_PROCESS);
  set("SECCOMP_RET_KILL_THREAD", SECCOMP_RET_KILL_THREAD);
  set("SECCOMP_RET_TRAP", SECCOMP_RET_TRAP);
  set("SECCOMP_RET_ERRNO", SECCOMP_RET_ERRNO);
  set("SECCOMP_RET_USER_NOTIF", SECCOMP_RET_USER_NOTIF);
  set("SECCOMP_RET_TRACE", SECCOMP_RET_TRACE);
  set("SECCOMP_RET_LOG", SECCOMP_RET_LOG);
  set("SECCOMP_RET_ALLOW", SECCOMP_RET_ALLOW);
  set("AUDIT_ARCH_X86_64", AUDIT_ARCH_X86_64);
  set("AUDIT_ARCH_I386", AUDIT_ARCH_I386);
  set("AUDIT_ARCH_AARCH64", AUDIT_ARCH_AARCH64);
  set("AUDIT_ARCH_ARM", AUDIT_ARCH_ARM);
  set("PIDFD_THREAD", PIDFD_THREAD);
  set("O_PATH", O_PATH);
  set("O_DIRECTORY", O_DIRECTORY);
  set("O_RDONLY", O_RDONLY);
  set("O_NOFOLLOW", O_NOFOLLOW);
  set("AT_FDCWD", AT_FDCWD);
  set("RESOLVE_IN_ROOT", RESOLVE_IN_ROOT);
  set("RESOLVE_NO_MAGICLINKS", RESOLVE_NO_MAGICLINKS);
  set("RESOLVE_BENEATH", RESOLVE_BENEATH);
  // The layouts the TypeScript side reads (native/creds_layout.h, native/notif_layout.h).
  set("CREDS_WORDS", CREDS_WORDS);
  set("CREDS_UID", CREDS_UID);
  set("CREDS_GID", CREDS_GID);
  set("CREDS_UMASK", CREDS_UMASK);
  set("CREDS_TGID", CREDS_TGID);
  set("CREDS_CAP_INH", CREDS_CAP_INH);
  set("CREDS_CAP_PRM", CREDS_CAP_PRM);
  set("CREDS_CAP_EFF", CREDS_CAP_EFF);
  set("CREDS_CAP_BND", CREDS_CAP_BND);
  set("CREDS_NO_NEW_PRIVS", CREDS_NO_NEW_PRIVS);
  set("CREDS_NGROUPS", CREDS_NGROUPS);
  set("CREDS_USERNS_INODE", CREDS_USERNS_INODE);
  set("CREDS_GROUPS", CREDS_GROUPS);
  set("CREDS_NGROUPS_MAX", CREDS_NGROUPS_MAX);
  set("NOTIF_WORD_ID", NOTIF_WORD_ID);
  set("NOTIF_WORD_PID", NOTIF_WORD_PID);
  set("NOTIF_WORD_FLAGS", NOTIF_WORD_FLAGS);
  set("NOTIF_WORD_NR", NOTIF_WORD_NR);
  set("NOTIF_WORD_ARCH", NOTIF_WORD_ARCH);
  set("NOTIF_WORD_IP", NOTIF_WORD_IP);
  set("NOTIF_WORD_ARGS", NOTIF_WORD_ARGS);
  set("NOTIF_WORDS", NOTIF_WORDS);
  set("NOTIF_BYTE_RECEIVED_NS", NOTIF_BYTE_RECEIVED_NS);
  set("LATENCY_BUCKETS", LATENCY_BUCKETS);
  c.Freeze();
  return c;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("constants", Constants(env));
  exports.Set("errnoName", Napi::Function::New(env, ErrnoNameJs, "errnoName"));
  exports.Set("errnoNumber", Napi::Function::New(env, ErrnoNumberJs, "errnoNumber"));
  RegisterFds(env, exports);
  RegisterFdInfo(env, exports);
  RegisterSeccomp(env, exports);
  RegisterMemory(env, exports);
  RegisterProc(env, exports);
  RegisterSocket(env, exports);
  RegisterBpf(env, exports);
  RegisterSysinfo(env, exports);
  RegisterInterrupt(env, exports);
  RegisterSignals(env, exports);
  RegisterWatch(env, exports);
  RegisterImpersonate(env, exports);
  RegisterSched(env, exports);
  RegisterMemfd(env, exports);
  RegisterDataPlane(env, exports);
  RegisterXattr(env, exports);
  return exports;
}

}  // namespace

}  // namespace wasmsup

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return wasmsup::Init(env, exports); }

NODE_API_MODULE(wasmsup_native, InitModule)
