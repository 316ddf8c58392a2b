// Reading the target's memory: process_vm_readv first, /proc/PID/mem when that is unavailable or
// refused (ENOSYS on kernels built without it, EPERM under some LSMs that still allow /proc/PID/mem).
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "addon.h"
#include "args.h"
#include "errors.h"
#include "memory.h"

namespace wasmsup {

namespace {

size_t PageSize() {
  static const size_t page_size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page_size;
}

ssize_t ReadProcMem(pid_t pid, uint64_t addr, uint8_t* dst, size_t len) {
  // pread's offset is signed: nothing above 2^63 is user memory anyway.
  if (addr > static_cast<uint64_t>(INT64_MAX)) {
    errno = EFAULT;
    return -1;
  }
  char path[32];
  snprintf(path, sizeof path, "/proc/%d/mem", pid);
  int fd;
  do {
    fd = open(path, O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    if (errno == ENOENT) errno = ESRCH;
    return -1;
  }
  size_t done = 0;
  int err = 0;
  while (done < len) {
    ssize_t n = pread(fd, dst + done, len - done, static_cast<off_t>(addr + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : 0;
      break;
    }
    done += static_cast<size_t>(n);
  }
  close(fd);
  if (done > 0 || len == 0) return static_cast<ssize_t>(done);
  // /proc/PID/mem says EIO for an unmapped address; callers are promised EFAULT like the kernel's own.
  errno = (err == 0 || err == EIO || err == EINVAL) ? EFAULT : err;
  return -1;
}

// Up to len bytes at addr; short at an unmapped page; -1 with errno (EFAULT: nothing readable at addr).
ssize_t ReadRemote(pid_t pid, uint64_t addr, uint8_t* dst, size_t len) {
  if (len == 0) return 0;
  if (addr + len < addr) len = static_cast<size_t>(0 - addr);  // stop at the top of the address space
  struct iovec local = {dst, len};
  struct iovec remote = {reinterpret_cast<void*>(static_cast<uintptr_t>(addr)), len};
  ssize_t n;
  do {
    n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == ENOSYS || errno == EPERM)) return ReadProcMem(pid, addr, dst, len);
  return n;
}

}  // namespace

ssize_t ReadRemoteString(pid_t pid, uint64_t addr, uint8_t* dst, size_t max) {
  // Page by page, so a string that ends just before an unmapped page is still read whole.
  size_t total = 0;
  while (total < max) {
    uint64_t at = addr + total;
    if (at < addr) return -EFAULT;
    size_t to_page_end = PageSize() - static_cast<size_t>(at % PageSize());
    size_t chunk = max - total < to_page_end ? max - total : to_page_end;
    ssize_t n = ReadRemote(pid, at, dst + total, chunk);
    if (n < 0) return -errno;
    const void* nul = memchr(dst + total, 0, static_cast<size_t>(n));
    if (nul != nullptr) return static_cast<const uint8_t*>(nul) - dst;
    total += static_cast<size_t>(n);
    if (static_cast<size_t>(n) < chunk) return -EFAULT;
  }
  return -ENAMETOOLONG;
}

namespace {

bool AddressArgs(const Args& args, int32_t* pid, uint64_t* addr) {
  uint32_t lo, hi;
  if (!args.Pid(0, "pid", pid) || !args.Uint32(1, "addrLo", &lo) || !args.Uint32(2, "addrHi", &hi)) return false;
  *addr = (static_cast<uint64_t>(hi) << 32) | lo;
  return true;
}

bool DestinationArgs(const Args& args, uint8_t** dst, size_t* len, const char* len_name) {
  size_t capacity;
  uint32_t requested;
  if (!args.Bytes(3, "dst", dst, &capacity) || !args.Uint32(4, len_name, &requested)) return false;
  if (requested > capacity) {
    args.RangeError(len_name, "is larger than dst");
    return false;
  }
  *len = requested;
  return true;
}

Napi::Value ReadMemory(const Napi::CallbackInfo& info) {
  Args args(info, "readMemory");
  int32_t pid;
  uint64_t addr;
  uint8_t* dst;
  size_t len;
  if (!AddressArgs(args, &pid, &addr) || !DestinationArgs(args, &dst, &len, "len")) return Napi::Value();
  ssize_t n = ReadRemote(pid, addr, dst, len);
  if (n < 0) return ThrowErrno(info.Env(), "process_vm_readv", errno);
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

Napi::Value ReadString(const Napi::CallbackInfo& info) {
  Args args(info, "readString");
  int32_t pid;
  uint64_t addr;
  uint8_t* dst;
  size_t max;
  if (!AddressArgs(args, &pid, &addr) || !DestinationArgs(args, &dst, &max, "max")) return Napi::Value();
  ssize_t length = ReadRemoteString(pid, addr, dst, max);
  if (length == -ENAMETOOLONG) return ThrowErrno(info.Env(), "readString", ENAMETOOLONG);
  if (length < 0) return ThrowErrno(info.Env(), "process_vm_readv", static_cast<int>(-length));
  return Napi::Number::New(info.Env(), static_cast<double>(length));
}

// writeMemory(pid, addrLo, addrHi, src, len) -> bytes written. process_vm_writev only, deliberately
// without the /proc/PID/mem fallback of the reads: /proc/PID/mem writes with FOLL_FORCE, i.e. also into
// read-only mappings (a caller's code), where the kernel's own copy_to_user would fail with EFAULT.
// Short when the range runs into an unmapped or read-only page; nothing writable at addr -> EFAULT.
Napi::Value WriteMemory(const Napi::CallbackInfo& info) {
  Args args(info, "writeMemory");
  int32_t pid;
  uint64_t addr;
  uint8_t* src;
  size_t len;
  size_t capacity;
  uint32_t requested;
  if (!AddressArgs(args, &pid, &addr) || !args.Bytes(3, "src", &src, &capacity) || !args.Uint32(4, "len", &requested)) {
    return Napi::Value();
  }
  if (requested > capacity) return args.RangeError("len", "is larger than src");
  len = requested;
  if (len == 0) return Napi::Number::New(info.Env(), 0);
  if (addr + len < addr) len = static_cast<size_t>(0 - addr);
  struct iovec local = {src, len};
  struct iovec remote = {reinterpret_cast<void*>(static_cast<uintptr_t>(addr)), len};
  ssize_t n;
  do {
    n = process_vm_writev(pid, &local, 1, &remote, 1, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ThrowErrno(info.Env(), "process_vm_writev", errno);
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

}  // namespace

void RegisterMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("readMemory", Napi::Function::New(env, ReadMemory, "readMemory"));
  exports.Set("readString", Napi::Function::New(env, ReadString, "readString"));
  exports.Set("writeMemory", Napi::Function::New(env, WriteMemory, "writeMemory"));
}

}  // namespace wasmsup
