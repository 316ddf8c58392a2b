// mknodatAsCaller: mknodat(2) on the calling thread with a seccomp caller's root, umask and file-system
// credentials: the fast path of the mknod emulation (src/emulate/mknod.ts), which otherwise takes two
// process hand-offs through wasmsup-helper (native/helper.c).
//
// Per-thread raw syscalls, never a child process and never glibc's wrappers: Linux keeps credentials
// per thread, and the raw setgroups/setfsuid/setfsgid/capset change only the calling thread, while
// glibc's setgroups (and set*id) would broadcast the change to every thread of Node. Root, cwd and
// umask live in the fs_struct that threads share until one calls unshare(CLONE_FS); the first call on
// a thread does that, so this thread alone can chroot into the caller's root. The main thread is
// refused: unsharing its fs_struct would cut it off from the cwd libuv's thread pool resolves
// relative paths with (process.chdir()).
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
// asking for S_ISGID|S_IXGRP goes the exact way (src/emulate/mknod.ts). Without CAP_DAC_OVERRIDE or
// CAP_DAC_READ_SEARCH the walk can only be stricter than the caller's own, whose capabilities in its
// namespace may let it through: the caller of this function retries EACCES and EPERM the exact (slow)
// way. Any other errno comes from a point the caller would have reached the same way. The path is
// looked up as native/caller_path.h says: once, and a /proc magic link is ELOOP, since this thread's
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
#include "caller_path.h"
#include "errors.h"

