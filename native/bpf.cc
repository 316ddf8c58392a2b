// bpf(2) for the BPF emulation primitive (src/emulate/bpf.ts): one function per command the host
// performs on a caller's behalf. The caller lays out `union bpf_attr` itself in a Uint8Array (as the
// seccomp ioctls take their structs); for BPF_PROG_LOAD the shim only puts the addresses of the
// buffers it was given into the pointer fields, so no pointer ever comes from JavaScript. Offsets are
// those of the uapi header, written out because the build headers may be older than the kernel
// (log_true_size is 6.4+).
//
// The load is verified with the least the kernel accepts for a BPF_PROG_TYPE_CGROUP_DEVICE program:
// the calling thread's effective capabilities are only CAP_BPF and CAP_NET_ADMIN for the length of
// the call (raw capset, which changes only this thread; its permitted set is never touched, so
// putting its own set back cannot be refused). The verifier then treats the program as a CAP_BPF
// loader's without CAP_PERFMON or CAP_SYS_ADMIN: no bpf_probe_read_kernel, bpf_get_current_task,
// trace_printk or pointer leaks, whatever the supervisor itself may do.
#include <errno.h>
#include <linux/capability.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "addon.h"
#include "args.h"
#include "errors.h"

namespace wasmsup {

namespace {

constexpr int kBpfProgLoad = 5;
constexpr int kBpfProgAttach = 8;
constexpr int kBpfProgDetach = 9;
// The kernel refuses attrs larger than a page (E2BIG); ours never need more.
constexpr size_t kMaxAttr = 4096;
// BPF_PROG_LOAD fields (union bpf_attr).
constexpr size_t kInsnCnt = 4, kInsns = 8, kLicense = 16, kLogSize = 28, kLogBuf = 32;
constexpr size_t kMinLoadAttr = kLogBuf + 8;
constexpr size_t kInsnBytes = 8;  // sizeof(struct bpf_insn)

void PutU32(uint8_t* p, uint32_t v) { memcpy(p, &v, 4); }
void PutU64(uint8_t* p, uint64_t v) { memcpy(p, &v, 8); }

// CAP_BPF (39) and CAP_PERFMON (38) are past the header of older build hosts.
constexpr int kCapBpf = 39;
constexpr uint32_t kLoadCaps[2] = {1u << CAP_NET_ADMIN, 1u << (kCapBpf - 32)};

int SetCaps(const __user_cap_data_struct caps[2]) {
  __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {caps[0], caps[1]};
  return syscall(SYS_capset, &header, data) < 0 ? errno : 0;
}

long Bpf(int cmd, void* attr, size_t size) {
  long r;
  do {
    r = syscall(__NR_bpf, cmd, attr, size);
  } while (r < 0 && errno == EINTR);
  return r;
}

// bpfProgLoad(attr, insns, license, log | null) -> fd. The attr's insn_cnt, insns, license, log_size
// and log_buf are set here from the buffers; everything else is the caller's. The kernel writes the
// verifier log into `log` and, where it knows the field, log_true_size into the attr, which is copied
// back into `attr` whether the load succeeded or not.
Napi::Value BpfProgLoad(const Napi::CallbackInfo& info) {
  Args args(info, "bpfProgLoad");
  uint8_t *attr_js, *insns, *license, *log = nullptr;
  size_t attr_len, insns_len, license_len, log_len = 0;
  if (!args.Bytes(0, "attr", &attr_js, &attr_len) || !args.Bytes(1, "insns", &insns, &insns_len) ||
      !args.Bytes(2, "license", &license, &license_len)) {
    return Napi::Value();
  }
  if (args.Has(3) && !info[3].IsNull() && !args.Bytes(3, "log", &log, &log_len)) return Napi::Value();
  if (attr_len < kMinLoadAttr || attr_len > kMaxAttr) return args.RangeError("attr", "must be 40..4096 bytes");
  if (insns_len == 0 || insns_len % kInsnBytes != 0 || insns_len / kInsnBytes > UINT32_MAX) {
    return args.RangeError("insns", "must be a non-empty whole number of 8-byte instructions");
  }
  if (license_len == 0 || memchr(license, 0, license_len) == nullptr) {
    return args.RangeError("license", "must hold a NUL-terminated string");
  }
  if (log_len > UINT32_MAX) return args.RangeError("log", "is larger than 4 GiB");
  alignas(8) uint8_t attr[kMaxAttr];
  memcpy(attr, attr_js, attr_len);
  PutU32(attr + kInsnCnt, static_cast<uint32_t>(insns_len / kInsnBytes));
  PutU64(attr + kInsns, reinterpret_cast<uintptr_t>(insns));
  PutU64(attr + kLicense, reinterpret_cast<uintptr_t>(license));
  PutU32(attr + kLogSize, static_cast<uint32_t>(log_len));
  PutU64(attr + kLogBuf, log_len > 0 ? reinterpret_cast<uintptr_t>(log) : 0);
  __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct own[2];
  if (syscall(SYS_capget, &header, own) < 0) return ThrowErrno(info.Env(), "capget", errno);
  __user_cap_data_struct least[2] = {own[0], own[1]};
  least[0].effective = kLoadCaps[0] & own[0].permitted;
  least[1].effective = kLoadCaps[1] & own[1].permitted;
  int cap_err = SetCaps(least);
  if (cap_err != 0) return ThrowErrno(info.Env(), "capset", cap_err);
  long fd = Bpf(kBpfProgLoad, attr, attr_len);
  int err = errno;
  if (SetCaps(own) != 0) {
    if (fd >= 0) close(static_cast<int>(fd));
    Napi::Error error = Napi::Error::New(info.Env(), "bpfProgLoad: the kernel refused to restore this thread's capabilities");
    error.Value().Set("code", "EWASMSUP_THREAD_TAINTED");
    error.ThrowAsJavaScriptException();
    return Napi::Value();
  }
  // Back to JavaScript without our pointers: only what the kernel wrote is of interest.
  PutU64(attr + kInsns, 0);
  PutU64(attr + kLicense, 0);
  PutU64(attr + kLogBuf, 0);
  memcpy(attr_js, attr, attr_len);
  if (fd < 0) return ThrowErrno(info.Env(), "bpf(BPF_PROG_LOAD)", err);
  return Napi::Number::New(info.Env(), static_cast<double>(fd));
}

// Attach and detach take only fds and numbers: the attr goes to the kernel as it is.
Napi::Value AttrOnly(const Napi::CallbackInfo& info, const char* name, const char* syscall_name, int cmd) {
  Args args(info, name);
  uint8_t* attr_js;
  size_t attr_len;
  if (!args.Bytes(0, "attr", &attr_js, &attr_len)) return Napi::Value();
  if (attr_len < 12 || attr_len > kMaxAttr) return args.RangeError("attr", "must be 12..4096 bytes");
  alignas(8) uint8_t attr[kMaxAttr];
  memcpy(attr, attr_js, attr_len);
  if (Bpf(cmd, attr, attr_len) < 0) return ThrowErrno(info.Env(), syscall_name, errno);
  return info.Env().Undefined();
}

Napi::Value BpfProgAttach(const Napi::CallbackInfo& info) {
  return AttrOnly(info, "bpfProgAttach", "bpf(BPF_PROG_ATTACH)", kBpfProgAttach);
}

Napi::Value BpfProgDetach(const Napi::CallbackInfo& info) {
  return AttrOnly(info, "bpfProgDetach", "bpf(BPF_PROG_DETACH)", kBpfProgDetach);
}

}  // namespace

void RegisterBpf(Napi::Env env, Napi::Object exports) {
  exports.Set("bpfProgLoad", Napi::Function::New(env, BpfProgLoad, "bpfProgLoad"));
  exports.Set("bpfProgAttach", Napi::Function::New(env, BpfProgAttach, "bpfProgAttach"));
  exports.Set("bpfProgDetach", Napi::Function::New(env, BpfProgDetach, "bpfProgDetach"));
}

}  // namespace wasmsup
