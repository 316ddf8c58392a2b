// mknodatAsCaller: mknodat(2) on the calling thread with a seccomp caller's root, umask and file-system
// credentials: the fast path of the mknod emulation (src/emulate/as-caller.ts; actAsCaller below is its general form), which otherwise takes two
// process hand-offs through wasmsup-helper (native/helper.c). Every privileged step is the shared
// "as the caller" core's (native/as_caller.h), which the helper uses too; this file is its N-API face
// and what only a thread of Node needs.
//
// Node is multithreaded, so the switch is per thread, never a child process: the core's raw
// setgroups/setresgid/setfsuid/setfsgid/capset change only the calling thread (glibc's setgroups would change
// every thread of Node). Root, cwd and umask live in the fs_struct that threads share until one calls
// unshare(CLONE_FS); the first call on a thread does that, so this thread alone can chroot into the
// caller's root. The main thread is refused: unsharing its fs_struct would cut it off from the cwd
// libuv's thread pool resolves relative paths with (process.chdir()).
//
// Everything is switched and switched back within one call, so no JavaScript ever runs as the caller
// or inside its root. Putting the thread's own state back cannot fail for a process whose real uid
// is 0 (its permitted capabilities are never touched); should the kernel refuse anyway, the call
// throws an error with code EWASMSUP_THREAD_TAINTED and this thread must never be used again.
//
// What the thread holds while it creates: the caller's fsuid, fsgid, supplementary groups and umask,
// which decide the walk's permissions and the new node's owner, group and mode; as effective
// capability only CAP_MKNOD (what the caller lacks by not being in the initial user namespace). Not
// CAP_FSETID: the initial namespace's would keep a setgid bit in every setgid directory, the
// caller's only in those whose owner and group its namespace maps, so a caller with CAP_FSETID
// asking for S_ISGID|S_IXGRP goes the exact way (src/emulate/as-caller.ts). Without CAP_DAC_OVERRIDE or
// CAP_DAC_READ_SEARCH the walk can only be stricter than the caller's own, whose capabilities in its
// namespace may let it through: the caller of this function retries EACCES and EPERM the exact (slow)
// way. Any other errno comes from a point the caller would have reached the same way. The path is
// looked up as native/as_caller.h says: once, and a /proc magic link is ELOOP, since this thread's
// /proc/self is the supervisor.
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

#include "addon.h"
#include "args.h"
#include "as_caller.h"
#include "as_caller_ops.h"
#include "creds_layout.h"
#include "errors.h"
#include "memory.h"
#include "seccomp_compat.h"
#include "notif_layout.h"
#include "proc_path.h"
#include "raw_args.h"

