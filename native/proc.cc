// Process information from /proc and the pidfd syscalls.
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <string_view>

#include "addon.h"
#include "args.h"
#include "creds_layout.h"
#include "errors.h"
#include "proc_path.h"
#include "proc_status.h"
#include "raw_args.h"
#include "seccomp_compat.h"

namespace wasmsup {

namespace {

constexpr size_t kMaxIdMapLines = 340;

// Reads a whole /proc file from its start (pread, so an fd kept open re-reads fresh contents: a
// seq_file regenerates them at offset 0): into `stack` when it fits (the usual case), else into
// `heap`. Returns the text and its length, or nullptr with errno.
const char* ReadProcFd(int fd, char* stack, size_t stack_size, std::string* heap, size_t* length) {
  size_t used = 0;
  char* buf = stack;
  size_t capacity = stack_size;
  for (;;) {
    if (used == capacity) {
      // Only very long group lists get here.
      if (buf == stack) heap->assign(stack, used);
      heap->resize(capacity * 2);
      buf = &(*heap)[0];
      capacity = heap->size();
    }
    size_t wanted = capacity - used;
    ssize_t n = pread(fd, buf + used, wanted, static_cast<off_t>(used));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return nullptr;
    used += static_cast<size_t>(n);
    // A /proc/TID file is generated whole on each read: less than asked for is all of it (one
    // syscall fewer per read than waiting for the empty read at the end).
    if (static_cast<size_t>(n) < wanted) break;
  }
  *length = used;
  return buf;
}

const char* ReadProcFile(const char* path, char* stack, size_t stack_size, std::string* heap, size_t* length) {
  int fd;
  do {
    fd = open(path, O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return nullptr;
  const char* text = ReadProcFd(fd, stack, stack_size, heap, length);
  int err = errno;
  close(fd);
  errno = err;
  return text;
}

const char* SkipBlanks(const char* p, const char* end) {
  while (p < end && (*p == ' ' || *p == '\t')) p++;
  return p;
}

// Parses up to `count` numbers in `base` from [p, end) into out; returns how many were parsed.
size_t ParseNumbers(const char* p, const char* end, int base, uint32_t* out, size_t count) {
  size_t parsed = 0;
  while (parsed < count) {
    p = SkipBlanks(p, end);
    if (p >= end) break;
    char* stop;
    unsigned long value = strtoul(p, &stop, base);
    if (stop == p) break;
    out[parsed++] = static_cast<uint32_t>(value);
    p = stop;
  }
  return parsed;
}

// The creds words for `out` (length >= CREDS_WORDS) from a status file's text, or the read's error:
// `text` nullptr is errno from `call`; an empty text is a task that exited before it was read.
Napi::Value FillCreds(Napi::Env env, const char* text, size_t length, const char* call, uint32_t* out, size_t capacity) {
  if (text == nullptr) return ThrowErrno(env, call, errno);
  if (length == 0) return ThrowErrno(env, call, ESRCH);
  proc_status_parse(text, length, out, capacity);
  return env.Undefined();
}

bool CredsOut(const Args& args, size_t i, uint32_t** out, size_t* count) {
  if (!args.Words(i, "out", out, count)) return false;
  if (*count >= CREDS_WORDS) return true;
  args.RangeError("out", "has fewer than CREDS_WORDS (96) elements");
  return false;
}

int64_t NamespaceInode(int32_t tid, const char* ns_kind);
Napi::Value InodeOrThrow(Napi::Env env, int64_t inode);

Napi::Value ReadCreds(const Napi::CallbackInfo& info) {
  Args args(info, "readCreds");
  int32_t tid;
  uint32_t* out;
  size_t capacity;
  if (!args.Pid(0, "tid", &tid) || !CredsOut(args, 1, &out, &capacity)) return Napi::Value();
  char path[40];
  proc_path(path, tid, "status");
  char stack[16384];
  std::string heap;
  size_t length = 0;
  const char* text = ReadProcFile(path, stack, sizeof stack, &heap, &length);
  return FillCreds(info.Env(), text, length, "open(/proc/TID/status)", out, capacity);
}

// readCredsFd(fd, out[, usernsOf]): readCreds from an open /proc/TID/status, re-read from its start.
// ESRCH once the task it was opened for has exited (the fd names that task, never a later holder of
// its tid). With usernsOf (that tid), also nsInode(usernsOf, 'user'), into out[CREDS_USERNS_INODE]
// (lo, hi; 0 without): the two reads every caller_creds makes, in one crossing. Once per
// notification a policy asks about, so a plain N-API callback (raw_args.h) that returns nothing and
// allocates nothing.
napi_value ReadCredsFd(napi_env env, napi_callback_info info) {
  RawArgs args(env, info, "readCredsFd");
  int32_t fd, tid = 0;
  uint32_t* out;
  size_t capacity;
  if (!args.Int32(0, "fd", &fd) || !args.Words(1, "out", &out, &capacity)) return nullptr;
  if (capacity < CREDS_WORDS) return args.RangeError("out", "has fewer than CREDS_WORDS (96) elements");
  if (args.Has(2) && !args.Pid(2, "usernsOf", &tid)) return nullptr;
  char stack[16384];
  std::string heap;
  size_t length = 0;
  const char* text = ReadProcFd(fd, stack, sizeof stack, &heap, &length);
  if (FillCreds(Napi::Env(env), text, length, "pread(/proc/TID/status)", out, capacity).IsEmpty()) return nullptr;
  if (tid != 0) {
    int64_t inode = NamespaceInode(tid, "ns/user");
    if (inode < 0) return InodeOrThrow(Napi::Env(env), inode);
    out[CREDS_USERNS_INODE] = static_cast<uint32_t>(inode);
    out[CREDS_USERNS_INODE + 1] = static_cast<uint32_t>(static_cast<uint64_t>(inode) >> 32);
  }
  return nullptr;  // undefined
}

bool NamespaceKind(const Args& args, size_t i, char* kind, size_t capacity) {
  if (!args.String(i, "kind", kind, capacity)) return false;
  static const char* const kKinds[] = {"user", "mnt", "pid", "net", "cgroup", "ipc", "uts", "time"};
  for (const char* known : kKinds) {
    if (strcmp(kind, known) == 0) return true;
  }
  args.TypeError("kind", "one of 'user', 'mnt', 'pid', 'net', 'cgroup', 'ipc', 'uts', 'time'");
  return false;
}

// The inode of /proc/TID/<ns_kind> ("ns/user", ...), or -errno. The link's text, "KIND:[INODE]", names the namespace's
// nsfs inode; reading it costs about half a stat(), which would first materialise the nsfs dentry (a
// per-notification cost for policies).
int64_t NamespaceInode(int32_t tid, const char* ns_kind) {
  char path[48];
  proc_path(path, tid, ns_kind);
  char link[64];
  ssize_t n = readlink(path, link, sizeof link - 1);
  if (n < 0) return -errno;
  // "KIND:[digits]", read by hand (as the status file is: proc_status.h).
  const char* open_bracket = static_cast<const char*>(memchr(link, '[', static_cast<size_t>(n)));
  if (open_bracket == nullptr) return -EBADMSG;
  const char* p = open_bracket + 1;
  const char* end = link + n;
  uint64_t inode = 0;
  int digits = 0;
  for (; p < end && *p >= '0' && *p <= '9' && digits < 20; p++, digits++) inode = inode * 10 + static_cast<uint64_t>(*p - '0');
  if (p >= end || *p != ']' || inode == 0 || inode > INT64_MAX) return -EBADMSG;
  return static_cast<int64_t>(inode);
}

Napi::Value InodeOrThrow(Napi::Env env, int64_t inode) {
  if (inode == -EBADMSG) return ThrowErrno(env, "readlink(/proc/TID/ns/KIND): unexpected link text", EINVAL);
  if (inode < 0) return ThrowErrno(env, "readlink(/proc/TID/ns/KIND)", static_cast<int>(-inode));
  return Napi::Number::New(env, static_cast<double>(inode));
}

Napi::Value NsInode(const Napi::CallbackInfo& info) {
  Args args(info, "nsInode");
  int32_t tid;
  char kind[16];
  if (!args.Pid(0, "tid", &tid) || !NamespaceKind(args, 1, kind, sizeof kind)) return Napi::Value();
  char ns_kind[20] = "ns/";
  memcpy(ns_kind + 3, kind, strlen(kind) + 1);  // a known kind: at most 6 letters
  return InodeOrThrow(info.Env(), NamespaceInode(tid, ns_kind));
}

Napi::Value ReadIdMap(const Napi::CallbackInfo& info) {
  Args args(info, "readIdMap");
  int32_t tid;
  char kind[8];
  uint32_t* out;
  size_t count;
  if (!args.Pid(0, "tid", &tid) || !args.String(1, "kind", kind, sizeof kind) ||
      !args.Words(2, "out", &out, &count)) {
    return Napi::Value();
  }
  if (strcmp(kind, "uid") != 0 && strcmp(kind, "gid") != 0) return args.TypeError("kind", "'uid' or 'gid'");

  char path[40];
  snprintf(path, sizeof path, "/proc/%d/%s_map", tid, kind);
  char stack[16384];
  std::string heap;
  size_t length;
  const char* text = ReadProcFile(path, stack, sizeof stack, &heap, &length);
  if (text == nullptr) return ThrowErrno(info.Env(), "open(/proc/TID/KIND_map)", errno);

  uint32_t triples[kMaxIdMapLines * 3];
  size_t lines = 0;
  const char* end = text + length;
  for (const char* line = text; line < end && lines < kMaxIdMapLines;) {
    const char* newline = static_cast<const char*>(memchr(line, '\n', static_cast<size_t>(end - line)));
    const char* line_end = newline != nullptr ? newline : end;
    if (ParseNumbers(line, line_end, 10, triples + lines * 3, 3) == 3) lines++;
    line = line_end + 1;
  }
  if (lines * 3 > count) {
    char what[96];
    snprintf(what, sizeof what, "holds %zu triples but the map has %zu lines", count / 3, lines);
    return args.RangeError("out", what);
  }
  memcpy(out, triples, lines * 3 * sizeof(uint32_t));
  return Napi::Number::New(info.Env(), static_cast<double>(lines));
}

Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  Args args(info, "pidfdOpen");
  int32_t pid;
  uint32_t flags = 0;
  if (!args.Pid(0, "pid", &pid)) return Napi::Value();
  if (args.Has(1) && !args.Uint32(1, "flags", &flags)) return Napi::Value();
  long fd = syscall(SYS_pidfd_open, pid, flags);
  if (fd < 0) return ThrowErrno(info.Env(), "pidfd_open", errno);
  return Napi::Number::New(info.Env(), static_cast<double>(fd));
}

Napi::Value PidfdGetfd(const Napi::CallbackInfo& info) {
  Args args(info, "pidfdGetfd");
  int32_t pidfd, target_fd;
  if (!args.Int32(0, "pidfd", &pidfd) || !args.Int32(1, "targetFd", &target_fd)) return Napi::Value();
  long fd;
  do {
    fd = syscall(SYS_pidfd_getfd, pidfd, target_fd, 0);  // the new fd is always O_CLOEXEC
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ThrowErrno(info.Env(), "pidfd_getfd", errno);
  return Napi::Number::New(info.Env(), static_cast<double>(fd));
}

Napi::Value PidfdSendSignal(const Napi::CallbackInfo& info) {
  Args args(info, "pidfdSendSignal");
  int32_t pidfd;
  int64_t sig;
  if (!args.Int32(0, "pidfd", &pidfd) || !args.Integer(1, "sig", 0, 64, &sig)) return Napi::Value();
  if (syscall(SYS_pidfd_send_signal, pidfd, static_cast<int>(sig), nullptr, 0) < 0) {
    return ThrowErrno(info.Env(), "pidfd_send_signal", errno);
  }
  return info.Env().Undefined();
}

// prctl(PR_SET_CHILD_SUBREAPER, 1): process-wide, so `run` adopts what its command leaves behind.
Napi::Value SetChildSubreaper(const Napi::CallbackInfo& info) {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) return ThrowErrno(info.Env(), "prctl(PR_SET_CHILD_SUBREAPER)", errno);
  return info.Env().Undefined();
}

// waitid(P_PID, pid, WEXITED | WNOHANG): true when pid was a zombie child and is now reaped. Only for
// children Node does not track (adopted orphans): reaping one of libuv's would lose its exit status.
Napi::Value ReapChild(const Napi::CallbackInfo& info) {
  Args args(info, "reapChild");
  int32_t pid;
  if (!args.Pid(0, "pid", &pid)) return Napi::Value();
  siginfo_t si{};
  int r;
  do {
    r = waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return ThrowErrno(info.Env(), "waitid", errno);
  return Napi::Boolean::New(info.Env(), si.si_pid == pid);
}

}  // namespace

void RegisterProc(Napi::Env env, Napi::Object exports) {
  exports.Set("readCreds", Napi::Function::New(env, ReadCreds, "readCreds"));
  napi_value read_creds_fd;
  if (napi_create_function(env, "readCredsFd", NAPI_AUTO_LENGTH, ReadCredsFd, nullptr, &read_creds_fd) == napi_ok) {
    exports.Set("readCredsFd", Napi::Value(env, read_creds_fd));
  }
  exports.Set("nsInode", Napi::Function::New(env, NsInode, "nsInode"));
  exports.Set("readIdMap", Napi::Function::New(env, ReadIdMap, "readIdMap"));
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen, "pidfdOpen"));
  exports.Set("pidfdGetfd", Napi::Function::New(env, PidfdGetfd, "pidfdGetfd"));
  exports.Set("pidfdSendSignal", Napi::Function::New(env, PidfdSendSignal, "pidfdSendSignal"));
  exports.Set("setChildSubreaper", Napi::Function::New(env, SetChildSubreaper, "setChildSubreaper"));
  exports.Set("reapChild", Napi::Function::New(env, ReapChild, "reapChild"));
}

}  // namespace wasmsup
