// mknodatAsCaller: mknodat(2) on the calling thread with a seccomp caller's root, umask and file-system
// credentials: the fast path of the mknod emulation (src/emulate/as-caller.ts; actAsCaller below is its general form), which otherwise takes two
// process hand-offs through wasmsup-helper (native/helper.c). Every privileged step is the shared
// "as the caller" core's (native/as_caller.h), which the helper uses too; this file is its N-API face
// and what only a thread of Node needs.
//
// Node is multithreaded, so the switch is per thread, never a child process: the core's raw
// setgroups/setfsuid/setfsgid/capset change only the calling thread (glibc's setgroups would change
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
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "addon.h"
#include "args.h"
#include "as_caller.h"
#include "as_caller_ops.h"
#include "creds_layout.h"
#include "errors.h"

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

// Back to the thread's own credentials, umask and root; false if any step was refused.
bool Restore(mode_t saved_umask, bool groups_changed, bool root_changed) {
  bool ok = as_caller_restore(&self.own, groups_changed) == 0;
  umask(saved_umask);
  const char* failed;
  if (root_changed) ok = as_caller_enter_root(self.own_root, &failed) == 0 && fchdir(self.own_cwd) == 0 && ok;
  return ok;
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
  if (creds_count < CREDS_WORDS) return args.RangeError("creds", "has fewer than CREDS_WORDS (96) elements");
  if (creds[CREDS_UMASK] > 0777) return args.RangeError("creds", "has no umask (0..0777)");
  // Never act with fewer groups than the caller has (readCreds counts them all, whatever it held).
  if (creds[CREDS_NGROUPS] > CREDS_NGROUPS_MAX || CREDS_GROUPS + creds[CREDS_NGROUPS] > creds_count) {
    return args.RangeError("creds", "does not hold all of the caller's groups");
  }
  char path[AS_CALLER_PATH_MAX];
  memcpy(path, path_bytes, path_length);
  path[path_length] = '\0';
  if (memchr(path, '\0', path_length) != nullptr) return args.RangeError("path", "contains a NUL byte");

  int err = PrepareThread();
  if (err != 0) return ThrowErrno(info.Env(), "mknodatAsCaller: unshare(CLONE_FS)", err);

  // Root first, while the thread still has CAP_SYS_CHROOT.
  const char* failed = nullptr;
  const bool root_changed = !IsOwnRoot(root_fd);
  int setup_err = root_changed ? as_caller_enter_root(root_fd, &failed) : 0;
  mode_t saved_umask = umask(creds[CREDS_UMASK]);
  const as_caller_identity caller = {creds[CREDS_FSUID], creds[CREDS_FSGID], creds[CREDS_NGROUPS],
                                     reinterpret_cast<const gid_t*>(creds + CREDS_GROUPS), 1u << CAP_MKNOD};
  const bool groups_changed = setup_err == 0 && !as_caller_own_groups(&self.own, caller.groups, caller.ngroups);
  if (setup_err == 0) setup_err = as_caller_switch(&self.own, &caller, groups_changed, &failed);
  int result = 0;
  if (setup_err == 0) {
    // A relative path starts at the caller's cwd or dirfd; an absolute one at the root set above.
    // Looked up once and never through a magic link, whose /proc/self would be this process.
    result = as_caller_mknodat(path[0] == '/' ? AT_FDCWD : start_fd, path, mode, dev, nullptr);
  }
  bool restored = Restore(saved_umask, groups_changed, root_changed);
  // Any fsuid change makes the kernel mark the whole process non-dumpable (commit_creds), meant for a
  // process that gives up privilege for good; this thread takes its own back, so the flag is too.
  if (self.dumpable == 1) prctl(PR_SET_DUMPABLE, 1);
  if (!restored) {
    Napi::Error error = Napi::Error::New(info.Env(), "mknodatAsCaller: the kernel refused to restore this thread's credentials or root");
    error.Value().Set("code", "EWASMSUP_THREAD_TAINTED");
    error.ThrowAsJavaScriptException();
    return Napi::Value();
  }
  if (setup_err != 0) return ThrowErrno(info.Env(), failed, setup_err);
  return Napi::Number::New(info.Env(), result);
}

