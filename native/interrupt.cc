// Interrupting the data-plane thread while it blocks in SECCOMP_IOCTL_NOTIF_RECV, which no fd event
// can wake: the control plane (another thread of this process) sends it a signal whose handler does
// nothing and is installed without SA_RESTART, so the ioctl returns EINTR and the thread looks at its
// control messages. Per-thread: tgkill targets exactly the thread that asked for it.
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "addon.h"
#include "args.h"
#include "errors.h"

namespace wasmsup {

namespace {

// A real-time signal: nothing in Node or libuv uses them, and they are queued, not merged.
int InterruptSignal() { return SIGRTMIN + 3; }

void Ignore(int) {}

Napi::Value PrepareInterrupt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sig = InterruptSignal();
  struct sigaction current;
  if (sigaction(sig, nullptr, &current) != 0) return ThrowErrno(env, "sigaction", errno);
  if (current.sa_handler != Ignore) {
    // Someone else's handler (perhaps with SA_RESTART) would not interrupt the ioctl: refuse rather
    // than replace it, and the caller keeps polling.
    if (current.sa_handler != SIG_DFL) return ThrowErrno(env, "sigaction", EBUSY);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = Ignore;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // no SA_RESTART: the interrupted ioctl must return EINTR
    if (sigaction(sig, &action, nullptr) != 0) return ThrowErrno(env, "sigaction", errno);
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  int rc = pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  if (rc != 0) return ThrowErrno(env, "pthread_sigmask", rc);
  return Napi::Number::New(env, static_cast<double>(syscall(SYS_gettid)));
}

Napi::Value InterruptThread(const Napi::CallbackInfo& info) {
  Args args(info, "interruptThread");
  int32_t tid;
  if (!args.Int32(0, "tid", &tid)) return Napi::Value();
  if (tid <= 0) return ThrowRangeError(info.Env(), "interruptThread: tid must be positive");
  if (syscall(SYS_tgkill, getpid(), tid, InterruptSignal()) != 0) return ThrowErrno(info.Env(), "tgkill", errno);
  return info.Env().Undefined();
}

}  // namespace

void RegisterInterrupt(Napi::Env env, Napi::Object exports) {
  exports.Set("prepareInterrupt", Napi::Function::New(env, PrepareInterrupt, "prepareInterrupt"));
  exports.Set("interruptThread", Napi::Function::New(env, InterruptThread, "interruptThread"));
}

}  // namespace wasmsup
