// Whether a file has an xattr, as the supervisor itself sees it: the GETXATTR primitive's cheap
// first look (src/emulate/getxattr.ts), which lets the kernel answer a call outright when none of the
// managed names is on the file. Plain syscalls on the calling thread with its own credentials
// (a data-plane thread's: CAP_SYS_ADMIN of the initial namespace, which trusted.* needs).
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>

#include "addon.h"
#include "args.h"
#include "errors.h"

namespace wasmsup {

namespace {

// fdXattrSize(fd, name, nameLength): the size of xattr `name` of the file `fd` names (any fd, O_PATH
// too: through /proc/self/fd/N, which reaches the inode itself, a symlink's own for an O_NOFOLLOW
// fd); throws the errno (ENODATA: it has none).
Napi::Value FdXattrSize(const Napi::CallbackInfo& info) {
  Args args(info, "fdXattrSize");
  int32_t fd;
  uint8_t* name;
  size_t capacity;
  uint32_t length;
  if (!args.Int32(0, "fd", &fd) || !args.Bytes(1, "name", &name, &capacity) || !args.Uint32(2, "nameLength", &length)) {
    return Napi::Value();
  }
  char copy[256];
  if (length == 0 || length > capacity || length >= sizeof copy || memchr(name, '\0', length) != nullptr) {
    return ThrowErrno(info.Env(), "getxattr", EINVAL);
  }
  memcpy(copy, name, length);
  copy[length] = '\0';
  char link[48];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = getxattr(link, copy, nullptr, 0);
  if (n < 0) return ThrowErrno(info.Env(), "getxattr", errno);
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

}  // namespace

void RegisterXattr(Napi::Env env, Napi::Object exports) {
  exports.Set("fdXattrSize", Napi::Function::New(env, FdXattrSize, "fdXattrSize"));
}

}  // namespace wasmsup
