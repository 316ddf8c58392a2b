// The calling thread's signal mask. Node (with its inspector built in) starts its main thread with
// SIGUSR1 blocked and unblocks it only when it installs the inspector's own SIGUSR1 handler, which
// the permission model bin/wasmsup starts Node with never does. So the control plane unblocks SIGUSR1
// itself, and only once its own stats handler is in place (src/signals.ts): from exec to then, a
// SIGUSR1 waits, pending and harmless. Per-thread: pthread_sigmask changes the calling thread only.
#include <signal.h>

#include "addon.h"
#include "args.h"
#include "errors.h"

namespace wasmsup {

namespace {

Napi::Value UnblockSignal(const Napi::CallbackInfo& info) {
  Args args(info, "unblockSignal");
  int64_t signo;
  if (!args.Integer(0, "signo", 1, SIGRTMAX, &signo)) return Napi::Value();
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, static_cast<int>(signo));
  int rc = pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  if (rc != 0) return ThrowErrno(info.Env(), "pthread_sigmask", rc);
  return info.Env().Undefined();
}

}  // namespace

void RegisterSignals(Napi::Env env, Napi::Object exports) {
  exports.Set("unblockSignal", Napi::Function::New(env, UnblockSignal, "unblockSignal"));
}

}  // namespace wasmsup