// Index of each word of actAsCaller's `call` argument (src/emulate/as-caller.ts, CallWord).
enum CallWord {
  kOp, kFlags, kRenameFlags, kMode, kDev, kUid, kGid, kXattrFlags, kPathLength, kPath2Length, kNameLength, kValueLength,
  kCallWords
};

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
  if (creds_count < CREDS_WORDS) return args.RangeError("creds", "has fewer than CREDS_WORDS (96) elements");
  if (creds[CREDS_UMASK] > 0777) return args.RangeError("creds", "has no umask (0..0777)");
  if (creds[CREDS_NGROUPS] > CREDS_NGROUPS_MAX || CREDS_GROUPS + creds[CREDS_NGROUPS] > creds_count) {
    return args.RangeError("creds", "does not hold all of the caller's groups");
  }
  static thread_local char path[AS_CALLER_PATH_MAX], path2[AS_CALLER_PATH_MAX], name[256];
  if (!CopyText(bytes[0], lengths[0], path) || !CopyText(bytes[1], lengths[1], path2) || !CopyText(bytes[2], lengths[2], name)) {
    return args.RangeError("path", "contains a NUL byte");
  }
  as_caller_call c = {};
  c.op = call[kOp];
  c.flags = call[kFlags];
  c.rename_flags = call[kRenameFlags];
  c.mode = call[kMode];
  c.dev = call[kDev];
  c.uid = call[kUid];
  c.gid = call[kGid];
  c.xattr_flags = call[kXattrFlags];
  c.path = lengths[0] > 0 ? path : nullptr;
  c.path2 = path2;
  c.name = name;
  c.value = bytes[3];
  c.value_length = lengths[3];

  int err = PrepareThread();
  if (err != 0) return ThrowErrno(info.Env(), "actAsCaller: unshare(CLONE_FS)", err);
  const char* failed = nullptr;
  const bool root_changed = !IsOwnRoot(root_fd);
  int setup_err = root_changed ? as_caller_enter_root(root_fd, &failed) : 0;
  mode_t saved_umask = umask(creds[CREDS_UMASK]);
  const as_caller_identity caller = {creds[CREDS_FSUID], creds[CREDS_FSGID], creds[CREDS_NGROUPS],
                                     reinterpret_cast<const gid_t*>(creds + CREDS_GROUPS), effective};
  const bool groups_changed = setup_err == 0 && !as_caller_own_groups(&self.own, caller.groups, caller.ngroups);
  if (setup_err == 0) setup_err = as_caller_switch(&self.own, &caller, groups_changed, &failed);
  int result = 0;
  if (setup_err == 0) {
    // A relative path starts at the caller's cwd or dirfd; an absolute one at the root set above.
    const int start = c.path != nullptr && c.path[0] == '/' ? AT_FDCWD : start_fd;
    const int start2 = path2[0] == '/' ? AT_FDCWD : start2_fd;
    result = as_caller_perform(&c, start, start2, target_fd, nullptr);
  }
  bool restored = Restore(saved_umask, groups_changed, root_changed);
  if (self.dumpable == 1) prctl(PR_SET_DUMPABLE, 1);
  if (!restored) {
    Napi::Error error = Napi::Error::New(info.Env(), "actAsCaller: the kernel refused to restore this thread's credentials or root");
    error.Value().Set("code", "EWASMSUP_THREAD_TAINTED");
    error.ThrowAsJavaScriptException();
    return Napi::Value();
  }
  if (setup_err != 0) return ThrowErrno(info.Env(), failed, setup_err);
  return Napi::Number::New(info.Env(), result);
}

}  // namespace

void RegisterImpersonate(Napi::Env env, Napi::Object exports) {
  exports.Set("mknodatAsCaller", Napi::Function::New(env, MknodatAsCaller, "mknodatAsCaller"));
  exports.Set("actAsCaller", Napi::Function::New(env, ActAsCaller, "actAsCaller"));
}

}  // namespace wasmsup
