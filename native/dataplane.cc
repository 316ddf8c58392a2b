// The blocking data plane's per-notification calls, at the cost floor of a call from JavaScript: the
// listener fd and the buffers a data-plane thread works with (the notification it receives into, the
// answer it sends, the shared counters, the word results are written to) are registered once per
// thread (registerDataPlane), and the calls made for every notification take no arguments and return
// nothing. They are plain N-API callbacks that never look at their arguments (no node-addon-api
// wrapper, no type checks, nothing allocated) and return NULL, which N-API turns into undefined
// without creating a value: each result (an errno, or two) goes into the registered result word,
// which the caller reads as a plain Int32Array element (src/dataplane/listener.ts). Each is still one
// ioctl per kernel request, and nothing is decided here.
//
// What they add to the ioctls is the latency accounting, which needs a clock read on both sides of the
// JavaScript and so is cheapest here: CLOCK_MONOTONIC (vDSO) when a notification is received and just
// before its answer is sent, the difference bucketed into the stats buffer's latency histogram
// (latency_buckets.h, the layout src/dataplane/stats.ts defines), exactly once per notification. The
// receive time is also written into the notification buffer (NOTIF_BYTE_RECEIVED_NS) for the audit log.
//
// Per-thread: the registration lives in a DataPlane per Node environment (the main thread and each
// worker thread load the addon into an environment of their own, and a thread runs one), handed to
// every call as its N-API callback data. Not thread_local: in a dlopen()ed addon that is a
// __tls_get_addr call per access, and the initial-exec model would draw on the few hundred bytes of
// static TLS glibc keeps spare for dlopen()ed objects (failing to load where they are used up). A
// thread that registered nothing gets a one-line error.
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "addon.h"
#include "args.h"
#include "errors.h"
#include "latency_buckets.h"
#include "notif_layout.h"
#include "seccomp_compat.h"