namespace wasmsup {

namespace {

// A caller may hold as many groups as the kernel allows (CREDS_NGROUPS_MAX); the thread's own, which
// it must be given back, are the supervisor's: a few at most (more and the fast path is not used).
constexpr int kMaxOwnGroups = 64;

struct ThreadState {
  bool ready = false;
  int own_root = -1;
  int own_cwd = -1;
  bool own_root_known = false;  // false: never "the same root", every call chroots
  as_caller_root own_root_id;
  int dumpable = 0;
  gid_t groups[kMaxOwnGroups];
  as_caller_own own;
  // A data-plane worker ends with its container (the OCI agent): its fds go with the thread.
  ~ThreadState() {
    if (own_root >= 0) close(own_root);
    if (own_cwd >= 0) close(own_cwd);
  }
};

thread_local ThreadState self;

// Unshares this thread's fs_struct and remembers what it must return to. 0 or an errno.
int PrepareThread() {
  if (self.ready) return 0;
  if (syscall(SYS_gettid) == getpid()) return EINVAL;
  if (unshare(CLONE_FS) < 0) return errno;
  self.own_root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  self.own_cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  self.own.groups = self.groups;
  self.own.groups_capacity = kMaxOwnGroups;
  int err = self.own_root < 0 || self.own_cwd < 0 ? errno : as_caller_save_own(&self.own);
  if (err != 0) {
    if (self.own_root >= 0) close(self.own_root);
    if (self.own_cwd >= 0) close(self.own_cwd);
    self.own_root = self.own_cwd = -1;
    return err;
  }
  self.own_root_known = as_caller_root_of(self.own_root, &self.own_root_id) == 0;
  self.dumpable = prctl(PR_GET_DUMPABLE);
  self.ready = true;
  return 0;
}

// True when fd names the thread's own root: the chroot there and back, five syscalls, can be
// skipped. Callers outside a container (`wasmsup run`) share the supervisor's root.
bool IsOwnRoot(int fd) {
  as_caller_root root;
  return self.own_root_known && as_caller_root_of(fd, &root) == 0 && as_caller_same_root(&root, &self.own_root_id);
}

// How the thread took on the caller: what Restore must undo.
struct Switched {
  bool root_changed = false;
  bool groups_changed = false;
  bool egid_way = false;  // as_caller_switch_egid (else as_caller_switch)
  mode_t saved_umask = 0;
};

// Back to the thread's own credentials, umask and root; false if any step was refused.
bool Restore(const Switched& s) {
  bool ok = (s.egid_way ? as_caller_restore_egid(&self.own, s.groups_changed)
                        : as_caller_restore(&self.own, s.groups_changed)) == 0;
  umask(s.saved_umask);
  const char* failed;
  if (s.root_changed) ok = as_caller_enter_root(self.own_root, &failed) == 0 && fchdir(self.own_cwd) == 0 && ok;
  return ok;
}

// What one act as the caller came to: the step's errno (`result`), or a switch that failed
// (`setup_err`, the step `failed`), and whether the thread got its own state back.
struct Outcome {
  int result = 0;
  int setup_err = 0;
  const char* failed = nullptr;
  bool restored = true;
};

// The thread (prepared) chrooted into root_fd with the caller's umask, fsuid, fsgid and groups from
// `creds` (checked by the caller: umask <= 0777, all groups present) and exactly `effective` as
// effective capabilities; `step()` run as that; everything put back. The gid side through setresgid
// when the thread allows it (native/as_caller.h, as_caller_switch_egid), else as_caller_switch.
template <typename Step>
Outcome ActAs(int root_fd, const uint32_t* creds, uint32_t effective, Step step) {
  Outcome out;
  Switched s;
  // Root first, while the thread still has CAP_SYS_CHROOT.
  s.root_changed = !IsOwnRoot(root_fd);
  out.setup_err = s.root_changed ? as_caller_enter_root(root_fd, &out.failed) : 0;
  s.saved_umask = umask(creds[CREDS_UMASK]);
  const as_caller_identity caller = {creds[CREDS_FSUID], creds[CREDS_FSGID], creds[CREDS_NGROUPS],
                                     reinterpret_cast<const gid_t*>(creds + CREDS_GROUPS), effective};
  s.groups_changed = out.setup_err == 0 && !as_caller_own_groups(&self.own, caller.groups, caller.ngroups);
  s.egid_way = self.own.egid_way != 0;
  if (out.setup_err == 0) {
    out.setup_err = s.egid_way ? as_caller_switch_egid(&self.own, &caller, s.groups_changed, &out.failed)
                               : as_caller_switch(&self.own, &caller, s.groups_changed, &out.failed);
  }
  if (out.setup_err == 0) out.result = step();
  out.restored = Restore(s);
  // Any change of an effective or fs id makes the kernel mark the whole process non-dumpable (commit_creds),
  // meant for a process that gives up privilege for good; this thread takes its own back, so the
  // flag is too.
  if (self.dumpable == 1) prctl(PR_SET_DUMPABLE, 1);
  return out;
}

// The JavaScript face of an Outcome: the errno as a number, or the error thrown.
Napi::Value Answer(Napi::Env env, const char* function, const Outcome& out) {
  if (!out.restored) {
    std::string message = std::string(function) + ": the kernel refused to restore this thread's credentials or root";
    Napi::Error error = Napi::Error::New(env, message);
    error.Value().Set("code", "EWASMSUP_THREAD_TAINTED");
    error.ThrowAsJavaScriptException();
    return Napi::Value();
  }
  if (out.setup_err != 0) return ThrowErrno(env, out.failed, out.setup_err);
  return Napi::Number::New(env, out.result);
}

// The creds words' checks every act needs: nullptr, or what is wrong with them (a RangeError's text).
const char* CredsProblem(const uint32_t* creds, size_t creds_count) {
  if (creds_count < CREDS_WORDS) return "has fewer than CREDS_WORDS (96) elements";
  if (creds[CREDS_UMASK] > 0777) return "has no umask (0..0777)";
  // Never act with fewer groups than the caller has (readCreds counts them all, whatever it held).
  if (creds[CREDS_NGROUPS] > CREDS_NGROUPS_MAX || CREDS_GROUPS + creds[CREDS_NGROUPS] > creds_count) {
    return "does not hold all of the caller's groups";
  }
  return nullptr;
}

// CredsProblem for Args: false after throwing a RangeError.
bool CredsUsable(const Args& args, const uint32_t* creds, size_t creds_count) {
  const char* problem = CredsProblem(creds, creds_count);
  if (problem != nullptr) args.RangeError("creds", problem);
  return problem == nullptr;
}

// mknodatAsCaller(rootFd, startFd, path, pathLength, mode, dev, creds) -> 0 or the errno the caller
// must see. rootFd: the caller's /proc/TID/root; startFd: its cwd or mknodat dirfd for a relative path
// (ignored for an absolute one); creds: readCreds words. Throws for bad arguments, when the thread
// cannot be prepared (the emulation then takes the slow path), and EWASMSUP_THREAD_TAINTED.
Napi::Value MknodatAsCaller(const Napi::CallbackInfo& info) {
  Args args(info, "mknodatAsCaller");
  int32_t root_fd, start_fd;
  uint8_t* path_bytes;
  size_t path_capacity;
  uint32_t path_length, mode, dev;
  uint32_t* creds;
  size_t creds_count;
  if (!args.Int32(0, "rootFd", &root_fd) || !args.Int32(1, "startFd", &start_fd) ||
      !args.Bytes(2, "path", &path_bytes, &path_capacity) || !args.Uint32(3, "pathLength", &path_length) ||
      !args.Uint32(4, "mode", &mode) || !args.Uint32(5, "dev", &dev) || !args.Words(6, "creds", &creds, &creds_count)) {
    return Napi::Value();
  }
  if (path_length > path_capacity) return args.RangeError("pathLength", "is larger than path");
  if (path_length == 0 || path_length >= AS_CALLER_PATH_MAX) return args.RangeError("pathLength", "must be 1..4095");
  if (!CredsUsable(args, creds, creds_count)) return Napi::Value();
  char path[AS_CALLER_PATH_MAX];
  memcpy(path, path_bytes, path_length);
  path[path_length] = '\0';
  if (memchr(path, '\0', path_length) != nullptr) return args.RangeError("path", "contains a NUL byte");

  int err = PrepareThread();
  if (err != 0) return ThrowErrno(info.Env(), "mknodatAsCaller: unshare(CLONE_FS)", err);
  Outcome out = ActAs(root_fd, creds, 1u << CAP_MKNOD, [&] {
    // A relative path starts at the caller's cwd or dirfd; an absolute one at the root set above.
    // Looked up once and never through a magic link, whose /proc/self would be this process.
    return as_caller_mknodat(path[0] == '/' ? AT_FDCWD : start_fd, path, mode, dev, nullptr);
  });
  return Answer(info.Env(), "mknodatAsCaller", out);
}

// Index of each word of actAsCaller's `call` argument (src/emulate/as-caller.ts, CallWord).
enum CallWord {
  kOp, kFlags, kRenameFlags, kMode, kDev, kUid, kGid, kXattrFlags, kPathLength, kPath2Length, kNameLength, kValueLength,
  kCallWords
};

// The call's integer operands, as the JavaScript side laid them out (its paths and value are not here).
as_caller_call CallOf(const uint32_t* call) {
  as_caller_call c = {};
  c.op = call[kOp];
  c.flags = call[kFlags];
  c.rename_flags = call[kRenameFlags];
  c.mode = call[kMode];
  c.dev = call[kDev];
  c.uid = call[kUid];
  c.gid = call[kGid];
  c.xattr_flags = call[kXattrFlags];
  return c;
}

// Copies `length` bytes of a path (or name) argument into `out` with its NUL; false for a NUL inside.
bool CopyText(const uint8_t* bytes, uint32_t length, char* out) {
  memcpy(out, bytes, length);
  out[length] = '\0';
  return memchr(out, '\0', length) == nullptr;
}

// actAsCaller(rootFd, startFd, start2Fd, targetFd, call, path, path2, name, value, creds, effective)
//   -> 0 or the errno the caller must see.
// One filesystem call of native/as_caller_ops.h on this thread as the caller: chrooted into rootFd,
// its umask, fsuid, fsgid and groups from `creds` (readCreds words), and as effective capabilities
// exactly `effective` (the low word: what the policy lent, within the operator's --max-lend). startFd,
// start2Fd: where a relative first/second path starts (the caller's cwd or dirfd; ignored for an
// absolute one); targetFd: the caller's own open file for the f* forms, else -1. `call`: CallWord
// words; path, path2, name, value: bytes of those lengths (uid/gid already in this namespace's view).
// Throws as mknodatAsCaller does.
Napi::Value ActAsCaller(const Napi::CallbackInfo& info) {
  Args args(info, "actAsCaller");
  int32_t root_fd, start_fd, start2_fd, target_fd;
  uint32_t *call, *creds, effective;
  size_t call_count, creds_count, sizes[4];
  uint8_t* bytes[4];
  if (!args.Int32(0, "rootFd", &root_fd) || !args.Int32(1, "startFd", &start_fd) || !args.Int32(2, "start2Fd", &start2_fd) ||
      !args.Int32(3, "targetFd", &target_fd) || !args.Words(4, "call", &call, &call_count) ||
      !args.Bytes(5, "path", &bytes[0], &sizes[0]) || !args.Bytes(6, "path2", &bytes[1], &sizes[1]) ||
      !args.Bytes(7, "name", &bytes[2], &sizes[2]) || !args.Bytes(8, "value", &bytes[3], &sizes[3]) ||
      !args.Words(9, "creds", &creds, &creds_count) || !args.Uint32(10, "effective", &effective)) {
    return Napi::Value();
  }
  if (call_count < kCallWords) return args.RangeError("call", "has fewer than 12 words");
  if (call[kOp] < AS_CALLER_MKNOD || call[kOp] >= AS_CALLER_OPS) return args.RangeError("call", "has an unknown op");
  const uint32_t lengths[4] = {call[kPathLength], call[kPath2Length], call[kNameLength], call[kValueLength]};
  for (int i = 0; i < 4; i++) {
    if (lengths[i] > sizes[i]) return args.RangeError("call", "has a length larger than its buffer");
  }
  if (lengths[0] >= AS_CALLER_PATH_MAX || lengths[1] >= AS_CALLER_PATH_MAX || lengths[2] > 255) {
    return args.RangeError("call", "has a path longer than 4095 bytes or a name longer than 255");
  }
  if (!CredsUsable(args, creds, creds_count)) return Napi::Value();
  static thread_local char path[AS_CALLER_PATH_MAX], path2[AS_CALLER_PATH_MAX], name[256];
  if (!CopyText(bytes[0], lengths[0], path) || !CopyText(bytes[1], lengths[1], path2) || !CopyText(bytes[2], lengths[2], name)) {
    return args.RangeError("path", "contains a NUL byte");
  }
  as_caller_call c = CallOf(call);
  c.path = lengths[0] > 0 ? path : nullptr;
  c.path2 = path2;
  c.name = name;
  c.value = bytes[3];
  c.value_length = lengths[3];

  int err = PrepareThread();
  if (err != 0) return ThrowErrno(info.Env(), "actAsCaller: unshare(CLONE_FS)", err);
  Outcome out = ActAs(root_fd, creds, effective, [&] {
    // A relative path starts at the caller's cwd or dirfd; an absolute one at the root set above.
    const int start = c.path != nullptr && c.path[0] == '/' ? AT_FDCWD : start_fd;
    const int start2 = path2[0] == '/' ? AT_FDCWD : start2_fd;
    return as_caller_perform(&c, start, start2, target_fd, nullptr);
  });
  return Answer(info.Env(), "actAsCaller", out);
}


// Where asCallerFast leaves the fds the exact way takes over (its `fds`, an Int32Array).
enum FastFd { kFastRoot, kFastStart, kFastFds };

// A small integer for JavaScript (a Smi: nothing allocated).
napi_value Int(napi_env env, int32_t n) {
  napi_value v;
  napi_create_int32(env, n, &v);
  return v;
}

// Closes what asCallerFast opened and marks it so.
void CloseFast(int32_t* fds) {
  for (int i = 0; i < kFastFds; i++) {
    if (fds[i] >= 0) close(fds[i]);
    fds[i] = -1;
  }
}

// /proc/TID/<what> opened O_PATH | O_DIRECTORY: an fd, or -errno.
int OpenCallerDir(int32_t tid, const char* what) {
  char path[48];
  proc_path(path, tid, what);
  int fd;
  do {
    fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  return fd < 0 ? -errno : fd;
}

// asCallerFast(listenerFd, notif, tid, addrLo, addrHi, call, path, creds, effective, fds) -> 0, -errno, or 1.
// The whole fast way of one AS_CALLER call with a single path resolved from the caller's cwd (no
// dirfd, no second path, no name or value: mknod, mkdir, unlink, rmdir, chmod as src/emulate/as-caller.ts
// picks them) in one crossing instead of six: the path read from the caller's memory once into
// `path` (PATH_MAX bytes; its length into call[PATH_LENGTH]), the caller's /proc/TID/root (and its
// cwd for a relative path) opened, ID_VALID on `notif` after those reads and before anything is done,
// then the step exactly as actAsCaller takes it. `creds` were read (and confirmed) before.
// 0 or -errno: the caller's answer, everything closed. 1: the step was refused with EACCES or EPERM
// and the exact way (the helper) decides, with the path in `path` and the fds in `fds` ([root,
// start]; the caller closes them). Throws as actAsCaller does: before the path is read when the thread
// cannot be prepared; with the fds left in `fds` when the switch failed (the exact way decides then
// too); EWASMSUP_THREAD_TAINTED. Once per emulated notification, so a plain N-API callback
// (raw_args.h): its ten arguments are read without a heap array, its result is a small integer.
napi_value AsCallerFast(napi_env raw_env, napi_callback_info info) {
  RawArgs args(raw_env, info, "asCallerFast");
  int32_t listener_fd, tid;
  uint8_t *notif, *path_bytes, *fd_bytes;
  size_t notif_size, path_capacity, fd_size, call_count, creds_count;
  uint32_t addr_lo, addr_hi, effective;
  uint32_t *call, *creds;
  if (!args.Int32(0, "listenerFd", &listener_fd) || !args.Bytes(1, "notif", &notif, &notif_size) ||
      !args.Pid(2, "tid", &tid) || !args.Uint32(3, "addrLo", &addr_lo) || !args.Uint32(4, "addrHi", &addr_hi) ||
      !args.Words(5, "call", &call, &call_count) || !args.Bytes(6, "path", &path_bytes, &path_capacity) ||
      !args.Words(7, "creds", &creds, &creds_count) || !args.Uint32(8, "effective", &effective) ||
      !args.Bytes(9, "fds", &fd_bytes, &fd_size)) {
    return nullptr;
  }
  if (notif_size < NOTIF_WORDS * 4) return args.RangeError("notif", "is shorter than a struct seccomp_notif");
  if (call_count < kCallWords) return args.RangeError("call", "has fewer than 12 words");
  if (call[kOp] < AS_CALLER_MKNOD || call[kOp] >= AS_CALLER_OPS || call[kOp] == AS_CALLER_SYMLINK ||
      (call[kFlags] & (AS_CALLER_BY_FD | AS_CALLER_EMPTY_PATH)) != 0) {
    return args.RangeError("call", "is not a call of one path");
  }
  if (path_capacity < AS_CALLER_PATH_MAX) return args.RangeError("path", "is shorter than PATH_MAX (4096)");
  if (fd_size < kFastFds * sizeof(int32_t) || reinterpret_cast<uintptr_t>(fd_bytes) % alignof(int32_t) != 0) {
    return args.RangeError("fds", "is not an Int32Array of 2");
  }
  if (const char* problem = CredsProblem(creds, creds_count)) return args.RangeError("creds", problem);
  int32_t* fds = reinterpret_cast<int32_t*>(fd_bytes);
  fds[kFastRoot] = fds[kFastStart] = -1;
  Napi::Env env(raw_env);

  int err = PrepareThread();
  if (err != 0) return ThrowErrno(env, "asCallerFast: unshare(CLONE_FS)", err);

  // getname(): the path first, once; what is resolved is these bytes.
  const uint64_t addr = (static_cast<uint64_t>(addr_hi) << 32) | addr_lo;
  ssize_t length = ReadRemoteString(tid, addr, path_bytes, AS_CALLER_PATH_MAX);
  if (length < 0) return Int(raw_env, static_cast<int32_t>(length));
  if (length == 0) return Int(raw_env, -ENOENT);
  call[kPathLength] = static_cast<uint32_t>(length);
  const char* path = reinterpret_cast<const char*>(path_bytes);

  // The caller's root, and its cwd for a relative path: read before ID_VALID like the path.
  fds[kFastRoot] = OpenCallerDir(tid, "root");
  if (fds[kFastRoot] >= 0 && path[0] != '/') fds[kFastStart] = OpenCallerDir(tid, "cwd");
  for (int i = 0; i < kFastFds; i++) {
    if (fds[i] >= -1) continue;
    const int open_err = -fds[i];
    fds[i] = -1;
    CloseFast(fds);
    if (open_err == ENOENT || open_err == ESRCH) return Int(raw_env, -ENOENT);
    return ThrowErrno(env, i == kFastRoot ? "open(/proc/TID/root)" : "open(/proc/TID/cwd)", open_err);
  }
  // Everything of the caller was read: still the caller's (a reused tid lends nothing)?
  __u64 id;
  memcpy(&id, notif + NOTIF_WORD_ID * 4, sizeof id);
  int valid;
  do {
    valid = ioctl(listener_fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id);
  } while (valid < 0 && errno == EINTR);
  if (valid < 0) {
    const int valid_err = errno;
    CloseFast(fds);
    if (valid_err == ENOENT) return Int(raw_env, -ENOENT);
    return ThrowErrno(env, "ioctl(SECCOMP_IOCTL_NOTIF_ID_VALID)", valid_err);
  }

  as_caller_call c = CallOf(call);
  c.path = path;
  c.path2 = "";
  c.name = "";
  const int start = path[0] == '/' ? AT_FDCWD : fds[kFastStart];
  Outcome out = ActAs(fds[kFastRoot], creds, effective, [&] { return as_caller_perform(&c, start, AT_FDCWD, -1, nullptr); });
  if (!out.restored) CloseFast(fds);
  if (!out.restored || out.setup_err != 0) return Answer(env, "asCallerFast", out);
  if (out.result == EACCES || out.result == EPERM) return Int(raw_env, 1);
  CloseFast(fds);
  return Int(raw_env, -out.result);
}

}  // namespace

void RegisterImpersonate(Napi::Env env, Napi::Object exports) {
  exports.Set("mknodatAsCaller", Napi::Function::New(env, MknodatAsCaller, "mknodatAsCaller"));
  exports.Set("actAsCaller", Napi::Function::New(env, ActAsCaller, "actAsCaller"));
  napi_value as_caller_fast;
  if (napi_create_function(env, "asCallerFast", NAPI_AUTO_LENGTH, AsCallerFast, nullptr, &as_caller_fast) == napi_ok) {
    exports.Set("asCallerFast", Napi::Value(env, as_caller_fast));
  }
}

}  // namespace wasmsup
