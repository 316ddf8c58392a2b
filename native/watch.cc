// Watching an fd from the calling thread's event loop without a thread of its own: the seccomp
// listener, so that the data-plane worker is started only when there is something to answer
// (docs/architecture.md, "Lazy start"), and the launcher's socket. One-shot: the first event stops
// the watch and calls back once. Runs on the thread whose loop it uses (the main
// thread), so it needs no locking; a libuv handle left open when a Node environment is torn down
// would make Node abort, so an async cleanup hook closes it then.
#include <errno.h>
#include <fcntl.h>
#include <napi.h>
#include <node_api.h>
#include <poll.h>
#include <uv.h>

#include "addon.h"
#include "args.h"
#include "errors.h"

namespace wasmsup {

namespace {

struct Watch {
  uv_poll_t poll;
  int fd;
  // uv_poll_init makes the fd O_NONBLOCK; the open file description is shared (the data plane's
  // blocking RECV, an OCI agent's successor, the launcher), so its flags are put back when the watch
  // stops.
  int original_flags;
  napi_env env;
  Napi::FunctionReference callback;
  Napi::AsyncContext* async_context = nullptr;
  napi_async_cleanup_hook_handle cleanup_hook = nullptr;
  bool stopped = false;    // no more callbacks: fired, cancelled or cleaned up
  bool closed = false;     // uv_close's callback has run
  bool js_alive = true;    // the cancel function has not been collected
};

void FreeIfUnused(Watch* w) {
  if (w->closed && !w->js_alive) delete w;
}

void OnClosed(uv_handle_t* handle) {
  Watch* w = static_cast<Watch*>(handle->data);
  if (w->cleanup_hook != nullptr) {
    napi_remove_async_cleanup_hook(w->cleanup_hook);
    w->cleanup_hook = nullptr;
  }
  w->closed = true;
  FreeIfUnused(w);
}

// Stops watching and starts closing the handle; the JS callback and its async context are released
// at once (they hold the environment's references), the memory once both libuv and JS are done.
void Stop(Watch* w) {
  if (w->stopped) return;
  w->stopped = true;
  uv_poll_stop(&w->poll);
  if (w->original_flags >= 0) fcntl(w->fd, F_SETFL, w->original_flags);
  uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), OnClosed);
}

void ReleaseJs(Watch* w) {
  w->callback.Reset();
  delete w->async_context;
  w->async_context = nullptr;
}

// Same bit mask as pollListener: 1 readable (for a listener: a notification is pending), 2 hung up or
// failed (a listener: no task uses the filter any more). libuv reports a hang-up as readable (seccomp
// signals EPOLLHUP, not EPOLLRDHUP), so ask poll(2).
uint32_t Classify(int fd) {
  struct pollfd p = {fd, POLLIN, 0};
  int ready;
  do {
    ready = poll(&p, 1, 0);
  } while (ready < 0 && errno == EINTR);
  if (ready <= 0) return 0;
  uint32_t mask = 0;
  if (p.revents & POLLIN) mask |= 1;
  if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) mask |= 2;
  return mask;
}

void OnPoll(uv_poll_t* handle, int status, int events) {
  Watch* w = static_cast<Watch*>(handle->data);
  if (w->stopped) return;
  uint32_t mask = status < 0 ? 2 : Classify(w->fd);
  // Spurious (the notification went away before we looked): keep watching.
  if (mask == 0) return;
  Stop(w);
  Napi::Env env(w->env);
  Napi::HandleScope scope(env);
  Napi::Function fn = w->callback.Value();
  Napi::AsyncContext* context = w->async_context;
  w->async_context = nullptr;
  // MakeCallback opens a callback scope: microtasks and nextTicks the callback queues run after it.
  fn.MakeCallback(env.Global(), {Napi::Number::New(env, mask)}, *context);
  w->callback.Reset();
  delete context;
  if (env.IsExceptionPending()) {
    // As for any event callback: an uncaught exception, reported through 'uncaughtException'.
    Napi::Error e = env.GetAndClearPendingException();
    napi_fatal_exception(w->env, e.Value());
  }
}

void OnCleanup(napi_async_cleanup_hook_handle handle, void* data) {
  Watch* w = static_cast<Watch*>(data);
  ReleaseJs(w);
  if (w->stopped) return;  // OnClosed will remove the hook
  Stop(w);
}

void FinalizeCancel(napi_env, void* data, void*) {
  Watch* w = static_cast<Watch*>(data);
  w->js_alive = false;
  FreeIfUnused(w);
}

Napi::Value CancelJs(const Napi::CallbackInfo& info) {
  Watch* w = static_cast<Watch*>(info.Data());
  if (!w->stopped) {
    Stop(w);
    ReleaseJs(w);
  }
  return info.Env().Undefined();
}

Napi::Value WatchReadable(const Napi::CallbackInfo& info) {
  Args args(info, "watchReadable");
  Napi::Env env = info.Env();
  int32_t fd;
  if (!args.Int32(0, "fd", &fd)) return Napi::Value();
  if (info.Length() < 2 || !info[1].IsFunction()) return args.TypeError("callback", "must be a function");
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return ThrowErrno(env, "fcntl(F_GETFL)", errno);
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) return ThrowErrno(env, "napi_get_uv_event_loop", EINVAL);

  Watch* w = new Watch();
  w->fd = fd;
  w->original_flags = flags;
  w->env = env;
  int rc = uv_poll_init(loop, &w->poll, fd);
  if (rc != 0) {
    // Nothing registered with the loop; EEXIST when this loop already watches the fd.
    fcntl(fd, F_SETFL, flags);
    delete w;
    return ThrowErrno(env, "uv_poll_init", -rc);
  }
  w->poll.data = w;
  rc = uv_poll_start(&w->poll, UV_READABLE | UV_DISCONNECT, OnPoll);
  if (rc != 0) {
    fcntl(fd, F_SETFL, flags);
    w->original_flags = -1;
    w->stopped = true;
    w->js_alive = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), OnClosed);
    return ThrowErrno(env, "uv_poll_start", -rc);
  }
  w->callback = Napi::Persistent(info[1].As<Napi::Function>());
  w->async_context = new Napi::AsyncContext(env, "wasmsup.watchReadable");
  napi_add_async_cleanup_hook(env, OnCleanup, w, &w->cleanup_hook);

  Napi::Function cancel = Napi::Function::New(env, CancelJs, "cancel", w);
  napi_add_finalizer(env, cancel, w, FinalizeCancel, nullptr, nullptr);
  Napi::Object handle = Napi::Object::New(env);
  handle.Set("cancel", cancel);
  return handle;
}

}  // namespace

void RegisterWatch(Napi::Env env, Napi::Object exports) {
  exports.Set("watchReadable", Napi::Function::New(env, WatchReadable, "watchReadable"));
}

}  // namespace wasmsup