namespace wasmsup {

namespace {

struct DataPlane {
  int fd = -1;
  uint8_t* notif = nullptr;
  uint8_t* resp = nullptr;
  int32_t* latency_words = nullptr;  // LATENCY_BUCKETS counters
  double* latency_doubles = nullptr;  // the largest latency and the sum, in ns
  // CLOCK_MONOTONIC ns at which the notification in hand was received; 0 once its latency is counted.
  int64_t received_ns = 0;
  // Strong references to the registered views: the buffers stay alive while registered, whatever the
  // JavaScript side keeps. (They must not be transferred away meanwhile; the data plane never does.)
  napi_ref refs[4] = {nullptr, nullptr, nullptr, nullptr};
  napi_env env = nullptr;
  // The registered Int32Array word each per-notification call writes its result to.
  int32_t* result = nullptr;
};

// The calling environment's DataPlane: the callback data every function of this file was created with.
DataPlane& PlaneOf(napi_env env, napi_callback_info info) {
  void* data = nullptr;
  napi_get_cb_info(env, info, nullptr, nullptr, nullptr, &data);
  return *static_cast<DataPlane*>(data);
}

int64_t MonotonicNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// This thread is the counters' only writer (as for the JavaScript StatsWriter): plain increments,
// relaxed stores so that the readers' Atomics.load sees whole words.
void CountLatency(DataPlane& p, int64_t now) {
  if (p.received_ns == 0) return;
  int64_t ns = now - p.received_ns;
  p.received_ns = 0;
  int32_t* word = &p.latency_words[latency_bucket(ns)];
  __atomic_store_n(word, *word + 1, __ATOMIC_RELAXED);
  double d = static_cast<double>(ns < 0 ? 0 : ns);
  if (d > p.latency_doubles[0]) p.latency_doubles[0] = d;
  p.latency_doubles[1] += d;
}

int Send(DataPlane& p) {
  struct seccomp_notif_resp resp;
  memcpy(&resp, p.resp, sizeof resp);
  // Counted just before the SEND, so that a caller that has its answer finds its call counted (the
  // synchronous wake-up may run it before this thread runs on).
  CountLatency(p, MonotonicNs());
  int rc;
  do {
    rc = ioctl(p.fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
  } while (rc < 0 && errno == EINTR);
  return rc < 0 ? errno : 0;
}

// One blocking attempt, no EINTR retry: EINTR is how the control plane interrupts the thread
// (interrupt.cc).
int Receive(DataPlane& p) {
  struct seccomp_notif notif;
  memset(&notif, 0, sizeof notif);  // the kernel rejects a receive buffer that is not all zeroes
  int err = ioctl(p.fd, SECCOMP_IOCTL_NOTIF_RECV, &notif) < 0 ? errno : 0;
  double stamp = 0;
  if (err == 0) {
    p.received_ns = MonotonicNs();
    stamp = static_cast<double>(p.received_ns);
  } else {
    memset(&notif, 0, sizeof notif);
  }
  memcpy(p.notif, &notif, sizeof notif);
  memcpy(p.notif + NOTIF_BYTE_RECEIVED_NS, &stamp, sizeof stamp);
  return err;
}

napi_value NotRegistered(napi_env env, const char* function) {
  char message[160];
  snprintf(message, sizeof message, "%s: no data plane is registered on this thread (registerDataPlane first)", function);
  napi_throw_error(env, nullptr, message);
  return nullptr;
}

void Release(DataPlane& p) {
  for (napi_ref& ref : p.refs) {
    if (ref != nullptr) napi_delete_reference(p.env, ref);
    ref = nullptr;
  }
  p = DataPlane();
}

// The views registerDataPlane keeps: notif, response, stats, result (its arguments 1, 2, 3 and 6).
constexpr int kKeptArgs[4] = {1, 2, 3, 6};

// registerDataPlane(listenerFd, notif, response, stats, latencyWord, latencyDoublesByte, result)
Napi::Value RegisterDataPlaneJs(const Napi::CallbackInfo& info) {
  DataPlane& plane = *static_cast<DataPlane*>(info.Data());
  Args args(info, "registerDataPlane");
  int32_t fd;
  uint8_t *notif, *resp, *stats, *result;
  size_t notif_length, resp_length, stats_length, result_length;
  uint32_t latency_word, doubles_byte;
  if (!args.Int32(0, "listenerFd", &fd) || !args.Bytes(1, "notif", &notif, &notif_length) ||
      !args.Bytes(2, "response", &resp, &resp_length) || !args.Bytes(3, "stats", &stats, &stats_length) ||
      !args.Uint32(4, "latencyWord", &latency_word) || !args.Uint32(5, "latencyDoublesByte", &doubles_byte) ||
      !args.Bytes(6, "result", &result, &result_length)) {
    return Napi::Value();
  }
  if (fd < 0) return args.RangeError("listenerFd", "is negative");
  if (notif_length < NOTIF_BUFFER_MIN_BYTES) return args.RangeError("notif", "is smaller than the 96 bytes of the notification buffer");
  if (resp_length < sizeof(struct seccomp_notif_resp)) return args.RangeError("response", "is smaller than the 24 bytes of the struct");
  if (reinterpret_cast<uintptr_t>(stats) % 8 != 0) return args.RangeError("stats", "is not 8-byte aligned");
  if (static_cast<uint64_t>(latency_word) * 4 + LATENCY_BUCKETS * 4 > stats_length) {
    return args.RangeError("latencyWord", "puts the latency histogram past the end of stats");
  }
  if (doubles_byte % 8 != 0 || static_cast<uint64_t>(doubles_byte) + 16 > stats_length) {
    return args.RangeError("latencyDoublesByte", "is not an 8-aligned offset of two doubles within stats");
  }
  if (result_length < 4 || reinterpret_cast<uintptr_t>(result) % 4 != 0) {
    return args.RangeError("result", "is not a 4-aligned word (an Int32Array of at least one element)");
  }
  Napi::Env env = info.Env();
  Release(plane);
  plane.env = env;
  for (int i = 0; i < 4; i++) {
    if (napi_create_reference(env, info[kKeptArgs[i]], 1, &plane.refs[i]) != napi_ok) {
      Release(plane);
      return ThrowTypeError(env, "registerDataPlane: cannot keep a reference to its buffers");
    }
  }
  plane.fd = fd;
  plane.notif = notif;
  plane.resp = resp;
  plane.latency_words = reinterpret_cast<int32_t*>(stats) + latency_word;
  plane.latency_doubles = reinterpret_cast<double*>(stats + doubles_byte);
  plane.result = reinterpret_cast<int32_t*>(result);
  return env.Undefined();
}

Napi::Value UnregisterDataPlaneJs(const Napi::CallbackInfo& info) {
  Release(*static_cast<DataPlane*>(info.Data()));
  return info.Env().Undefined();
}

Napi::Value LatencyBucketJs(const Napi::CallbackInfo& info) {
  Args args(info, "latencyBucket");
  int64_t ns;
  if (!args.Integer(0, "ns", INT64_MIN / 2, INT64_MAX / 2, &ns)) return Napi::Value();
  return Napi::Number::New(info.Env(), latency_bucket(ns));
}

// The per-notification calls return NULL (undefined, with no value created) and put their result in
// the registered result word.

// dataPlaneReceive(): one blocking RECV; result: its errno (0 = received).
napi_value ReceiveRaw(napi_env env, napi_callback_info info) {
  DataPlane& plane = PlaneOf(env, info);
  if (plane.notif == nullptr) return NotRegistered(env, "dataPlaneReceive");
  *plane.result = Receive(plane);
  return nullptr;
}

// dataPlaneSendReceive(): SEND the registered answer, then one blocking RECV; never throws for either
// (a failed answer must not skip the receive). Result: (SEND errno) << 16 | (RECV errno).
napi_value SendReceiveRaw(napi_env env, napi_callback_info info) {
  DataPlane& plane = PlaneOf(env, info);
  if (plane.notif == nullptr) return NotRegistered(env, "dataPlaneSendReceive");
  int send_err = Send(plane);
  int recv_err = Receive(plane);
  *plane.result = (send_err & 0xffff) << 16 | (recv_err & 0xffff);
  return nullptr;
}

// dataPlaneSend(): SEND the registered answer now; result: its errno (ENOENT: nobody waits for it).
napi_value SendRaw(napi_env env, napi_callback_info info) {
  DataPlane& plane = PlaneOf(env, info);
  if (plane.notif == nullptr) return NotRegistered(env, "dataPlaneSend");
  *plane.result = Send(plane);
  return nullptr;
}

// dataPlaneAnswered(): the notification in hand was answered another way (ADDFD with SEND, or by a
// helper): counts its latency now, unless it was counted already.
napi_value AnsweredRaw(napi_env env, napi_callback_info info) {
  DataPlane& plane = PlaneOf(env, info);
  if (plane.notif == nullptr) return NotRegistered(env, "dataPlaneAnswered");
  CountLatency(plane, MonotonicNs());
  return nullptr;
}

void SetRaw(Napi::Env env, Napi::Object exports, const char* name, napi_callback callback, DataPlane* plane) {
  napi_value fn;
  if (napi_create_function(env, name, NAPI_AUTO_LENGTH, callback, plane, &fn) != napi_ok) return;
  exports.Set(name, Napi::Value(env, fn));
}

}  // namespace

void RegisterDataPlane(Napi::Env env, Napi::Object exports) {
  // This environment's registration, freed with it. Its references are not deleted here: the
  // environment is being torn down and frees those it still holds itself (the worker unregisters
  // before it ends anyway).
  DataPlane* plane = new DataPlane();
  if (napi_add_env_cleanup_hook(env, [](void* p) { delete static_cast<DataPlane*>(p); }, plane) != napi_ok) {
    delete plane;
    return;
  }
  exports.Set("registerDataPlane", Napi::Function::New(env, RegisterDataPlaneJs, "registerDataPlane", plane));
  exports.Set("unregisterDataPlane", Napi::Function::New(env, UnregisterDataPlaneJs, "unregisterDataPlane", plane));
  exports.Set("latencyBucket", Napi::Function::New(env, LatencyBucketJs, "latencyBucket"));
  SetRaw(env, exports, "dataPlaneReceive", ReceiveRaw, plane);
  SetRaw(env, exports, "dataPlaneSendReceive", SendReceiveRaw, plane);
  SetRaw(env, exports, "dataPlaneSend", SendRaw, plane);
  SetRaw(env, exports, "dataPlaneAnswered", AnsweredRaw, plane);
}

}  // namespace wasmsup