namespace wasmsup {

namespace {

// Layout of readCreds' output (docs/native-api.md; native/proc.cc).
constexpr size_t kCredsWords = 96;
constexpr size_t kFsUid = 3, kFsGid = 7, kUmask = 8, kNgroups = 19, kGroups = 32;
// A caller may hold as many groups as the kernel allows (NGROUPS_MAX); the thread's own, which it
// must be given back, are the supervisor's: a few at most (more and the fast path is not used).
constexpr size_t kMaxGroups = 65536;
constexpr size_t kMaxOwnGroups = 64;
static_assert(sizeof(gid_t) == sizeof(uint32_t), "creds words are passed to setgroups as they are");
constexpr size_t kPathMax = 4096;

struct ThreadState {
  bool ready = false;
  int own_root = -1;
  int own_cwd = -1;
  struct statx own_root_id;
  int dumpable = 0;
  uid_t fsuid = 0;
  gid_t fsgid = 0;
  int ngroups = 0;
  gid_t groups[kMaxOwnGroups];
  __user_cap_data_struct caps[2];
  // A data-plane worker ends with its container (the OCI agent): its fds go with the thread.
  ~ThreadState() {
    if (own_root >= 0) close(own_root);
    if (own_cwd >= 0) close(own_cwd);
  }
};

thread_local ThreadState self;

int SetCaps(const __user_cap_data_struct caps[2]) {
  __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {caps[0], caps[1]};
  return syscall(SYS_capset, &header, data) < 0 ? errno : 0;
}

// Unshares this thread's fs_struct and remembers what it must return to. 0 or an errno.
int PrepareThread() {
  if (self.ready) return 0;
  if (syscall(SYS_gettid) == getpid()) return EINVAL;
  if (unshare(CLONE_FS) < 0) return errno;
  self.own_root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  self.own_cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  int ngroups = static_cast<int>(syscall(SYS_getgroups, kMaxOwnGroups, self.groups));
  if (self.own_root < 0 || self.own_cwd < 0 || ngroups < 0 || syscall(SYS_capget, &header, self.caps) < 0) {
    int err = errno;
    if (self.own_root >= 0) close(self.own_root);
    if (self.own_cwd >= 0) close(self.own_cwd);
    self.own_root = self.own_cwd = -1;
    return err;
  }
  if (statx(self.own_root, "", AT_EMPTY_PATH, STATX_INO | STATX_MNT_ID, &self.own_root_id) < 0 ||
      !(self.own_root_id.stx_mask & STATX_MNT_ID)) {
    self.own_root_id.stx_mask = 0;  // never "the same root": every call chroots
  }
  self.ngroups = ngroups;
  self.dumpable = prctl(PR_GET_DUMPABLE);
  // setfsuid returns the previous value whatever it is given; -1 is never a valid id, so nothing changes.
  self.fsuid = static_cast<uid_t>(syscall(SYS_setfsuid, -1));
  self.fsgid = static_cast<gid_t>(syscall(SYS_setfsgid, -1));
  self.ready = true;
  return 0;
}

// True when fd names the thread's own root (same mount and inode): the chroot there and back, five
// syscalls, can be skipped. Callers outside a container (`wasmsup run`) share the supervisor's root.
bool IsOwnRoot(int fd) {
  struct statx id;
  if (!(self.own_root_id.stx_mask & STATX_MNT_ID)) return false;
  if (statx(fd, "", AT_EMPTY_PATH, STATX_INO | STATX_MNT_ID, &id) < 0 || !(id.stx_mask & STATX_MNT_ID)) return false;
  return id.stx_mnt_id == self.own_root_id.stx_mnt_id && id.stx_ino == self.own_root_id.stx_ino &&
         id.stx_dev_major == self.own_root_id.stx_dev_major && id.stx_dev_minor == self.own_root_id.stx_dev_minor;
}

bool SameGroups(const uint32_t* groups, uint32_t ngroups) {
  if (static_cast<int>(ngroups) != self.ngroups) return false;
  for (uint32_t i = 0; i < ngroups; i++) {
    if (groups[i] != self.groups[i]) return false;
  }
  return true;
}

// Back to the thread's own credentials, umask and root; false if any step was refused. Each
// credential change costs the kernel a copy of the whole cred (2 µs here), so what the switch
// left alone is not redone.
bool Restore(mode_t saved_umask, bool groups_changed, bool root_changed) {
  bool ok = SetCaps(self.caps) == 0;  // first: setgroups needs CAP_SETGID
  if (groups_changed) ok = syscall(SYS_setgroups, self.ngroups, self.groups) == 0 && ok;
  syscall(SYS_setfsgid, self.fsgid);
  syscall(SYS_setfsuid, self.fsuid);
  ok = ok && static_cast<gid_t>(syscall(SYS_setfsgid, -1)) == self.fsgid &&
       static_cast<uid_t>(syscall(SYS_setfsuid, -1)) == self.fsuid;
  // setfsuid() back to 0 raised the file-system capabilities the thread permits itself; unless its
  // effective set is exactly its permitted one, put exactly the saved sets back.
  if (self.caps[0].effective != self.caps[0].permitted || self.caps[1].effective != self.caps[1].permitted) {
    ok = SetCaps(self.caps) == 0 && ok;
  }
  umask(saved_umask);
  if (root_changed) ok = fchdir(self.own_root) == 0 && chroot(".") == 0 && fchdir(self.own_cwd) == 0 && ok;
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
  if (path_length == 0 || path_length >= kPathMax) return args.RangeError("pathLength", "must be 1..4095");
  if (creds_count < kCredsWords) return args.RangeError("creds", "has fewer than CREDS_WORDS (96) elements");
  if (creds[kUmask] > 0777) return args.RangeError("creds", "has no umask (0..0777)");
  // Never act with fewer groups than the caller has (readCreds counts them all, whatever it held).
  if (creds[kNgroups] > kMaxGroups || kGroups + creds[kNgroups] > creds_count) {
    return args.RangeError("creds", "does not hold all of the caller's groups");
  }
  char path[kPathMax];
  memcpy(path, path_bytes, path_length);
  path[path_length] = '\0';
  if (memchr(path, '\0', path_length) != nullptr) return args.RangeError("path", "contains a NUL byte");

  int err = PrepareThread();
  if (err != 0) return ThrowErrno(info.Env(), "mknodatAsCaller: unshare(CLONE_FS)", err);

  // Root first, while the thread still has CAP_SYS_CHROOT.
  const char* failed = nullptr;
  int setup_err = 0;
  const bool root_changed = !IsOwnRoot(root_fd);
  if (root_changed) {
    if (fchdir(root_fd) < 0) {
      failed = "fchdir(root)";
    } else if (chroot(".") < 0) {
      failed = "chroot";
    }
    if (failed != nullptr) setup_err = errno;
  }
  mode_t saved_umask = umask(creds[kUmask]);
  const bool groups_changed = failed == nullptr && !SameGroups(creds + kGroups, creds[kNgroups]);
  if (groups_changed) {
    if (syscall(SYS_setgroups, creds[kNgroups], reinterpret_cast<const gid_t*>(creds + kGroups)) < 0) {
      failed = "setgroups";
      setup_err = errno;
    }
  }
  if (failed == nullptr) {
    syscall(SYS_setfsgid, creds[kFsGid]);
    syscall(SYS_setfsuid, creds[kFsUid]);
    if (static_cast<uint32_t>(syscall(SYS_setfsgid, -1)) != creds[kFsGid] ||
        static_cast<uint32_t>(syscall(SYS_setfsuid, -1)) != creds[kFsUid]) {
      failed = "setfsuid";
      setup_err = EPERM;
    }
  }
  if (failed == nullptr) {
    __user_cap_data_struct create[2] = {self.caps[0], self.caps[1]};
    create[0].effective = 1u << CAP_MKNOD;
    create[1].effective = 0;
    create[0].inheritable = create[1].inheritable = 0;
    if ((setup_err = SetCaps(create)) != 0) failed = "capset";
  }
  int result = 0;
  if (failed == nullptr) {
    // A relative path starts at the caller's cwd or dirfd; an absolute one at the root set above.
    // Looked up once and never through a magic link, whose /proc/self would be this process.
    result = caller_mknodat(path[0] == '/' ? AT_FDCWD : start_fd, path, mode, dev, nullptr);
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
  if (failed != nullptr) return ThrowErrno(info.Env(), failed, setup_err);
  return Napi::Number::New(info.Env(), result);
}

}  // namespace

void RegisterImpersonate(Napi::Env env, Napi::Object exports) {
  exports.Set("mknodatAsCaller", Napi::Function::New(env, MknodatAsCaller, "mknodatAsCaller"));
}

}  // namespace wasmsup
